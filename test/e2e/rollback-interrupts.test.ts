/**
 * Trust under interruption and concurrency, end to end through real Helm 4.1 and the kagent
 * fixture (native runner): a down file that takes a few seconds (pg_sleep) gives the time to send
 * the plugin a signal, or to start a second run, while a step is in flight.
 *
 * - One SIGINT (or SIGTERM): the file running finishes, no other starts, the workloads come back
 *   (the table is clean), exit 22 with where each track stands; the same command finishes the job.
 * - Two SIGINTs: the statement running is cancelled, golang-migrate's bookkeeping leaves the track
 *   dirty, the workloads stay at 0 and the exact repair (force 11) is printed.
 * - A second run while one is in flight: exit 13 "in progress by USER@HOST since T", nothing changed.
 *
 * The signal goes to the plugin's process (helm's child), as a terminal's Ctrl-C reaches it; helm
 * itself is left alone here so that the test can read the plugin's exit code through it.
 */
import assert from 'node:assert/strict';
import { startInBackground, type Running } from '../harness/background.js';
import { brokenKagentSource, kagentVersionRows as versionRows } from '../harness/golang-migrate-up.js';
import { helm4, kubectl, run } from '../harness/plugin.js';
import { hasTmux, inTerminal } from '../harness/terminal.js';
import { query } from '../harness/postgres.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';

/** helm -n ai schema-rollback ARGS, in the background. */
const start = (world: World, args: string[]): Running => startInBackground(world, NS, args);

describe('e2e: interrupts and a second run, through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;
  // 11's down sleeps 3 s after its DROP TABLE: long enough to act while it runs.
  let slow: string;
  const replicas = async () => (await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;
  const regclass = async (name: string) => (await query<{ r: string | null }>(world.db.url, `SELECT to_regclass('${name}')::text AS r`))[0]!.r;
  const record = async () => (await run(kubectl, ['get', 'configmap', 'kagent-schema-rollback-run', '-n', NS, '--ignore-not-found', '-o', 'jsonpath={.data.run\\.json}'], { env: world.plugin.env })).stdout;

  beforeEach(async () => {
    slow = brokenKagentSource('SELECT pg_sleep(3);');
    world = await startKagentWorld(helm4, 'hsr-interrupts-', NS);
  });

  afterEach(async () => {
    await world?.close();
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`one ${sig} mid-file: that file finishes, no other starts, workloads back, exit 22; the same command finishes`, async () => {
      const r1 = start(world, ['kagent', '--to', '0.8.0', '--source', slow, '--yes']);
      await r1.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
      await r1.signal(sig);
      const r = await r1.done;
      assert.equal(r.exitCode, 22, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${sig}: finishing the current step, then stopping`));
      // 11's file ran whole (its table is gone), 10's did not start: the table is clean at 10.
      assert.deepEqual(await versionRows(world.db.url), [[{ version: '10', dirty: false }], [{ version: '1', dirty: false }]]);
      assert.equal(await regclass('agent_instance_tasks'), null);
      assert.notEqual(await regclass('agent_instances'), null);
      assert.doesNotMatch(r.stderr, /core: 10 -> 9/);
      assert.match(r.stderr, /core: 10, target 8, failed/);
      assert.match(r.stderr, /scaled deployment\/kagent-controller 0 -> 2/);
      assert.equal(await replicas(), '2');
      assert.match(r.stderr, /Error: track core: stopped after the down of 11/);
      assert.match(r.stderr, /fix: run the same command again: helm -n ai schema-rollback kagent --to 0\.8\.0 --source \S+ --yes/);
      // The record says how the run ended; the next plan shows it.
      assert.match(await record(), /"state": "interrupted"/);
      const again = await world.plugin.helm(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', slow, '--yes']);
      assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
      assert.match(again.stdout, /^Previous run by .* did not finish: interrupted at "down core 13->8"/m);
      assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      assert.equal(await record(), '', 'a finished run leaves no record');
    });
  }

  it('two SIGINTs mid-file: the statement is cancelled, the track is left as golang-migrate leaves it, workloads kept at 0 with the exact repair', async () => {
    const r1 = start(world, ['kagent', '--to', '0.8.0', '--source', slow, '--yes']);
    await r1.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
    await r1.signal('SIGINT');
    await r1.waitFor(/finishing the current step/);
    await r1.signal('SIGINT');
    const r = await r1.done;
    assert.equal(r.exitCode, 22, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /SIGINT: cancelling the current step/);
    // golang-migrate's bookkeeping: (previous of 11, dirty); PostgreSQL rolled 11's file back.
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
    assert.equal(await regclass('agent_instance_tasks'), 'agent_instance_tasks');
    assert.equal(await replicas(), '0');
    assert.match(r.stderr, /Workloads kept at 0: track core is dirty/);
    assert.match(r.stderr, /repair core: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
    assert.match(r.stderr, /canceling statement due to user request/);
    const history = JSON.parse((await world.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
    assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0']);
  });

  it('a second run while one is in flight is refused (exit 13, who and since when), and changes nothing; the first finishes', async () => {
    const r1 = start(world, ['kagent', '--to', '0.8.0', '--source', slow, '--yes']);
    await r1.waitFor(/core: 11 -> 10 \(000011_agent_instance_tasks\.down\.sql\)/);
    const second = await world.plugin.helm(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', slow, '--yes']);
    assert.equal(second.exitCode, 13, `${second.stdout}\n${second.stderr}`);
    assert.match(second.stderr, /a rollback of kagent is in progress by \S+@\S+ \(pid \d+\) since \d{4}-\d\d-\d\dT\S+ \(to chart 0\.8\.0; step: down core 13->8\): nothing was changed/);
    assert.doesNotMatch(second.stderr, /force [0-9]|dirty|mark .* clean/i, 'never repair advice while a run is in flight');
    const r = await r1.done;
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    const history = JSON.parse((await world.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
    assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0', 'kagent-0.8.0'], 'one hand-off, by the first run');
  });

  /** The rollback in a real terminal (tmux), as an operator types it. */
  const inTerminalRun = (args: string[]) => inTerminal([world.plugin.helmBin, '-n', NS, 'schema-rollback', ...args], world.plugin.env);

  it('on a terminal, Ctrl-C at the question is a no (exit 15, nothing changed); y proceeds', async function () {
    if (!(await hasTmux())) this.skip();
    const no = await inTerminalRun(['kagent', '--to', '0.8.0', '--source', slow]);
    try {
      // The tables these downs drop hold no rows here: the plain question (rows would ask for the release name).
      await no.waitFor(/Proceed\? \[y\/N\] $/m);
      await no.keys('C-c');
      assert.equal(await no.exitCode(), 15);
      assert.match(await no.waitFor(/not confirmed: nothing was changed/), /not confirmed: nothing was changed/);
    } finally {
      await no.close();
    }
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    assert.equal(await replicas(), '2');
    const yes = await inTerminalRun(['kagent', '--to', '0.8.0', '--source', slow]);
    try {
      await yes.waitFor(/Proceed\? \[y\/N\] $/m);
      await yes.keys('y', 'Enter');
      assert.equal(await yes.exitCode(), 0);
      await yes.waitFor(/Rolled back kagent to chart kagent 0\.8\.0\./);
    } finally {
      await yes.close();
    }
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
  });
});
