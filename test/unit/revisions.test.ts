/**
 * `revisions` reads each version's contract from the repository index helm keeps when the entry's
 * annotations parse there, and from the version's own Chart.yaml otherwise (or always, with
 * fromPackages). Real files in a temporary HELM_* layout; the packages cannot be downloaded (their
 * URLs refuse connections), so a package read ends at helm, a double that answers per version what
 * the package's Chart.yaml says and counts its calls.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPublishedCharts } from '../../src/adapters/published-charts.js';
import type { ChartInfo } from '../../src/core/ports.js';
import { revisions } from '../../src/core/revisions.js';

const tracks = (core: string) => `- name: core\n  tool: golang-migrate\n  revision: "${core}"\n`;
/** An index entry's annotations as `helm repo index` writes them (a block scalar per value). */
const entry = (version: string, annotations: Record<string, string>) =>
  `  - name: kagent\n    version: ${version}\n    appVersion: "${version}"\n    digest: ${version.replace(/\D/g, '').padStart(64, 'a')}\n    urls: [http://127.0.0.1:9/kagent-${version}.tgz]\n` +
  (Object.keys(annotations).length === 0
    ? ''
    : `    annotations:\n${Object.entries(annotations).map(([k, v]) => `      ${k}: |\n${v.trimEnd().split('\n').map((l) => `        ${l}`).join('\n')}\n`).join('')}`);

describe('revisions: contracts from the repository index, packages where the index cannot say', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let shown: string[];
  /** What each package's Chart.yaml says (the truth the index copied, or should have). */
  const packages: Record<string, Record<string, string>> = {
    '0.9.0': { 'schema-rollback.io/tracks': tracks('13') },
    '0.8.0': { 'schema-rollback.io/tracks': tracks('8') },
    '0.2.0': { 'schema-rollback.io/tracks': tracks('2') },
    '0.1.0': {},
  };
  const log = { debug: () => undefined };
  const helm = {
    async run(): Promise<string> {
      throw new Error('no helm env: the HELM_* variables are set');
    },
    async showChart(_ref: string, version: string): Promise<ChartInfo> {
      shown.push(version);
      return { name: 'kagent', version, annotations: packages[version]! };
    },
    async findChartRef(): Promise<string> {
      throw new Error('not used');
    },
    async chartVersions(): Promise<string[]> {
      throw new Error('not used');
    },
  };
  const lookup = (fromPackages?: boolean) =>
    revisions({ published: createPublishedCharts({ helm, env, log, timeoutMs: 2_000 }), log }, { chart: 'fixtures/kagent', fromPackages });
  const rows = (report: Awaited<ReturnType<typeof lookup>>) => report.versions.map((v) => [v.version, v.contract, v.tracks['core']?.revision, v.source]);

  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'hsr-revisions-'));
    env = { HELM_REPOSITORY_CACHE: path.join(home, 'repository'), HELM_REPOSITORY_CONFIG: path.join(home, 'repositories.yaml'), HELM_CACHE_HOME: path.join(home, 'cache') };
    mkdirSync(env['HELM_REPOSITORY_CACHE']!, { recursive: true });
    shown = [];
    writeFileSync(
      path.join(env['HELM_REPOSITORY_CACHE']!, 'fixtures-index.yaml'),
      'apiVersion: v1\nentries:\n  kagent:\n' +
        entry('0.9.0', packages['0.9.0']!) +
        entry('0.8.0', packages['0.8.0']!) +
        // A hand-edited index: its copy no longer parses; the package's Chart.yaml decides.
        entry('0.2.0', { 'schema-rollback.io/tracks': '- name: core\n  tool: flyway\n  revision: "2"\n' }) +
        // No annotations in the entry: no contract, or an index server that strips them; the package decides.
        entry('0.1.0', {}),
    );
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('reads a contract that parses from the index entry, without fetching its package', async () => {
    const report = await lookup();
    assert.deepEqual(rows(report), [
      ['0.9.0', 'ok', '13', 'index'],
      ['0.8.0', 'ok', '8', 'index'],
      ['0.2.0', 'ok', '2', 'package'],
      ['0.1.0', 'none', undefined, 'package'],
    ]);
    assert.deepEqual(shown.sort(), ['0.1.0', '0.2.0']);
    // Only what was read from a package is kept by digest (a plan trusts those files as the package's Chart.yaml).
    assert.equal(readdirSync(path.join(env['HELM_CACHE_HOME']!, 'schema-rollback', 'charts')).length, 2);
  });

  it('a repeat asks nothing: index entries from the slimmed index, packages from their digests', async () => {
    await lookup();
    shown = [];
    const again = await lookup();
    assert.deepEqual(shown, []);
    assert.deepEqual(again.versions.map((v) => v.cached), [true, true, true, true]);
    assert.deepEqual(rows(again).map((r) => r[2]), ['13', '8', '2', undefined]);
  });

  it('fromPackages reads every version from its package, never the index', async () => {
    const report = await lookup(true);
    assert.deepEqual(rows(report).map((r) => r[3]), ['package', 'package', 'package', 'package']);
    assert.deepEqual(shown.sort(), ['0.1.0', '0.2.0', '0.8.0', '0.9.0']);
  });

  it('an index the plugin slimmed before it kept annotations is not read as one without them', async () => {
    // The slimmed index of an older plugin: same index text, entries without annotations.
    const { createHash } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(path.join(env['HELM_REPOSITORY_CACHE']!, 'fixtures-index.yaml'), 'utf8');
    const old = path.join(env['HELM_CACHE_HOME']!, 'schema-rollback', 'index');
    mkdirSync(old, { recursive: true });
    writeFileSync(path.join(old, `${createHash('sha256').update(text).digest('hex')}.json`), JSON.stringify({ kagent: [{ version: '0.9.0', digest: 'x', urls: [] }] }));
    assert.deepEqual(rows(await lookup()).map((r) => r[0]), ['0.9.0', '0.8.0', '0.2.0', '0.1.0']);
  });
});
