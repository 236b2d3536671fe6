/**
 * `--verify-downs --dev-url` end to end on the kagent world (helm 3 and 4, the built binary): the
 * plan says the downs were proven at every step; a down that forgets an index is refused (exit 12)
 * and named before any question, the live database untouched; the live database as dev URL is
 * refused; the dev URL's password is never printed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { kagentSourceWithDown, kagentVersionRows as versionRows } from '../harness/golang-migrate-up.js';
import { helmVersions, repoRoot, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import { freshDatabase, type FreshDatabase } from '../harness/postgres.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');

for (const helm of helmVersions) {
  describe(`e2e rollback --verify-downs through ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let dev: FreshDatabase;
    let plugin: InstalledPlugin;
    const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });

    before(async () => {
      world = await startKagentWorld(helm.bin, 'hsr-verify-downs-');
      plugin = world.plugin;
      dev = await freshDatabase(17);
    });
    after(async () => {
      await dev?.drop();
      await world?.close();
    });

    it('--dry-run: the plan says the downs were proven on the dev database, step by step', async () => {
      const before = await versionRows(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--verify-downs', '--dev-url', dev.url, '--dev-reset']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Downs verified on the dev database: 7 steps, schemas equal at each \(vector: 2 after 3 ups from empty, core: 5 after 13 ups from empty\)$/m);
      assert.deepEqual(await versionRows(world.db.url), before, 'the live database is untouched');
      const password = new URL(dev.url).password;
      if (password) assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the dev URL password is never printed');
    });

    it('a down that forgets an index: refused (exit 12) and named, before any question, the live database untouched', async () => {
      const source = kagentSourceWithDown('core/000012_agent_instance_message_idempotency.down.sql', 'SELECT 1;\n');
      const before = await versionRows(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', source, '--verify-downs', '--dev-url', dev.url, '--dev-reset', '--yes']);
      assert.equal(r.exitCode, 12, r.stdout + r.stderr);
      assert.match(r.stderr, /track core: down 000012_agent_instance_message_idempotency\.down\.sql \(12 -> 11\) leaves /);
      assert.deepEqual(await versionRows(world.db.url), before);
    });

    it('the live database as --dev-url is refused, nothing changed', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--verify-downs', '--dev-url', world.db.url]);
      assert.equal(r.exitCode, 12, r.stdout + r.stderr);
      assert.match(r.stderr, /--dev-url names the live database/);
    });
  });
}
