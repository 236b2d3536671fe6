import assert from 'node:assert/strict';
import type { RunRecord } from '../../src/core/ports.js';
import { repairFromUnfinishedDown, RunJournal } from '../../src/core/run-lock.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';

/** The record a run leaves when it dies inside core's down (SIGKILL): the step never ended, no repairs. */
function died(down: NonNullable<RunRecord['steps'][number]['down']>, ended?: string): RunRecord {
  return {
    release: 'kagent', namespace: 'ai', holder: 'ops@laptop (pid 1)', since: '2026-01-01T00:00:00Z', from: '0.9.0', to: '0.8.0', state: 'running',
    stopped: [{ ref: 'deployment/kagent-controller', replicas: 2 }],
    steps: [
      { name: 'scale deployment/kagent-controller 2->0', started: 't', ended: 't', result: 'ok' },
      { name: 'down core 13->8', started: 't', ...(ended ? { ended, result: 'failed' as const } : {}), down },
    ],
  };
}

const dirtyAt = (v: string) => ({ tableExists: true, revisions: [v], dirty: true });

describe('run record: the repair of a track a dead run left dirty', () => {
  it('names the file PostgreSQL rolled back: from the revisions the step reverted (native), or the last file its output named (job, exec)', () => {
    assert.equal(
      repairFromUnfinishedDown(died({ track: 'core', reverting: ['13', '12', '11', '10', '9'], before: ['13'] }), 'core', golangMigrate, dirtyAt('10')),
      'the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"',
    );
    assert.equal(
      repairFromUnfinishedDown(died({ track: 'core', reverting: [], before: ['13'], lastFileLine: 'error in line 0: 000011_agent_instance_tasks.down.sql' }), 'core', golangMigrate, dirtyAt('10')),
      'the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"',
    );
  });

  it('says nothing it cannot know: a step that ended (its run wrote the repairs), another track, a clean table, a dirty version not below where the step began, no clue at all', () => {
    const down = { track: 'core', reverting: ['13', '12', '11', '10', '9'], before: ['13'] };
    assert.equal(repairFromUnfinishedDown(died(down, 't'), 'core', golangMigrate, dirtyAt('10')), undefined);
    assert.equal(repairFromUnfinishedDown(died(down), 'vector', golangMigrate, dirtyAt('10')), undefined);
    assert.equal(repairFromUnfinishedDown(died(down), 'core', golangMigrate, { ...dirtyAt('10'), dirty: false }), undefined);
    assert.equal(repairFromUnfinishedDown(died(down), 'core', golangMigrate, dirtyAt('13')), undefined, 'dirty at 13: not from this down (an up of 13 failed since)');
    assert.equal(repairFromUnfinishedDown(died({ track: 'core', reverting: [], before: ['13'] }), 'core', golangMigrate, dirtyAt('10')), undefined);
    assert.equal(repairFromUnfinishedDown(undefined, 'core', golangMigrate, dirtyAt('10')), undefined);
  });
});

describe('run record: a step\'s start is written before the step runs; its end shares the next write', () => {
  /** A record port that keeps a copy of the record at each write, as the cluster would hold it. */
  function recordingPort() {
    const writes: RunRecord[] = [];
    let removed = 0;
    let wrote: (() => void) | undefined;
    return {
      writes,
      removed: () => removed,
      nextWrite: () => new Promise<void>((resolve) => { wrote = resolve; }),
      port: {
        read: async () => undefined,
        write: async (record: RunRecord) => { writes.push(structuredClone(record)); wrote?.(); },
        remove: async () => { removed++; },
      },
    };
  }
  const log = { debug: () => {}, info: () => {} } as unknown as ConstructorParameters<typeof RunJournal>[2];
  const record = (): RunRecord => ({ release: 'kagent', namespace: 'ai', holder: 'h', since: 't', from: '0.9.0', to: '0.8.0', state: 'running', stopped: [], steps: [] });

  it('writes each start before begin returns, the previous end with it, and no end a finished run removes', async () => {
    const r = recordingPort();
    const journal = new RunJournal(r.port, record(), log, () => {});
    await journal.open();
    const scale = await journal.begin('scale deployment/x 2->0');
    assert.equal(r.writes.length, 2, 'the start is durable before the step runs');
    assert.equal(r.writes[1]!.steps[0]!.name, 'scale deployment/x 2->0');
    await journal.end(scale, 'ok');
    assert.equal(r.writes.length, 2, 'the end waits for the next write');
    const down = await journal.begin('down core 13->8', { track: 'core', reverting: ['13'], before: ['13'] });
    assert.equal(r.writes.length, 3, 'one write for the end of one step and the start of the next');
    assert.deepEqual(r.writes[2]!.steps.map((s) => [s.name, s.result]), [['scale deployment/x 2->0', 'ok'], ['down core 13->8', undefined]]);
    await journal.end(down, 'ok');
    await journal.finish();
    assert.equal(r.writes.length, 3, 'a finished run removes its record: its last end is not written first');
    assert.equal(r.removed(), 1);
  });

  it('writes a waiting end with the run\'s close, or alone when no other write comes', async () => {
    const closed = recordingPort();
    const a = new RunJournal(closed.port, record(), log, () => {});
    await a.open();
    await a.end(await a.begin('down core 13->8'), 'failed', 'boom');
    await a.close('failed', { next: 'helm schema-rollback kagent --to 0.8.0' });
    assert.equal(closed.writes.length, 3);
    assert.deepEqual([closed.writes[2]!.state, closed.writes[2]!.steps[0]!.result, closed.writes[2]!.steps[0]!.detail], ['failed', 'failed', 'boom']);

    const alone = recordingPort();
    const b = new RunJournal(alone.port, record(), log, () => {});
    await b.open();
    const step = await b.begin('copy the data at risk into schema_rollback_archive');
    const flushed = alone.nextWrite();
    await b.end(step, 'ok');
    await flushed;
    assert.equal(alone.writes.length, 3);
    assert.equal(alone.writes[2]!.steps[0]!.result, 'ok');
  });
});
