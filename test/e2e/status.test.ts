/**
 * `helm schema-rollback status` end to end: the built binary installed as a plugin into real Helm
 * 3.17 and 4.1, a kagent-like release installed by that Helm into the Kubernetes API double from a
 * chart repository on loopback, and a real PostgreSQL whose URL (with its password) lives only in
 * the release's Secret. Then the release's run record, as rollbacks through Helm 4.1 (native runner)
 * leave it: a run in flight, a failed run, a finished one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { brokenKagentSource } from '../harness/golang-migrate-up.js';
import { helm4, helmVersions, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import type { FreshDatabase } from '../harness/postgres.js';
import { startInBackground } from '../harness/background.js';
import { startKagentWorld, startWorld, type World } from '../harness/world.js';

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
      // Both clients: the in-process one and kubectl/helm (HSR_KUBE_CLIENT=kubectl).
      for (const client of ['', 'kubectl']) {
        const unreachable = await plugin.helm(['-n', NS, '--kube-context', 'unreachable', 'schema-rollback', 'status', 'kagent'], { env: { ...plugin.env, HSR_KUBE_CLIENT: client } });
        assert.equal(unreachable.exitCode, 6, unreachable.stderr);
        assert.match(unreachable.stderr, /cannot reach the cluster/);
      }
    });

    it('passes the context and namespace on to the in-process client, and --debug logs requests but never the password or token', async () => {
      const r = await plugin.helm(['--debug', '-n', NS, '--kube-context', 'double', 'schema-rollback', 'status', 'kagent']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /debug: kube-api: context double, token auth/);
      assert.match(r.stderr, /debug: kube-api: GET \/api\/v1\/namespaces\/ai\/secrets 200 \d+ ms/, "the release from Helm's storage in namespace ai");
      assert.match(r.stderr, /debug: kube-api: GET \/apis\/apps\/v1\/namespaces\/ai\/deployments\/kagent-controller 200 \d+ ms/);
      assert.match(r.stderr, /debug: kube-api: GET \/api\/v1\/namespaces\/ai\/secrets\/kagent-db 200 \d+ ms/);
      assert.doesNotMatch(r.stderr, /debug: exec: \S*(kubectl|helm) /, 'no helm or kubectl process for status');
      const password = new URL(db.url).password;
      assert.ok(password.length > 0);
      for (const text of [r.stdout, r.stderr]) {
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), 'the password was printed');
        assert.ok(!/Bearer|fake/.test(text), "the kubeconfig's token was printed");
      }
    });

    it("a kubeconfig user with an exec credential plugin: run once for the whole status, its token never shown", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hsr-exec-cred-'));
      try {
        const config = JSON.parse(readFileSync(world.cluster.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
        const runs = join(dir, 'runs');
        // A credential plugin as cloud CLIs ship them: an ExecCredential on stdout, with an expiry.
        writeFileSync(join(dir, 'cred.sh'), `#!/bin/sh\necho run >> '${runs}'\ncat <<EOF\n{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token-s3cr3t-value","expirationTimestamp":"2099-01-01T00:00:00Z"}}\nEOF\n`, { mode: 0o755 });
        config.users = config.users.map((u) => ({ name: u.name, user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './cred.sh', interactiveMode: 'Never' } } }));
        writeFileSync(join(dir, 'kubeconfig'), JSON.stringify(config));
        const r = await sr(['status', 'kagent', '--debug'], { KUBECONFIG: join(dir, 'kubeconfig') });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stderr, /debug: kube-api: context double, exec auth/);
        assert.match(r.stdout, /core/);
        assert.equal(readFileSync(runs, 'utf8').trim().split('\n').length, 1, 'the plugin ran once');
        assert.ok(![r.stdout, r.stderr].some((t) => t.includes('exec-token-s3cr3t-value')), 'the token was printed');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a kubeconfig asking for what the in-process client does not do: the whole run through kubectl and helm, as before, saying why', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hsr-fallback-'));
      try {
        const config = JSON.parse(readFileSync(world.cluster.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
        // as-uid (impersonation by UID) is one of the fields only kubectl handles here.
        config.users = config.users.map((u) => ({ name: u.name, user: { ...u.user, as: 'tester', 'as-uid': '1234' } }));
        writeFileSync(join(dir, 'kubeconfig'), JSON.stringify(config));
        const r = await sr(['status', 'kagent', '--debug'], { KUBECONFIG: join(dir, 'kubeconfig') });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stderr, /debug: kube-api: not used, kubectl and helm answer every Kubernetes call: the kubeconfig's user sets as-uid/);
        assert.match(r.stderr, /debug: exec: \S*helm get metadata kagent/);
        assert.match(r.stdout, /core/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('HSR_KUBE_CLIENT=kubectl: passes the context and namespace on to kubectl and helm, and --debug logs calls but never the password', async () => {
      const r = await plugin.helm(['--debug', '-n', NS, '--kube-context', 'double', 'schema-rollback', 'status', 'kagent'], { env: { ...plugin.env, HSR_KUBE_CLIENT: 'kubectl' } });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /debug: kube-api: not used, kubectl and helm answer every Kubernetes call: HSR_KUBE_CLIENT=kubectl/);
      // The workload and its Secret: read one after the other, or (once the names are known from an earlier run) in one call.
      assert.match(r.stderr, /debug: exec: \S*kubectl --context double --namespace ai get (deployment kagent-controller|deployment\/kagent-controller secret\/kagent-db) -o json/);
      assert.match(r.stderr, /debug: exec: \S*kubectl --context double --namespace ai get (secret kagent-db|deployment\/kagent-controller secret\/kagent-db) -o json/);
      assert.match(r.stderr, /debug: exec: \S*helm get metadata kagent -o json --namespace ai/);
      const password = new URL(db.url).password;
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

describe('e2e status: the rollback run, from its record, through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;
  const status = (args: string[] = []) => world.plugin.helm(['-n', NS, 'schema-rollback', 'status', 'kagent', ...args]);
  const rollback = (source: string) => ['kagent', '--to', '0.8.0', '--source', source, '--yes'];

  beforeEach(async () => {
    world = await startKagentWorld(helm4, 'hsr-status-run-', NS);
  });

  afterEach(async () => {
    await world?.close();
  });

  it('during a run: in progress, by whom, since when, on which step; after it finished: no record, nothing extra', async () => {
    // 11's down sleeps after its DROP TABLE: both status calls below are made while it runs.
    const run = startInBackground(world, NS, rollback(brokenKagentSource('SELECT pg_sleep(5);')));
    await run.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
    const [text, json] = await Promise.all([status(), status(['-o', 'json'])]);
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /^Rollback in progress by \S+@\S+ \(pid \d+\) since \d{4}-\d\d-\d\dT\S+ \(to chart 0\.8\.0\); step: down core 13->8 \(started \d{4}-\d\d-\d\dT\S+\)$/m);
    assert.match(text.stdout, /do not repair or force anything meanwhile/);
    assert.doesNotMatch(text.stdout, /force [0-9]|Next:/, 'never repair advice while a run is in flight');
    assert.equal(json.exitCode, 0, json.stderr);
    const live = JSON.parse(json.stdout).run;
    assert.equal(live.inProgress, true);
    assert.equal(live.record.state, 'running');
    assert.equal(live.record.to, '0.8.0');
    assert.equal(live.record.steps.at(-1).name, 'down core 13->8');
    const done = await run.done;
    assert.equal(done.exitCode, 0, `${done.stdout}\n${done.stderr}`);
    const after = await status();
    assert.equal(after.exitCode, 0, after.stderr);
    assert.doesNotMatch(after.stdout, /rollback/i);
    assert.equal(JSON.parse((await status(['-o', 'json'])).stdout).run, null);
  });

  it('after a failed run: how it ended, the repair it left (force 11) and the command that finishes; exit 0', async () => {
    const failed = await world.plugin.helm(['-n', NS, 'schema-rollback', ...rollback(brokenKagentSource())]);
    assert.equal(failed.exitCode, 14, `${failed.stdout}\n${failed.stderr}`);
    const text = await status();
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /^Last rollback by \S+@\S+ \(pid \d+\) since \d{4}-\d\d-\d\dT\S+ \(to chart 0\.8\.0\) did not finish: failed at step down core 13->8$/m);
    assert.match(text.stdout, /^ {2}repair core: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"$/m);
    assert.match(text.stdout, /^ {2}Next: repair as said above, then run the same command again: helm -n ai schema-rollback kagent --to 0\.8\.0 --source \S+ --yes; a re-run continues from where the database is/m);
    assert.match(text.stdout, /^core +golang-migrate +schema_migrations +13 +10 +yes +no$/m);
    const json = await status(['-o', 'json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const run = JSON.parse(json.stdout).run;
    assert.equal(run.inProgress, false);
    assert.equal(run.record.state, 'failed');
    assert.match(run.record.repairs.core, /force 11"$/);
    assert.match(run.record.next, /^run the same command again: helm -n ai schema-rollback kagent --to 0\.8\.0 /);
    const password = new URL(world.db.url).password;
    for (const out of [text, json]) assert.ok(!`${out.stdout}${out.stderr}`.includes(password), 'the password was printed');
  });
});
