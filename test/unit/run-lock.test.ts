import assert from 'node:assert/strict';
import type { RunRecord } from '../../src/core/ports.js';
import { repairFromUnfinishedDown } from '../../src/core/run-lock.js';
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
