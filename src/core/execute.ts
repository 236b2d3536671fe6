/**
 * Carries out a prepared plan as a short sequence of named steps, each recorded in the run record
 * before and after it runs: take the release's run lock, check the tables are still as planned,
 * stop the workloads that migrate on start, run each track's downs and verify them, hand off to
 * `helm upgrade`. Every way out ends on a step boundary with an honest report:
 *
 * - a failed or interrupted down: where every track stands, read again from the database; the
 *   workloads are restored unless a track is left dirty or a step's outcome is unknown, because the
 *   newer code would then start on a table it misreads (kagent's controller runs Force(prev) on a
 *   dirty table and leaves it clean and wrong), and the exact repair;
 * - an interrupt after the downs: the workloads stay stopped (the newer code would migrate up
 *   again) and a re-run only hands off;
 * - an interrupt (first Ctrl-C, SIGTERM, SIGHUP) never cuts a step: the current one finishes and no
 *   other starts. A second Ctrl-C cancels the step in flight where the runner can (the tool's own
 *   bookkeeping then says where it stands).
 */
import { CommandFailedError, HandoffFailedError, InterruptedError, RefusedError, StepFailedError } from './errors.js';
import type { DatabaseConnector, DatabaseSession, TrackState, TrackStep } from './ports.js';
import { helmSays, type RollbackDeps } from './gather.js';
import { restartWorkloads, stopWorkloads, type WorkloadStop } from './workload-stops.js';
import type { HandoffTrackStanding, Prepared, RollbackEvent } from './rollback.js';
import { archiveAtRisk } from './data-at-risk.js';
import type { LockWaitPolicy } from './lock-wait.js';
import type { GitOpsHandoff } from './gitops.js';
import { dirtyRepairAdvice, RunJournal, takeRunLock } from './run-lock.js';
import { inStep } from './steps.js';

export interface RunControl {
  /** Aborted on the first interrupt: the current step finishes, no further step starts. */
  stop: AbortSignal;
  /** Aborted on the second: the step in flight is cancelled where the runner can. */
  abort: AbortSignal;
  /** USER@HOST (pid N), recorded as the run's holder. */
  holder: string;
  /** The command that finishes the job when this run does not: the same command again. */
  rerun: string;
  /** --lock-timeout and --lock-retries: the copy of the data at risk waits for locks as the downs do (defaults when absent). */
  lockWait?: Partial<LockWaitPolicy>;
}

export interface TrackStanding {
  track: string;
  state?: TrackState;
  target: string;
  outcome: 'done' | 'failed' | 'not started';
}

export async function execute(deps: RollbackDeps, prepared: Prepared, emit: (e: RollbackEvent) => void, control: RunControl): Promise<void> {
  const { plan, databaseUrl } = prepared;
  const release = plan.release;
  const lock = await takeRunLock(deps.connector, databaseUrl, { namespace: release.namespace, release: release.name, records: deps.runRecords });
  try {
    // Read again under the lock: a run that ended since the plan was made may have left a record.
    const previous = await deps.runRecords.read(release.name);
    if (previous) emit({ type: 'previous-run', record: previous });
    const stops = plan.stop;
    const journal = new RunJournal(
      deps.runRecords,
      {
        release: release.name, namespace: release.namespace, holder: control.holder, since: new Date().toISOString(),
        from: release.version, to: plan.target.version, state: 'running', stopped: stops, steps: [],
      },
      deps.log,
      (message) => emit({ type: 'warning', message }),
    );
    await journal.open();
    const steps = plan.decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
    await checkStillAsPlanned(deps, lock.session, steps);
    await runSteps(deps, prepared, steps, stops, journal, emit, control, lock.session);
    await journal.finish();
  } finally {
    await lock.release();
  }
}

/** Between the plan and the lock another run may have moved a table: act only on what was planned. */
async function checkStillAsPlanned(deps: RollbackDeps, session: DatabaseSession, steps: TrackStep[]): Promise<void> {
  const moved: string[] = [];
  for (const step of steps) {
    const state = await deps.tools.get(step.tool).readState(session, step.table);
    if (state.dirty || state.revisions.join(',') !== step.current.join(',')) {
      moved.push(`track ${step.track}: the table holds ${state.revisions.join(',') || 'base'}${state.dirty ? ' (dirty)' : ''}, the plan was made at ${step.current.join(',') || 'base'}`);
    }
  }
  if (moved.length > 0) throw new RefusedError(moved, 'something migrated since the plan (another rollback that finished, or the app): run the command again to plan from where the database is');
}

async function runSteps(
  deps: RollbackDeps,
  prepared: Prepared,
  steps: TrackStep[],
  stops: WorkloadStop[],
  journal: RunJournal,
  emit: (e: RollbackEvent) => void,
  control: RunControl,
  /** The run lock's session: each track's check after its downs reads on it. */
  lockSession: DatabaseSession,
): Promise<void> {
  const { plan, databaseUrl, runner } = prepared;
  const scaled: WorkloadStop[] = [];
  const done: string[] = [];
  const verified = new Map<string, TrackState>();
  let current: TrackStep | undefined;
  // The failed step's last lines: a tool's error names what failed (golang-migrate: the file).
  let output: string[] = [];
  const interruptedBefore = (what: string) => {
    if (control.stop.aborted) throw new InterruptedError(`interrupted before ${what}: the steps before it finished`, { hint: control.rerun });
  };
  try {
    await stopWorkloads(deps.kube, stops, scaled, journal, emit, interruptedBefore);
    // After the stop, so no row written later is missing from the copy; before the first down.
    if (plan.archive.enabled && plan.dataAtRisk.length > 0) {
      interruptedBefore('the copy of the data at risk');
      const entry = await journal.begin(`copy the data at risk into ${plan.archive.schema}`);
      await inStep(emit, `copying the data at risk into schema ${plan.archive.schema}`, () => archiveAtRisk(deps, plan, databaseUrl, emit, {
        policy: control.lockWait, signals: [control.stop, control.abort], onWait: (message) => emit({ type: 'warning', message }),
      }));
      await journal.end(entry, 'ok');
    }
    for (const step of steps) {
      interruptedBefore(`the downs of track ${step.track}`);
      current = step;
      const entry = await journal.begin(`down ${step.track} ${step.current.join(',') || 'base'}->${step.target}`, {
        track: step.track, reverting: [...step.revisions], before: [...step.current],
      });
      const progressStep = `track ${step.track}: down ${step.current.join(',') || 'base'} -> ${step.target}`;
      emit({ type: 'step:start', step: progressStep });
      emit({ type: 'track:start', step });
      const tool = deps.tools.get(step.tool);
      try {
        output = [];
        const onOutput = (line: string) => {
          output = [...output.slice(-19), line];
          emit({ type: 'track:output', track: step.track, line });
          // Only when the plan does not list the revisions (the tool in the image walks them): the
          // file named last is then the record's only clue to a repair. Best effort, in order (the
          // journal queues it, and the step's end is written after it).
          if (step.revisions.length === 0 && tool.offers.dirty?.namesDownFile(line)) void journal.noteFile(entry, line);
        };
        await runner.run(step, { databaseUrl, log: deps.log, stop: control.stop, abort: control.abort, onOutput });
        const state = await verify(deps, lockSession, step);
        verified.set(step.track, state);
        emit({ type: 'track:done', track: step.track, state });
        emit({ type: 'step:end', step: progressStep, outcome: 'ok', detail: `verified at ${state.revisions.join(',') || 'base'}` });
      } catch (err) {
        emit({ type: 'step:end', step: progressStep, outcome: 'failed' });
        await journal.end(entry, control.abort.aborted ? 'interrupted' : 'failed', err instanceof Error ? err.message : String(err));
        throw err;
      }
      await journal.end(entry, 'ok');
      done.push(step.track);
      current = undefined;
    }
  } catch (err) {
    await stopped(deps, { databaseUrl, steps, done, current, output, scaled, journal, emit, control, err });
    if (err instanceof InterruptedError) throw err.hint ? err : new InterruptedError(err.message, { hint: control.rerun, cause: err });
    throw control.stop.aborted ? new InterruptedError(`interrupted: ${err instanceof Error ? err.message : String(err)}`, { hint: control.rerun, cause: err }) : err;
  }
  // Every track is at its target. From here the newer code must not start again: it would migrate up.
  if (control.stop.aborted) {
    await journal.close('interrupted', { next: control.rerun });
    emit({ type: 'stopped', tracks: await standings(deps, databaseUrl, steps, done, undefined), workloads: scaled.length > 0 ? 'kept' : 'none', why: 'every track is at its target; the newer code would migrate the schema up again', repairs: {} });
    throw new InterruptedError('interrupted after the downs, before helm upgrade: every track is at its target, the release is still on its current chart', { hint: `${control.rerun} (it finds every track at its target and only hands off)` });
  }
  // GitOps mode: the controller applies the target once Git says so; helm upgrade would be undone by it.
  if (plan.gitops) return handOffToGit(plan.gitops, stops, journal, emit);
  const handoff = `helm upgrade ${plan.handoff.release} ${plan.handoff.chart} --version ${plan.handoff.version}`;
  const entry = await journal.begin(handoff);
  emit({ type: 'step:start', step: handoff });
  emit({ type: 'handoff:start', argv: ['helm', 'upgrade', plan.handoff.release, plan.handoff.chart, '--version', plan.handoff.version] });
  try {
    await deps.helm.upgrade(plan.handoff, (line) => emit({ type: 'handoff:output', line }));
  } catch (err) {
    emit({ type: 'step:end', step: handoff, outcome: 'failed' });
    await journal.end(entry, 'failed', err instanceof Error ? err.message : String(err));
    await journal.close('handoff-failed', { next: control.rerun });
    // Not restored: started now, the workloads that migrate on start would run the newer chart's
    // code on the older schema, and migrate it up again. The re-run's hand-off sets their replicas.
    const tracks = plan.decisions.flatMap((d): HandoffTrackStanding[] =>
      d.kind === 'revert'
        ? [{ track: d.step.track, outcome: 'verified', at: verified.get(d.step.track)?.revisions.join(',') || 'base', target: d.step.target }]
        : d.kind === 'skip' ? [{ track: d.track, outcome: 'skipped', reason: d.reason }] : []);
    emit({ type: 'handoff:failed', tracks, kept: stops });
    const said = err instanceof CommandFailedError ? `helm upgrade failed: ${helmSays(err.stderr)}` : err instanceof Error ? err.message : String(err);
    throw new HandoffFailedError(said, `fix what helm names, then ${control.rerun}: the tracks at their target are skipped and only the hand-off is retried`, err);
  }
  emit({ type: 'step:end', step: handoff, outcome: 'ok' });
  await journal.end(entry, 'ok');
}

/**
 * GitOps mode's hand-off: the Git change, printed. The stopped workloads stay at 0: started now, the
 * newer chart's code would migrate the schema up again; the controller's sync of the target chart
 * sets their replicas.
 */
async function handOffToGit(handoff: GitOpsHandoff, stops: WorkloadStop[], journal: RunJournal, emit: (e: RollbackEvent) => void): Promise<void> {
  const entry = await journal.begin(`print the Git change for ${handoff.object}`);
  emit({ type: 'gitops:handoff', handoff, kept: stops });
  await journal.end(entry, 'ok');
}

/**
 * A failure or interrupt before the hand-off: where every track stands, the workloads restored or
 * kept (and why), the record closed with the exact repairs.
 */
async function stopped(
  deps: RollbackDeps,
  s: {
    databaseUrl: string; steps: TrackStep[]; done: string[]; current: TrackStep | undefined; output: string[]; scaled: WorkloadStop[];
    journal: RunJournal; emit: (e: RollbackEvent) => void; control: RunControl; err: unknown;
  },
): Promise<void> {
  const tracks = await standings(deps, s.databaseUrl, s.steps, s.done, s.current);
  const repairs: Record<string, string> = {};
  for (const t of tracks) {
    const step = s.steps.find((x) => x.track === t.track)!;
    const repair = t.state && dirtyRepairAdvice(deps.tools.get(step.tool), t.state, step.revisions, step === s.current ? s.output : [], step.table);
    if (repair) repairs[t.track] = repair;
    else if (t.state?.dirty) repairs[t.track] = `the table is dirty at ${t.state.revisions.join(',') || '-1'}: see which statements of the failed step ran, make the schema whole, then mark the true version clean with the tool`;
  }
  const dirty = tracks.filter((t) => t.state?.dirty || (t.outcome === 'failed' && t.state === undefined)).map((t) => t.track);
  // A step cancelled while a Job or a remote command ran: its outcome is not known yet.
  const unknown = s.control.abort.aborted && s.current !== undefined && !(s.err instanceof StepFailedError);
  let workloads: 'restored' | 'kept' | 'none' = s.scaled.length === 0 ? 'none' : 'restored';
  let why: string | undefined;
  if (s.scaled.length > 0 && (dirty.length > 0 || unknown)) {
    workloads = 'kept';
    why = dirty.length > 0
      ? `track ${dirty.join(', ')} is dirty or unreadable: the newer code, started on it, would take it for a failed up and mark it clean at the wrong version`
      : `the step in flight was cancelled and its outcome is not known yet`;
  } else {
    await restartWorkloads(deps.kube, s.scaled, s.emit, deps.log);
  }
  const interrupted = s.control.stop.aborted || s.err instanceof InterruptedError;
  await s.journal.close(interrupted ? 'interrupted' : 'failed', { repairs, next: s.control.rerun });
  s.emit({ type: 'stopped', tracks, workloads, why, repairs });
}

/** The runner said it is done; the version table must say so too, as the tool would have left it. */
async function verify(deps: RollbackDeps, session: DatabaseSession, step: TrackStep): Promise<TrackState> {
  const tool = deps.tools.get(step.tool);
  const state = await tool.readState(session, step.table);
  const landed = step.target === 'base'
    ? state.revisions.length === 0
    : state.revisions.length === 1 && (state.revisions[0] === step.target || tool.order?.names?.(step.target, state.revisions[0]!) === true);
  if (state.dirty || !landed) {
    throw new StepFailedError(step.track, step.target, new Error(`after the downs the table holds ${state.revisions.join(',') || 'base'}${state.dirty ? ' (dirty)' : ''}, not ${step.target}`));
  }
  return state;
}

/** Where every track of the plan stands after a failure, read again from the database (best effort). */
async function standings(deps: RollbackDeps, url: string, steps: TrackStep[], done: string[], failed: TrackStep | undefined): Promise<TrackStanding[]> {
  let session: Awaited<ReturnType<DatabaseConnector['connect']>> | undefined;
  try {
    session = await deps.connector.connect(url);
  } catch {
    session = undefined;
  }
  const out: TrackStanding[] = [];
  for (const step of steps) {
    const outcome = done.includes(step.track) ? 'done' : step === failed ? 'failed' : 'not started';
    const state = session ? await deps.tools.get(step.tool).readState(session, step.table).catch(() => undefined) : undefined;
    out.push({ track: step.track, state, target: step.target, outcome });
  }
  await session?.close();
  return out;
}
