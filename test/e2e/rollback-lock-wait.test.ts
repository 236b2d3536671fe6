/**
 * No blocked traffic, end to end through real Helm 4.1 and the kagent fixture (native runner):
 * another session holds a lock on agent_instance_tasks, which core's down of 12 alters. The down
 * gives up after --lock-timeout, the wait is reported with the session holding the lock, and it is
 * tried again; a Ctrl-C during the wait stops the run with the track clean at 12 (exit 22, the
 * workloads back); once the lock is released, the same command finishes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { startInBackground } from '../harness/background.js';
import { kagentVersionRows as versionRows } from '../harness/golang-migrate-up.js';
import { helm4, kubectl, repoRoot, run } from '../harness/plugin.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');

describe('e2e: a down waiting for a lock (--lock-timeout, --lock-retries), through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;
  let holder: pg.Client | undefined;

  beforeEach(async () => {
    world = await startKagentWorld(helm4, 'hsr-lock-wait-', NS);
  });
  afterEach(async () => {
    await holder?.end().catch(() => undefined);
    await world?.close();
  });

  it('reports each wait with the holder and retries; a Ctrl-C during the wait stops with the track clean (exit 22, workloads back); released, the same command finishes', async () => {
    holder = new pg.Client({ connectionString: world.db.url });
    await holder.connect();
    const pid = Number((await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE agent_instance_tasks IN ACCESS SHARE MODE');

    const args = ['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes', '--lock-timeout', '300ms', '--lock-retries', '20'];
    const r1 = startInBackground(world, NS, args);
    await r1.waitFor(new RegExp(`core \\| core: 12 -> 11: waiting for a lock: table agent_instance_tasks held by pid ${pid} \\(idle in transaction: "LOCK TABLE agent_instance_tasks IN ACCESS SHARE MODE"\\); gave up after lock_timeout 300 ms, nothing of the down stayed; retry 1 of 20 in 1 s`));
    await r1.signal('SIGINT');
    const r = await r1.done;
    assert.equal(r.exitCode, 22, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /stopped before trying the down of 12 again \(it waited for a lock: table agent_instance_tasks held by pid \d+/);
    // 13's down done, 12's rolled back whole and golang-migrate's dirty mark written back: clean at 12.
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '12', dirty: false }], [{ version: '1', dirty: false }]]);
    const replicas = (await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;
    assert.equal(replicas, '2', 'a clean track: the workloads are scaled back');

    await holder.query('COMMIT');
    const again = await world.plugin.helm(['-n', NS, 'schema-rollback', ...args]);
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.doesNotMatch(again.stderr, /waiting for a lock/);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
  });
});
