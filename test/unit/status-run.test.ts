/**
 * How `status` shows the release's rollback run (src/cli/commands/status.ts): in progress (the
 * database lock is held), the last run that did not finish (its repairs and the command that
 * finishes), and nothing at all when there is neither.
 */
import assert from 'node:assert/strict';
import { renderStatus, runLines } from '../../src/cli/commands/status.js';
import type { RunRecord } from '../../src/core/ports.js';
import type { StatusReport } from '../../src/core/status.js';

const NEXT = 'run the same command again: helm -n ai schema-rollback kagent --to 0.8.0 --source ./m --yes';

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    release: 'kagent', namespace: 'ai', holder: 'ops@laptop (pid 42)', since: '2025-03-01T12:00:00.000Z', from: '0.9.0', to: '0.8.0',
    state: 'running', stopped: [{ ref: 'deployment/kagent-controller', replicas: 2 }],
    steps: [
      { name: 'scale deployment/kagent-controller 2->0', started: '2025-03-01T12:00:01.000Z', ended: '2025-03-01T12:00:02.000Z', result: 'ok' },
      { name: 'down core 13->8', started: '2025-03-01T12:00:03.000Z' },
    ],
    ...over,
  };
}

const report: StatusReport = {
  release: { name: 'kagent', namespace: 'ai', chart: 'kagent', version: '0.9.0', revision: 1, status: 'deployed' },
  contractSource: 'annotations',
  databaseUrlSource: 'flag --database-url',
  databaseRoute: 'direct',
  tracks: [{ track: 'core', tool: 'golang-migrate', table: 'schema_migrations', chartRevision: '13', databaseRevisions: ['10'], tableExists: true, dirty: true, inStep: false }],
  run: null,
};

describe('status: the run record', () => {
  it('a run holding the lock: who, since when, to which chart, and the step it is on', () => {
    const lines = runLines({ inProgress: true, record: record() }, 'kagent');
    assert.equal(lines[0], 'Rollback in progress by ops@laptop (pid 42) since 2025-03-01T12:00:00.000Z (to chart 0.8.0); step: down core 13->8 (started 2025-03-01T12:00:03.000Z)');
    assert.match(lines.join('\n'), /do not repair or force anything meanwhile/);
    assert.doesNotMatch(lines.join('\n'), /Next:|force [0-9]/, 'no repair advice while a run is in flight');
  });

  it('the lock held while the record is still the previous run\'s: in progress, the old record not passed off as the live run', () => {
    const lines = runLines({ inProgress: true, record: record({ state: 'failed', holder: 'old@box (pid 1)', repairs: { core: 'force 11' } }) }, 'kagent');
    assert.match(lines[0]!, /^Rollback of kagent in progress \(its database lock is held\); it has not written its run record yet$/);
    assert.doesNotMatch(lines.join('\n'), /old@box|force 11/);
  });

  it('a failed run: its state and step, each repair, then the command that finishes', () => {
    const repair = 'the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"';
    const lines = runLines({ inProgress: false, record: record({ state: 'failed', repairs: { core: repair }, next: NEXT }) }, 'kagent');
    assert.deepEqual(lines, [
      'Last rollback by ops@laptop (pid 42) since 2025-03-01T12:00:00.000Z (to chart 0.8.0) did not finish: failed at step down core 13->8',
      `  repair core: ${repair}`,
      `  Next: repair as said above, then ${NEXT}; a re-run continues from where the database is (tracks at their target are skipped)`,
    ]);
  });

  it('an interrupted run and a failed hand-off: no repair, straight to the command', () => {
    const interrupted = runLines({ inProgress: false, record: record({ state: 'interrupted', repairs: {}, next: NEXT }) }, 'kagent');
    assert.match(interrupted[0]!, /did not finish: interrupted at step down core 13->8$/);
    assert.equal(interrupted[1], `  Next: ${NEXT}; a re-run continues from where the database is (tracks at their target are skipped)`);
    const handoff = runLines({ inProgress: false, record: record({ state: 'handoff-failed', next: NEXT, steps: [{ name: 'helm upgrade kagent fixtures/kagent --version 0.8.0', started: 'T', result: 'failed' }] }) }, 'kagent');
    assert.match(handoff[0]!, /did not finish: the hand-off \(helm upgrade\) failed after the downs at step helm upgrade kagent fixtures\/kagent --version 0\.8\.0$/);
  });

  it('a record left "running" with the lock free: the run died; said so, and how to go on without its command', () => {
    const lines = runLines({ inProgress: false, record: record() }, 'kagent');
    assert.match(lines[0]!, /did not finish: its process ended without closing the record \(killed, or its machine lost\) at step down core 13->8$/);
    assert.match(lines.at(-1)!, /Next: run the rollback to 0\.8\.0 again, with the same flags; a re-run continues/);
  });

  it('a record that cannot be read: said, with whether a run holds the lock', () => {
    assert.match(runLines({ inProgress: false, record: null, unreadable: 'forbidden' }, 'kagent')[0]!, /^Run record of kagent not readable: forbidden; no rollback is in progress/);
    assert.match(runLines({ inProgress: true, record: null, unreadable: 'forbidden' }, 'kagent').join('\n'), /in progress \(its database lock is held\)[\s\S]*could not be read: forbidden/);
  });

  it('the report: the run above the table, and nothing extra without one', () => {
    const plain = renderStatus(report);
    assert.doesNotMatch(plain, /rollback/i);
    assert.match(plain, /--database-url\nTRACK/);
    const withRun = renderStatus({ ...report, run: { inProgress: false, record: record({ state: 'failed', next: NEXT }) } });
    assert.match(withRun, /\n\nLast rollback by [^\n]+\n  Next: [^\n]+\n\nTRACK/);
  });
});
