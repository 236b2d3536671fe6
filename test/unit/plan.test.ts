/**
 * The rollback's plan from plain facts: no double, no database, no cluster. Each case is a fact a
 * gather could have read (facts.ts) and what the plan makes of it: the steps, or every refusal at
 * once with the exit code the CLI returns.
 */
import assert from 'node:assert/strict';
import { ExitCode } from '../../src/core/errors.js';
import type { RollbackFacts, TrackFacts } from '../../src/core/facts.js';
import { planRollback, refusalError, releaseRefusals } from '../../src/core/plan.js';
import type { ReleaseInfo, TrackState } from '../../src/core/ports.js';
import { alembic } from '../../src/tools/alembic.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';

const release: ReleaseInfo = { name: 'kagent', namespace: 'ai', revision: 3, status: 'deployed', chart: 'kagent', version: '0.9.0', annotations: {} };
const at = (...revisions: string[]): TrackState => ({ tableExists: true, revisions, dirty: false });

const gmTrack = (name: string, chartRevision: string, state: TrackState, table = 'schema_migrations'): TrackFacts => ({
  spec: { name, tool: 'golang-migrate', revision: chartRevision, table },
  tool: golangMigrate,
  table: { table },
  state,
});

/** kagent 0.9.0 -> 0.8.0: core 13 -> 8, vector 3 -> 1, the native runner, every check passed. */
function kagent(over: Partial<RollbackFacts> = {}): RollbackFacts {
  return {
    request: { to: '0.8.0', runner: 'native', extraHelmArgs: [], archive: { enabled: true, maxBytes: 1024 ** 3 } },
    release,
    target: { name: 'kagent', version: '0.8.0', annotations: {}, ref: 'fixtures/kagent' },
    targets: { core: { revision: '8', source: 'annotations' }, vector: { revision: '1', source: 'annotations' } },
    tracks: [gmTrack('core', '13', at('13')), gmTrack('vector', '3', at('3'), 'vector_schema_migrations')],
    names: { 'Release.Name': 'kagent', 'Release.Namespace': 'ai', 'Chart.Name': 'kagent' },
    workload: 'deployment/kagent-controller',
    database: { urlSource: 'deployment/kagent-controller container controller env DATABASE_URL', route: 'direct' },
    runLock: { held: false },
    handoffCheck: { ok: true },
    stop: [{ ref: 'deployment/kagent-controller', replicas: 2 }],
    stopFrom: 'schema-rollback.io/stop',
    runner: { name: 'native' },
    permissions: { checked: [{ verb: 'get', group: 'apps', resource: 'deployments', name: 'kagent-controller', namespace: 'ai', for: 'to read its replicas' }], missing: [] },
    previews: {
      core: { downs: ['13', '12', '11', '10', '9'].map((r) => ({ revision: r, to: String(Number(r) - 1), file: `0000${r}_x.down.sql` })) },
      vector: { downs: [{ revision: '3', to: '2', file: '000003_v.down.sql' }, { revision: '2', to: '1', file: '000002_v.down.sql' }] },
    },
    dataAtRisk: [],
    ...over,
  };
}

const reasons = (facts: RollbackFacts) => planRollback(facts).refusals.map((r) => r.reason);

describe('plan(facts): the complete plan', () => {
  it('reverts each track in the reverse of its up order, with the downs and revisions the runner read from the files', () => {
    const plan = planRollback(kagent());
    assert.deepEqual(plan.refusals, []);
    assert.deepEqual(plan.decisions.map((d) => d.kind === 'revert' && [d.step.track, d.step.current, d.step.target, d.step.revisions]), [
      ['vector', ['3'], '1', ['3', '2']],
      ['core', ['13'], '8', ['13', '12', '11', '10', '9']],
    ]);
    assert.deepEqual(plan.stop, [{ ref: 'deployment/kagent-controller', replicas: 2 }]);
    assert.deepEqual(plan.handoff, { release: 'kagent', chart: 'fixtures/kagent', version: '0.8.0', reuseValues: 'reset-then-reuse', extra: [] });
    assert.deepEqual(plan.archive, { enabled: true, schema: 'schema_rollback_archive', maxBytes: 1024 ** 3, bytes: 0 });
  });

  it('is frozen all the way down: nothing between the plan and its execution can change it', () => {
    const plan = planRollback(kagent());
    const step = plan.decisions[0]!.kind === 'revert' ? plan.decisions[0]!.step : undefined;
    assert.throws(() => { (step!.revisions as string[]).push('1'); }, TypeError);
    assert.throws(() => { (plan.stop[0] as { replicas: number }).replicas = 0; }, TypeError);
    assert.throws(() => { (plan.handoff as { version: string }).version = '0.1.0'; }, TypeError);
  });

  it("renders each track's down command for runners that run the tool in the app's image, with the release's names", () => {
    const main: TrackFacts = { spec: { name: 'main', tool: 'alembic', revision: '0010', command: ['alembic', '-x', 'app={{ .Fullname }}', 'downgrade', '{{ .Revision }}'] }, tool: alembic, table: { table: 'alembic_version' }, state: at('0010') };
    const plan = planRollback(kagent({
      request: { ...kagent().request, runner: 'job' }, runner: { name: 'job' }, tracks: [main], previews: {},
      targets: { main: { revision: '0008', source: 'flag' } },
      names: { ...kagent().names, Fullname: 'kagent-app' },
    }));
    const d = plan.decisions[0]!;
    assert.deepEqual(d.kind === 'revert' && [d.step.command, d.step.revisions], [['alembic', '-x', 'app=kagent-app', 'downgrade', '0008'], []]);
    assert.deepEqual(plan.targetSources, { main: 'flag' });
  });

  it('skips a track already at its target, and plans the others', () => {
    const plan = planRollback(kagent({ tracks: [gmTrack('core', '13', at('13')), gmTrack('vector', '3', at('1'), 'vector_schema_migrations')] }));
    assert.deepEqual(plan.refusals, []);
    assert.deepEqual(plan.decisions.map((d) => d.kind), ['skip', 'revert']);
    assert.deepEqual(plan.decisions[0], { kind: 'skip', track: 'vector', reason: 'already at 1' });
  });

  it('keeps a workload an earlier run left at 0 at 0, restoring it later to the replicas that run recorded', () => {
    const previousRun = { release: 'kagent', namespace: 'ai', holder: 'ann@laptop (pid 1)', since: '2026-12-01T10:00:00Z', from: '0.9.0', to: '0.8.0', state: 'handoff-failed' as const, stopped: [{ ref: 'deployment/kagent-controller', replicas: 3 }], steps: [] };
    const plan = planRollback(kagent({ previousRun, stop: [{ ref: 'deployment/kagent-controller', replicas: 0 }] }));
    assert.deepEqual(plan.stop, [{ ref: 'deployment/kagent-controller', replicas: 3, atZero: true }]);
  });
});

describe('plan(facts): refusals, all in one list', () => {
  it('refuses the release already at the target version (nothing to do) and a newer version (an upgrade)', () => {
    assert.deepEqual(releaseRefusals(release, '0.9.0'), [{ code: ExitCode.refused, reason: 'release kagent is already at chart version 0.9.0', hint: 'nothing to do' }]);
    assert.equal(releaseRefusals(release, '1.0.0')[0]!.code, ExitCode.usage);
    assert.deepEqual(releaseRefusals(release, '0.8.0'), []);
  });

  it('a dirty track: golang-migrate\'s dirty semantics, or the exact repair an earlier run of the plugin recorded', () => {
    const dirty = kagent({ tracks: [gmTrack('core', '13', { tableExists: true, revisions: ['10'], dirty: true }), kagent().tracks[1]!] });
    const [refusal] = planRollback(dirty).refusals;
    assert.equal(refusal!.code, ExitCode.refused);
    assert.match(refusal!.reason, /^track core: golang-migrate table schema_migrations is dirty at 10/);
    assert.match(refusal!.hint!, /force NEXT/);
    const repairs = { core: 'the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"' };
    const previousRun = { release: 'kagent', namespace: 'ai', holder: 'h', since: 's', from: '0.9.0', to: '0.8.0', state: 'failed' as const, stopped: [], steps: [], repairs };
    assert.equal(planRollback({ ...dirty, previousRun }).refusals[0]!.hint, repairs.core);
  });

  it('drift: a database ahead of the release\'s chart is refused; one behind it is planned with a warning', () => {
    assert.deepEqual(reasons(kagent({ tracks: [gmTrack('core', '13', at('14'))], previews: {} })), [
      "track core: the database (14) is ahead of the release's chart (13): its down files are not in this version",
    ]);
    const behind = planRollback(kagent({ tracks: [gmTrack('core', '13', at('11'))], previews: {} }));
    assert.deepEqual(behind.refusals, []);
    assert.match(behind.decisions[0]!.kind === 'revert' ? behind.decisions[0]!.warning ?? '' : '', /the database \(11\) is behind the release's chart \(13\)/);
  });

  it('an unknown revision: the target chart lacks the track; an alembic table on a revision the chart does not name', () => {
    assert.match(reasons(kagent({ targets: { core: { revision: '8', source: 'annotations' } } }))[0]!, /^track vector: the target chart has no track "vector"/);
    const main: TrackFacts = { spec: { name: 'main', tool: 'alembic', revision: '0010' }, tool: alembic, table: { table: 'alembic_version' }, state: at('0009') };
    assert.deepEqual(reasons(kagent({ tracks: [main], targets: { main: { revision: '0008', source: 'annotations' } }, previews: {} })), [
      "track main: the database (0009) is not at the revision the release's chart expects (0010)",
    ]);
  });

  it('several heads in an alembic table', () => {
    const main: TrackFacts = { spec: { name: 'main', tool: 'alembic', revision: '0010' }, tool: alembic, table: { table: 'alembic_version' }, state: at('0003', '0102') };
    const [refusal] = planRollback(kagent({ tracks: [main], targets: { main: { revision: '0008', source: 'annotations' } }, previews: {} })).refusals;
    assert.match(refusal!.reason, /^track main: alembic_version holds several heads \(0003, 0102\)/);
    assert.match(refusal!.hint!, /alembic downgrade BRANCH@REV/);
  });

  it('a missing down file the runner found in its preview: the track named, the runner\'s fix', () => {
    const plan = planRollback(kagent({
      previews: { ...kagent().previews, core: { refused: { reasons: ['13 -> 12: no down file 000013_x.down.sql in DIR'], hint: 'give the complete migrations (--source), or pass --allow-missing-downs' } } },
    }));
    assert.deepEqual(plan.refusals, [{ code: ExitCode.refused, reason: 'track core: 13 -> 12: no down file 000013_x.down.sql in DIR', hint: 'give the complete migrations (--source), or pass --allow-missing-downs' }]);
  });

  it('a hand-off the dry run on the server refused, with helm\'s words', () => {
    const [refusal] = planRollback(kagent({ handoffCheck: { ok: false, helmSays: 'template: kagent/templates/x.yaml:3: nil pointer' } })).refusals;
    assert.equal(refusal!.code, ExitCode.refused);
    assert.equal(refusal!.reason, 'the hand-off would fail: helm upgrade kagent fixtures/kagent --version 0.8.0 --dry-run=server says: template: kagent/templates/x.yaml:3: nil pointer');
  });

  it('--atomic after "--", which would undo a failed hand-off onto the older schema', () => {
    assert.match(reasons(kagent({ request: { ...kagent().request, extraHelmArgs: ['--atomic'] } }))[0]!, /^--atomic after "--": if the hand-off failed, helm would roll the release back/);
  });

  it('permissions denied: exit 24, each missing request and what it is for, the Role rules as the fix', () => {
    const missing = [{ verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', name: 'kagent-controller', namespace: 'ai', for: 'to scale it to 0' }];
    const plan = planRollback(kagent({ permissions: { checked: [], missing } }));
    assert.equal(plan.refusals.length, 1);
    const err = refusalError(plan.refusals);
    assert.equal(err.code, ExitCode.permissionDenied);
    assert.match(err.message, /lacks permissions the rollback needs; nothing was changed:\n {2}- patch deployments\/scale \(group apps\) kagent-controller in namespace ai: to scale it to 0/);
    assert.match(err.hint!, /resources: \["deployments\/scale"\], resourceNames: \["kagent-controller"\], verbs: \["patch"\]/);
  });

  it('a copy of the data at risk over --archive-max-size', () => {
    const item = { track: 'core', kind: 'drop-table' as const, schema: 'public', table: 'agent_instances', exists: true, rows: 10, source: '000009_x.down.sql', statement: 'DROP TABLE agent_instances', copyBytes: 5000 };
    const plan = planRollback(kagent({ dataAtRisk: [item], request: { ...kagent().request, archive: { enabled: true, maxBytes: 1000 } } }));
    assert.match(plan.refusals[0]!.reason, /over --archive-max-size 1000 bytes/);
    assert.deepEqual(planRollback(kagent({ dataAtRisk: [item], request: { ...kagent().request, archive: { enabled: false, maxBytes: 1000 } } })).refusals, []);
  });

  it('two refusals at once: both listed, the exit code of the first by precedence (hand-off before permissions)', () => {
    const missing = [{ verb: 'create', group: 'batch', resource: 'jobs', namespace: 'ai', for: 'to run the downs in a Job' }];
    const plan = planRollback(kagent({ handoffCheck: { ok: false, helmSays: 'bad values' }, permissions: { checked: [], missing } }));
    assert.deepEqual(plan.refusals.map((r) => r.code), [ExitCode.refused, ExitCode.permissionDenied]);
    const err = refusalError(plan.refusals);
    assert.equal(err.code, ExitCode.refused);
    assert.match(err.message, /^refused:\n {2}- the hand-off would fail: .*bad values\n {2}- the Kubernetes user lacks permissions .*:\n {6}- create jobs \(group batch\) in namespace ai: to run the downs in a Job$/);
    assert.match(err.hint!, /fix what helm names[\s\S]*grant them/);
  });

  it('two refused tracks read as one refusal, as they always did (exit 12, one list, each hint once)', () => {
    const dirty = { tableExists: true, revisions: ['2'], dirty: true };
    const err = refusalError(planRollback(kagent({ tracks: [gmTrack('core', '13', dirty), gmTrack('vector', '3', dirty, 'vector_schema_migrations')] })).refusals);
    assert.equal(err.code, ExitCode.refused);
    assert.match(err.message, /^refused:\n {2}- track vector: .*dirty at 2.*\n {2}- track core: .*dirty at 2/);
    assert.equal(err.hint!.split('force NEXT').length, 2, 'the same hint once');
  });

  it('a release whose run lock another run holds: that refusal first (exit 13), not the half-done tables', () => {
    const plan = planRollback(kagent({
      runLock: { held: true, message: 'a rollback of kagent is in progress by bob@ci since T: nothing was changed', hint: 'wait for it to end' },
      tracks: [gmTrack('core', '13', { tableExists: true, revisions: ['12'], dirty: true })],
      previews: {},
    }));
    assert.deepEqual(plan.refusals, [{ code: ExitCode.locked, reason: 'a rollback of kagent is in progress by bob@ci since T: nothing was changed', hint: 'wait for it to end' }]);
    assert.equal(refusalError(plan.refusals).name, 'LockedError');
  });

  it('a runner that cannot serve the release (the exec runner in a workload the rollback stops)', () => {
    const refused = { code: ExitCode.refused, reason: 'the exec runner runs the downs in a pod of deployment/kagent-controller, which the rollback stops', hint: 'name another workload' };
    assert.deepEqual(planRollback(kagent({ runner: { name: 'exec', refused }, previews: {} })).refusals, [refused]);
  });
});
