/** helm's major version remembered per binary, so that a plan's hand-off check need not run `helm version` first. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helmMajorCache } from '../../src/adapters/helm-version-cache.js';

describe('helm-version-cache', () => {
  let dir: string;
  const quiet = { debug: () => undefined };
  const setting = (name: string) => (name === 'HELM_CACHE_HOME' ? Promise.resolve(join(dir, 'cache')) : Promise.reject(new Error(name)));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hsr-helm-version-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('remembers the major of one binary, and forgets it when the binary changes in place', async () => {
    const bin = join(dir, 'helm');
    writeFileSync(bin, 'v3');
    assert.equal(await helmMajorCache(bin, setting, quiet)!.get(), undefined);
    await helmMajorCache(bin, setting, quiet)!.set(3);
    assert.equal(await helmMajorCache(bin, setting, quiet)!.get(), 3);
    writeFileSync(bin, 'v4 is longer');
    utimesSync(bin, new Date(), new Date(Date.now() + 5000));
    assert.equal(await helmMajorCache(bin, setting, quiet)!.get(), undefined, 'a replaced binary is asked again');
  });

  it('a binary named without a path (found on PATH) and a missing one are not remembered', async () => {
    assert.equal(helmMajorCache('helm', setting, quiet), undefined);
    const missing = helmMajorCache(join(dir, 'nope'), setting, quiet)!;
    await missing.set(4);
    assert.equal(await missing.get(), undefined);
  });
});
