/**
 * `helm schema-rollback status` end to end: the built binary installed as a plugin into real Helm
 * 3.17 and 4.1, a kagent-like release installed by that Helm into the Kubernetes API double from a
 * chart repository on loopback, and a real PostgreSQL whose URL (with its password) lives only in
 * the release's Secret.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { helmVersions, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import type { FreshDatabase } from '../harness/postgres.js';
import { startWorld, type World } from '../harness/world.js';

const NS = 'ai';

/** golang-migrate's tables as its postgres driver creates them, at core 13 / vector 3. */
async function seedKagentSchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null);
      INSERT INTO schema_migrations VALUES (13, false);
      CREATE TABLE vector_schema_migrations (version bigint not null primary key, dirty boolean not null);
      INSERT INTO vector_schema_migrations VALUES (3, false);`);
  } finally {
    await client.end();
  }
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(text).finally(() => client.end());
}

function rowsOf(table: string): string[][] {
  return table.trim().split('\n').map((line) => line.trim().split(/\s{2,}/));
}

for (const helm of helmVersions) {
  describe(`e2e status through ${helm.label}`, function () {
    this.timeout(240_000);
    let world: World;
    let db: FreshDatabase;
    let plugin: InstalledPlugin;
    /** helm -n ai schema-rollback ARGS, as a user types it. */
    const sr = (args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> =>
      plugin.helm(['-n', NS, 'schema-rollback', ...args], env ? { env: { ...plugin.env, ...env } } : {});

    before(async () => {
      world = await startWorld(helm.bin, 'hsr-status-');
      ({ db, plugin } = world);
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`]);
      await world.helmOk(['install', 'legacy', 'fixtures/kagent', '--version', '0.1.0', '-n', NS, '--set', `database.url=${db.url}`]);
      await seedKagentSchema(db.url);
    });

    after(async () => {
      await world?.close();
    });

    it('prints each track, chart against database, with the URL read from the Secret', async () => {
      const r = await sr(['status', 'kagent']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Release kagent \(namespace ai\): chart kagent 0\.9\.0, revision 1, deployed$/m);
      assert.match(r.stdout, /database URL from deployment\/kagent-controller container controller env POSTGRES_DATABASE_URL \(Secret kagent-db key url\)/);
      const table = rowsOf(r.stdout.slice(r.stdout.indexOf('TRACK')));
      assert.deepEqual(table, [
        ['TRACK', 'TOOL', 'TABLE', 'CHART', 'DATABASE', 'DIRTY', 'IN STEP'],
        ['core', 'golang-migrate', 'schema_migrations', '13', '13', 'no', 'yes'],
        ['vector', 'golang-migrate', 'vector_schema_migrations', '3', '3', 'no', 'yes'],
      ]);
    });

    it('gets the namespace from helm -n and the context from --kube-context', async () => {
      const ok = await plugin.helm(['-n', NS, '--kube-context', 'double', 'schema-rollback', 'status', 'kagent', '-o', 'json']);
      assert.equal(ok.exitCode, 0, ok.stderr);
      const other = await plugin.helm(['-n', 'other', 'schema-rollback', 'status', 'kagent']);
      assert.equal(other.exitCode, 3);
      assert.match(other.stderr, /release "kagent" not found in namespace "other"/);
      assert.match(other.stderr, /fix: check the name with "helm list -n other"/);
      const unreachable = await plugin.helm(['-n', NS, '--kube-context', 'unreachable', 'schema-rollback', 'status', 'kagent']);
      assert.equal(unreachable.exitCode, 6, unreachable.stderr);
      assert.match(unreachable.stderr, /cannot reach the cluster/);
    });

    it('passes the context and namespace on to kubectl, and --debug logs calls but never the password', async () => {
      const r = await plugin.helm(['--debug', '-n', NS, '--kube-context', 'double', 'schema-rollback', 'status', 'kagent']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /debug: exec: \S*kubectl --context double --namespace ai get deployment kagent-controller -o json/);
      assert.match(r.stderr, /debug: exec: \S*kubectl --context double --namespace ai get secret kagent-db -o json/);
      const password = new URL(db.url).password;
      assert.ok(password.length > 0);
      for (const text of [r.stdout, r.stderr]) {
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), 'the password was printed');
      }
    });

    it('reports the same in JSON and YAML for programs', async () => {
      const json = JSON.parse((await sr(['status', 'kagent', '-o', 'json'])).stdout);
      const yaml = parseYaml((await sr(['status', 'kagent', '-o', 'yaml'])).stdout);
      assert.deepEqual(json, yaml);
      assert.deepEqual(json.release, { name: 'kagent', namespace: NS, chart: 'kagent', version: '0.9.0', revision: 1, status: 'deployed' });
      assert.deepEqual(json.tracks[1], {
        track: 'vector', tool: 'golang-migrate', table: 'vector_schema_migrations', chartRevision: '3',
        databaseRevisions: ['3'], tableExists: true, dirty: false, inStep: true,
      });
    });

    it('shows a dirty track (a failed golang-migrate down leaves the previous version, dirty) as not in step', async () => {
      await sql(db.url, 'UPDATE schema_migrations SET version = 12, dirty = true');
      try {
        const r = await sr(['status', 'kagent', '-o', 'json']);
        assert.equal(r.exitCode, 0, r.stderr);
        const core = JSON.parse(r.stdout).tracks[0];
        assert.deepEqual([core.databaseRevisions, core.dirty, core.inStep], [['12'], true, false]);
      } finally {
        await sql(db.url, 'UPDATE schema_migrations SET version = 13, dirty = false');
      }
    });

    it('refuses a chart without the contract (exit 4), and accepts flags in its place', async () => {
      const r = await sr(['status', 'legacy']);
      assert.equal(r.exitCode, 4);
      assert.match(r.stderr, /chart kagent 0\.1\.0 \(release legacy\) carries no schema-rollback contract/);
      const flags = await sr(
        ['status', 'legacy', '--tool', 'golang-migrate', '--workload', 'deployment/legacy-kagent-controller', '--database-url-env', 'POSTGRES_DATABASE_URL', '-o', 'json'],
      );
      assert.equal(flags.exitCode, 0, flags.stderr);
      const report = JSON.parse(flags.stdout);
      assert.equal(report.contractSource, 'flags');
      assert.deepEqual(report.tracks.map((t: { databaseRevisions: string[]; inStep?: boolean }) => [t.databaseRevisions, t.inStep]), [[['13'], undefined]]);
    });

    it('names a wrong password (exit 9) and an unreachable database (exit 8) without printing the password', async () => {
      const bad = new URL(db.url);
      bad.password = 'not-the-password-42';
      const auth = await sr(['status', 'kagent'], { SCHEMA_ROLLBACK_DATABASE_URL: bad.href });
      assert.equal(auth.exitCode, 9, auth.stderr);
      assert.match(auth.stderr, /password|authentication/i);
      assert.ok(!auth.stderr.includes('not-the-password-42') && !auth.stdout.includes('not-the-password-42'));
      const down = await sr(['status', 'kagent', '--database-url', 'postgres://app:secret-pw-7@127.0.0.1:1/app']);
      assert.equal(down.exitCode, 8, down.stderr);
      assert.match(down.stderr, /127\.0\.0\.1:1/);
      assert.ok(!down.stderr.includes('secret-pw-7'));
    });
  });
}
