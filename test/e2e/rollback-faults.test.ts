/**
 * Fault injection, end to end through real Helm 4.1 and the kagent fixture (native runner): the
 * plugin killed (SIGKILL) inside a down and between two steps, its database connection terminated
 * mid-down, and a Ctrl-C during the very last down. Each case checks what the README promises:
 *
 * - the database on a whole-step boundary, golang-migrate's table consistent with the schema (a
 *   table a down drops is gone iff the table says that down ran), the rows outside the reverted
 *   parts kept (kagent's agents and sessions);
 * - the workloads in the documented state, the run record and the lock as a dead run leaves them;
 * - an honest report, and a re-run (after the printed repair, done here with SQL as the printed
 *   command would) that finishes.
 *
 * The image that never pulls (job runner) is in rollback-job.test.ts, with that runner's helpers.
 */
import assert from 'node:assert/strict';
import { startInBackground, type Running } from '../harness/background.js';
import { requireDouble } from '../harness/cluster.js';
import { brokenKagentSource, KAGENT_SOURCE, kagentSourceWithDown, kagentVersionRows as versionRows } from '../harness/golang-migrate-up.js';
import { helm4, kubectl, run } from '../harness/plugin.js';
import { query } from '../harness/postgres.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };

describe('e2e: faults (SIGKILL, a terminated connection, Ctrl-C on the last down), through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;
  const start = (args: string[]): Running => startInBackground(world, NS, args);
  const sr = (args: string[]) => world.plugin.helm(['-n', NS, 'schema-rollback', ...args]);
  const replicas = async () => (await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;
  const regclass = async (name: string) => (await query<{ r: string | null }>(world.db.url, `SELECT to_regclass('${name}')::text AS r`))[0]!.r;
  const record = async () => {
    const text = (await run(kubectl, ['get', 'configmap', 'kagent-schema-rollback-run', '-n', NS, '--ignore-not-found', '-o', 'jsonpath={.data.run\\.json}'], { env: world.plugin.env })).stdout;
    return text ? JSON.parse(text) : undefined;
  };
  const history = async () => JSON.parse((await world.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout).map((h: { chart: string }) => h.chart);
  /** The user data outside the reverted parts: kagent's agents and sessions. */
  const userRows = async () => (await query<{ agents: string; sessions: string }>(world.db.url, 'SELECT (SELECT count(*) FROM agents)::text AS agents, (SELECT count(*) FROM sessions)::text AS sessions'))[0];
  /** Once PostgreSQL has ended the dead plugin's sessions: no advisory lock in this database, no statement of it still running. */
  const deadRunGone = async () => {
    for (let i = 0; i < 200; i++) {
      const [{ n }] = await query<{ n: string }>(world.db.url, `SELECT ((SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        + (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()))::text AS n`);
      if (n === '0') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail('the killed run\'s sessions never ended');
  };
  /** What "migrate -path DIR -database URL force V" does to golang-migrate's table. */
  const force = (version: number) => query(world.db.url, `UPDATE schema_migrations SET version = ${version}, dirty = false`);
  const args = (source: string) => ['kagent', '--to', '0.8.0', '--source', source, '--yes'];

  beforeEach(async () => {
    world = await startKagentWorld(helm4, 'hsr-faults-', NS);
  });

  afterEach(async () => {
    await world?.close();
  });

  it('SIGKILL inside a down: PostgreSQL rolls the file back, the table is (10, dirty), workloads at 0, record "running", lock free; the re-run is refused with the exact repair (force 11), then finishes after it', async () => {
    // 11's down drops its table, then sleeps 3 s: the kill lands inside the file.
    const slow = brokenKagentSource('SELECT pg_sleep(3);');
    const r1 = start(args(slow));
    await r1.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
    await r1.signal('SIGKILL');
    assert.notEqual((await r1.done).exitCode, 0);
    await deadRunGone();
    // 13 and 12 reverted, 11's file rolled back whole: golang-migrate's bookkeeping says (10, dirty).
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
    assert.equal(await regclass('agent_instance_tasks'), 'agent_instance_tasks', 'the DROP of the killed file is rolled back with it');
    assert.equal(await regclass('agent_instances'), 'agent_instances');
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '0');
    const dead = await record();
    assert.equal(dead.state, 'running', 'a killed run cannot close its record');
    const down = dead.steps.at(-1);
    assert.equal(down.name, 'down core 13->8');
    assert.equal(down.ended, undefined);
    // The plan listed the files (native runner): what the step reverts is known without its output.
    assert.deepEqual(down.down, { track: 'core', reverting: ['13', '12', '11', '10', '9'], before: ['13'] });

    const refused = await sr(args(slow));
    assert.equal(refused.exitCode, 12, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /track core: golang-migrate table schema_migrations is dirty at 10/);
    assert.match(refused.stderr, /the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
    assert.doesNotMatch(refused.stderr, /force NEXT|force PREVIOUS/, 'the exact repair, not the general advice');
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]], 'a refusal changes nothing');

    await force(11);
    const again = await sr(args(slow));
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /^Previous run by \S+@\S+ \(pid \d+\) since \S+ \(to 0\.8\.0\) did not finish: died \(killed or its machine lost[^)]*\) at "down core 13->8"/m);
    assert.match(again.stdout, /keep deployment\/kagent-controller at 0 \(it is at 0 now; 2 before the previous run\)/);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assert.equal(await regclass('agent_instance_tasks'), null);
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '2');
    assert.deepEqual(await history(), ['kagent-0.9.0', 'kagent-0.8.0']);
    assert.equal(await record(), undefined, 'a finished run leaves no record');
  });

  it('SIGKILL between steps (after the scale, before any down): tables untouched, controller at 0, record "running"; the re-run restores it from the record and finishes', async function () {
    const double = requireDouble(this, world.cluster, 'holds a Kubernetes API request while the plugin is killed');
    const r1 = start(args(KAGENT_SOURCE));
    // The scale has landed; the record's write that follows it is held, and the plugin killed meanwhile.
    await double.waitFor(DEPLOYMENT, 'kagent-controller', NS, (d) => d.spec.replicas === 0, 60_000);
    const held = double.hold({ method: 'PATCH', resource: { group: '', resource: 'configmaps' }, name: 'kagent-schema-rollback-run', namespace: NS });
    try {
      for (let i = 0; held.count() === 0; i++) {
        assert.ok(i < 600, 'the plugin never wrote its record after the scale');
        await new Promise((r) => setTimeout(r, 50));
      }
      await r1.signal('SIGKILL');
      assert.notEqual((await r1.done).exitCode, 0);
    } finally {
      held.drop();
    }
    await deadRunGone();
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '0');
    const dead = await record();
    assert.equal(dead.state, 'running');
    assert.deepEqual(dead.stopped, [{ ref: 'deployment/kagent-controller', replicas: 2 }]);
    assert.deepEqual(dead.steps.map((s: { name: string; ended?: string }) => [s.name, s.ended]), [['scale deployment/kagent-controller 2->0', undefined]]);

    const again = await sr(args(KAGENT_SOURCE));
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /did not finish: died \(killed or its machine lost[^)]*\) at "scale deployment\/kagent-controller 2->0"/);
    assert.match(again.stdout, /keep deployment\/kagent-controller at 0 \(it is at 0 now; 2 before the previous run\)/);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '2');
    assert.equal(await record(), undefined);
  });

  it('the connection terminated mid-down: exit 14, the track dirty as golang-migrate leaves it, workloads kept at 0, the exact repair; after it the re-run finishes', async () => {
    const slow = brokenKagentSource('SELECT pg_sleep(3);');
    const r1 = start(args(slow));
    await r1.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
    // The plugin's session running the file, as an administrator (or a failover) would end it.
    let terminated = false;
    for (let i = 0; !terminated; i++) {
      assert.ok(i < 200, 'the plugin\'s session never showed up in pg_stat_activity');
      const rows = await query<{ ok: boolean }>(world.db.url, `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()`);
      terminated = rows.some((r) => r.ok);
      if (!terminated) await new Promise((r) => setTimeout(r, 50));
    }
    const r = await r1.done;
    assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /terminating connection due to administrator command/);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
    assert.equal(await regclass('agent_instance_tasks'), 'agent_instance_tasks', 'the terminated file is rolled back');
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '0');
    assert.match(r.stderr, /vector: 1, target 1, done/);
    assert.match(r.stderr, /core: 10 \(dirty\), target 8, failed/);
    assert.match(r.stderr, /repair core: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
    assert.match(r.stderr, /Workloads kept at 0: track core is dirty/);
    assert.equal((await record()).state, 'failed');

    await force(11);
    const again = await sr(args(slow));
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /keep deployment\/kagent-controller at 0 \(it is at 0 now; 2 before the previous run\)/);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.equal(await replicas(), '2');
  });

  it('SIGINT during the last down of the last track: every track reaches its target, no helm upgrade, exit 22, workloads kept at 0 with the reason; the same command only hands off', async () => {
    // Execution order is vector then core; core's last down is 000009.
    const slow = kagentSourceWithDown('core/000009_agent_instances.down.sql', 'DROP TABLE IF EXISTS agent_instances;\nSELECT pg_sleep(3);\n');
    const r1 = start(args(slow));
    await r1.waitFor(/core: 9 -> 8 \(000009_agent_instances\.down\.sql\)/);
    await r1.signal('SIGINT');
    const r = await r1.done;
    assert.equal(r.exitCode, 22, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assert.equal(await regclass('agent_instances'), null, '9\'s file finished');
    assert.deepEqual(await userRows(), { agents: '2', sessions: '2' });
    assert.match(r.stderr, /core: 8, target 8, done/);
    assert.match(r.stderr, /Workloads kept at 0: every track is at its target; the newer code would migrate the schema up again/);
    assert.match(r.stderr, /interrupted after the downs, before helm upgrade/);
    assert.doesNotMatch(r.stderr, /^helm upgrade /m);
    assert.equal(await replicas(), '0');
    assert.deepEqual(await history(), ['kagent-0.9.0']);

    const again = await sr(args(slow));
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /no downs \(every track is at its target\)/);
    assert.match(again.stdout, /keep deployment\/kagent-controller at 0 \(it is at 0 now; 2 before the previous run\)/);
    assert.deepEqual(await history(), ['kagent-0.9.0', 'kagent-0.8.0']);
    assert.equal(await replicas(), '2');
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
  });
});
