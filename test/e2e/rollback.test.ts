/**
 * `helm schema-rollback RELEASE --to VERSION` end to end, the kagent case: the built binary
 * installed into real Helm 3.17 and 4.1, a release of chart kagent 0.9.0 (core 13, vector 3) in the
 * Kubernetes API double, a real PostgreSQL migrated up by golang-migrate's bookkeeping with data in
 * it, and a rollback to 0.8.0 (core 8, vector 1) with the native runner and the 0.9.0 down files.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { brokenKagentSource, kagentVersionRows as versionRows, migrateKagent09, migrateUp, readTrack } from '../harness/golang-migrate-up.js';
import { assertOutputDocuments, outputProblems } from '../harness/output-schema.js';
import { assertInOrder } from '../harness/scenario.js';
import { helmVersions, kubectl, repoRoot, run, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import { query, type FreshDatabase } from '../harness/postgres.js';
import { startWorld, type World } from '../harness/world.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');


for (const helm of helmVersions) {
  describe(`e2e rollback (golang-migrate, two tracks) through ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let db: FreshDatabase;
    let plugin: InstalledPlugin;
    const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });

    before(async () => {
      world = await startWorld(helm.bin, 'hsr-rollback-');
      ({ db, plugin } = world);
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`, '--set', 'replicaCount=2']);
      await migrateKagent09(db.url);
    });

    after(async () => {
      await world?.close();
    });

    it('--dry-run prints the plan (each revision to revert, in order) and changes nothing', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Release kagent \(namespace ai\): chart kagent 0\.9\.0 -> 0\.8\.0 \(fixtures\/kagent\)$/m);
      assert.match(r.stdout, /^vector\s+golang-migrate\s+3\s+1\s+3, 2\s+native$/m);
      assert.match(r.stdout, /^core\s+golang-migrate\s+13\s+8\s+13, 12, 11, 10, 9\s+native$/m);
      // Read top to bottom: what changes, what is lost, what runs (each step in order), what follows.
      assertInOrder(r.stdout, [
        '\n-- What changes: chart kagent 0.9.0 -> 0.8.0, and each track\'s schema, current -> target\n',
        '\n-- What is lost\nData at risk: ',
        '\n-- What runs, in this order\n'
          + '  1. scale deployment/kagent-controller 2->0\n'
          + '  2. copy the data at risk into schema schema_rollback_archive (one transaction)\n'
          + '  3. down vector 3 -> 1: the down files listed below; then its version table is checked\n'
          + '  4. down core 13 -> 8: the down files listed below; then its version table is checked\n'
          + '  5. helm upgrade kagent fixtures/kagent --version 0.8.0 (values kept)\n',
        /^TRACK\s+STEP\s+DOWN FILE$/m,
        '\n-- What follows the hand-off\n'
          + 'Release kagent runs chart 0.8.0; the workloads get the replicas chart 0.8.0 renders (deployment/kagent-controller had 2)\n'
          + 'Watch: helm -n ai history kagent; kubectl -n ai rollout status deployment/kagent-controller; helm schema-rollback -n ai status kagent (every track in step)\n',
        '\n-- Checked before anything changes\nPermissions checked: ',
        /^Hand-off checked \(helm upgrade --dry-run\)/m,
      ]);
      assert.match(r.stderr, /dry run: nothing was changed/);
      assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
      const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(history.length, 1);
    });

    it('--target-revision corrects one track\'s target over the annotations (marked in the plan), and needs --track when the chart has several', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--track', 'core', '--target-revision', '10', '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^core\s+golang-migrate\s+13\s+10 \(--target-revision\)\s+13, 12, 11\s+native$/m);
      assert.match(r.stdout, /^vector\s+golang-migrate\s+3\s+1\s+3, 2\s+native$/m, 'the other track keeps the annotated target');
      const ambiguous = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--target-revision', '10', '--dry-run']);
      assert.equal(ambiguous.exitCode, 2, ambiguous.stderr);
      assert.match(ambiguous.stderr, /--target-revision gives one track's revision, and the chart has several/);
      assert.match(ambiguous.stderr, /--track NAME \(one of core, vector\)/);
      const bad = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--track', 'core', '--target-revision', '010', '--dry-run']);
      assert.equal(bad.exitCode, 2, bad.stderr);
      assert.match(bad.stderr, /--target-revision 010/);
      assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    });

    it('refuses without a terminal and without --yes, changing nothing (exit 15)', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE]);
      assert.equal(r.exitCode, 15, r.stderr);
      assert.match(r.stderr, /pass --yes/);
      assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    });

    it('refuses a target that is not older, and one that does not exist', async () => {
      const newer = await sr(['kagent', '--to', '1.0.0', '--source', SOURCE, '--yes']);
      assert.equal(newer.exitCode, 2, newer.stderr);
      assert.match(newer.stderr, /newer than the release's 0\.9\.0: that is an upgrade/);
      const same = await sr(['kagent', '--to', '0.9.0', '--source', SOURCE, '--yes']);
      assert.equal(same.exitCode, 12, same.stderr);
      const missing = await sr(['kagent', '--to', '0.7.0', '--source', SOURCE, '--yes']);
      assert.notEqual(missing.exitCode, 0);
      assert.match(missing.stderr, /0\.7\.0/);
    });

    it('rolls back both tracks with golang-migrate\'s bookkeeping, keeps the data, then helm upgrade --version 0.8.0 (-o json: the Plan, then the Result)', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes', '-o', 'json']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      const [, result] = assertOutputDocuments(r.stdout, 'json', ['Plan', 'Result']);
      assert.deepEqual(result, {
        apiVersion: 'schema-rollback.io/v1', kind: 'Result',
        release: { name: 'kagent', namespace: NS },
        chart: { name: 'kagent', from: '0.9.0', to: '0.8.0' },
        tracks: [
          { track: 'vector', outcome: 'reverted', from: ['3'], to: '1', reverted: ['3', '2'] },
          { track: 'core', outcome: 'reverted', from: ['13'], to: '8', reverted: ['13', '12', '11', '10', '9'] },
        ],
        handoff: { release: 'kagent', chart: 'fixtures/kagent', version: '0.8.0' },
      });
      // Version tables row for row, as `migrate goto 8` / `goto 1` leave them.
      assert.deepEqual(await versionRows(db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      // The downs dropped what 9..13 added; rows in tables they do not touch are intact.
      const [{ instances }] = await query<{ instances: string | null }>(db.url, "SELECT to_regclass('agent_instances')::text AS instances");
      assert.equal(instances, null);
      assert.deepEqual(await query(db.url, 'SELECT id, agent_id, user_id FROM sessions ORDER BY id'), [
        { id: 's1', agent_id: 'a1', user_id: 'u1' },
        { id: 's2', agent_id: 'a2', user_id: 'u2' },
      ]);
      // The controller was stopped before the first down, and the hand-off came after the last.
      const order = ['scaled deployment/kagent-controller 2 -> 0', 'track vector:', 'track core:', 'track core: verified at 8', 'helm upgrade kagent fixtures/kagent --version 0.8.0'];
      const at = order.map((s) => r.stderr.indexOf(s));
      assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), `unexpected order:\n${r.stderr}`);
      // Helm now runs chart 0.8.0 with the user's values kept.
      const meta = JSON.parse((await plugin.helm(['get', 'metadata', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(meta.version, '0.8.0');
      const values = JSON.parse((await plugin.helm(['get', 'values', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(values.replicaCount, 2);
      const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(history.at(-1).chart, 'kagent-0.8.0');
      // status agrees: both tracks in step with chart 0.8.0.
      const [status] = assertOutputDocuments((await sr(['status', 'kagent', '-o', 'json'])).stdout, 'json', ['Status']);
      assert.deepEqual((status!['tracks'] as Array<{ inStep: boolean }>).map((t) => t.inStep), [true, true]);
    });
  });
}

for (const helm of helmVersions) {
  describe(`e2e rollback with a failing down file through ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let db: FreshDatabase;
    let plugin: InstalledPlugin;
    const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
    const replicas = async () =>
      (await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: plugin.env })).stdout;

    before(async () => {
      world = await startWorld(helm.bin, 'hsr-rollback-fail-');
      ({ db, plugin } = world);
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`, '--set', 'replicaCount=2']);
      await migrateKagent09(db.url);
    });

    after(async () => {
      await world?.close();
    });

    it('stops at the failing file leaving what golang-migrate leaves, keeps the controller stopped on the dirty table, and does not hand off', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', brokenKagentSource(), '--yes']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /track core: down of 11 failed/);
      assert.match(r.stderr, /while the schema is at 11\. .*force 11", then re-run the rollback/);
      // vector went first and finished; core reverted 13 and 12, then 11's down failed: the table
      // holds the previous version of the failed file, dirty, and 11's DROP TABLE was rolled back
      // with the rest of that file (one implicit transaction).
      assert.deepEqual(await versionRows(db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
      const [{ tasks }] = await query<{ tasks: string | null }>(db.url, "SELECT to_regclass('agent_instance_tasks')::text AS tasks");
      assert.equal(tasks, 'agent_instance_tasks');
      assert.match(r.stderr, /Where each track stands:\n  vector: 1, target 1, done\n  core: 10 \(dirty\), target 8, failed\n/);
      assert.doesNotMatch(r.stderr, /scaled deployment\/kagent-controller 0 -> 2/);
      assert.equal(await replicas(), '0');
      assert.match(r.stderr, /Workloads kept at 0: track core is dirty/);
      assert.match(r.stderr, /repair core: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
      const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0']);
    });

    it('refuses a re-run while the track is dirty, explaining golang-migrate\'s dirty state, and changes nothing', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 12, r.stderr);
      assert.match(r.stderr, /track core: golang-migrate table schema_migrations is dirty at 10/);
      // The failed run's record in the cluster names the exact repair.
      assert.match(r.stderr, /fix: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
      assert.deepEqual(await versionRows(db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
      assert.equal(await replicas(), '0');
    });

    it('after the repair the hint names (force 11, fixed files), a re-run finishes and hands off', async () => {
      await query(db.url, 'UPDATE schema_migrations SET version = 11, dirty = false');
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^vector\s+none: already at 1/m);
      assert.match(r.stdout, /^core\s+golang-migrate\s+11\s+8\s+11, 10, 9\s+native$/m);
      assert.match(r.stdout, /^Previous run by \S+@\S+ \(pid \d+\) since \S+ \(to 0\.8\.0\) did not finish: failed at "down core 13->8"/m);
      // The controller the failed run kept at 0 is restored, on a failure, to its replicas before that run (2), not 0.
      assert.match(r.stdout, /keep deployment\/kagent-controller at 0 \(it is at 0 now; 2 before the previous run\)/);
      assert.deepEqual(await versionRows(db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      const [{ tasks }] = await query<{ tasks: string | null }>(db.url, "SELECT to_regclass('agent_instance_tasks')::text AS tasks");
      assert.equal(tasks, null);
      const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(history.at(-1).chart, 'kagent-0.8.0');
    });
  });
}

for (const helm of helmVersions) {
  describe(`e2e rollback: data at risk and the copy before the downs through ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let db: FreshDatabase;
    let plugin: InstalledPlugin;
    const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
    const atRisk = {
      instances: 'SELECT * FROM agent_instances ORDER BY id',
      tasks: 'SELECT * FROM agent_instance_tasks ORDER BY instance_id, task_id',
      cards: 'SELECT id, agent_card FROM runtime_revisions ORDER BY id',
    };

    before(async () => {
      world = await startWorld(helm.bin, 'hsr-rollback-archive-');
      ({ db, plugin } = world);
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`, '--set', 'replicaCount=2']);
      await migrateKagent09(db.url);
      await query(db.url, `INSERT INTO tasks (id, session_id, data) VALUES ('t1', 's1', '{"q": 1}'), ('t2', 's2', '{"q": 2}');
        INSERT INTO runtime_revisions (id, agent_id, revision, image, agent_card) VALUES (1, 'a1', 1, 'kagent:0.9.0', '{"name": "helper"}'), (2, 'a2', 1, 'kagent:0.9.0', NULL);
        INSERT INTO agent_instances (id, agent_id, revision_id, status, operation) VALUES ('i1', 'a1', 1, 'running', 'scale');
        INSERT INTO agent_instance_tasks (instance_id, task_id, message_id) VALUES ('i1', 't1', 'msg-1'), ('i1', 't2', NULL);`);
    });

    after(async () => {
      await world?.close();
    });

    it('the plan lists the data at risk with live counts (and -o json its stable shape), changing nothing', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Data at risk: column runtime_revisions\.agent_card \(1 non-null\) dropped; table agent_instance_tasks \(2 rows\) dropped; table agent_instances \(1 row\) dropped$/m);
      assert.match(r.stdout, /^Copy before the downs: copied into schema schema_rollback_archive of the same database before the first down \(about .+; limit 1 GiB\)$/m);
      const [json] = assertOutputDocuments((await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '-o', 'json'])).stdout, 'json', ['Plan']) as any[];
      // The schema catches what would break a script: a renamed, a missing, a retyped field, another version.
      const broken = (change: (plan: any) => void) => {
        const copy = structuredClone(json);
        change(copy);
        return outputProblems('Plan', copy).map((p) => p.replace(/ \(known: .*\)$/, ''));
      };
      assert.deepEqual(broken((p) => { p.dataAtRisks = p.dataAtRisk; delete p.dataAtRisk; }), ['dataAtRisk: is required', 'dataAtRisks: unknown field']);
      assert.deepEqual(broken((p) => { delete p.tracks[1].step.target; }), ['tracks[1].step.target: is required']);
      assert.deepEqual(broken((p) => { p.release.revision = String(p.release.revision); }), ['release.revision: must be an integer']);
      assert.deepEqual(broken((p) => { p.apiVersion = 'schema-rollback.io/v2'; }), ['apiVersion: must be "schema-rollback.io/v1"']);
      assert.deepEqual(json.dataAtRisk.map((i: Record<string, unknown>) => [i.track, i.kind, i.schema, i.table, i.column, i.exists, i.rows, i.source]), [
        ['core', 'drop-column', 'public', 'runtime_revisions', 'agent_card', true, 1, '000013_runtime_revision_agent_card.down.sql'],
        ['core', 'drop-table', 'public', 'agent_instance_tasks', undefined, true, 2, '000011_agent_instance_tasks.down.sql'],
        ['core', 'drop-table', 'public', 'agent_instances', undefined, true, 1, '000009_agent_instances.down.sql'],
      ]);
      assert.deepEqual({ ...json.archive, bytes: typeof json.archive.bytes }, { enabled: true, schema: 'schema_rollback_archive', maxBytes: 1024 ** 3, bytes: 'number' });
      const none = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--no-archive']);
      assert.match(none.stdout, /^Copy before the downs: no copy kept \(--no-archive\)$/m);
      const small = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes', '--archive-max-size', '1KB']);
      assert.equal(small.exitCode, 12, small.stderr);
      assert.match(small.stderr, /over --archive-max-size 1000 bytes/);
      const [{ s }] = await query<{ s: string | null }>(db.url, "SELECT to_regnamespace('schema_rollback_archive')::text AS s");
      assert.equal(s, null);
      assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    });

    it('copies what the downs drop after the controller is stopped and before the first down; the printed restore statements bring every row back', async () => {
      const before = await Promise.all(Object.values(atRisk).map((q) => query(db.url, q)));
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assertInOrder(r.stderr, [
        'scaled deployment/kagent-controller 2 -> 0',
        'copied the data at risk into schema schema_rollback_archive (one transaction, before the first down):',
        /schema_rollback_archive\.kagent_\d{14}_public_agent_instance_tasks: 2 rows of public\.agent_instance_tasks/,
        'track vector:',
      ]);
      assert.deepEqual(await versionRows(db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      // Back on the newer schema (an upgrade whose app migrates up), then the restore lines as printed, parents first.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await migrateUp(client, 'schema_migrations', readTrack(join(SOURCE, 'core')));
      } finally {
        await client.end();
      }
      const restores = [...r.stderr.matchAll(/^ {4}restore: (.*)$/gm)].map((m) => m[1]!);
      assert.equal(restores.length, 3, r.stderr);
      for (const sql of restores.sort((a, b) => Number(b.includes('"agent_instances"')) - Number(a.includes('"agent_instances"')))) await query(db.url, sql);
      assert.deepEqual(await Promise.all(Object.values(atRisk).map((q) => query(db.url, q))), before);
    });
  });
}
