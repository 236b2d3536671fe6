/**
 * The rollback action, shaped like Helm's pkg/action: prepare() reads everything and plans, changing
 * nothing (it is all --dry-run does); execute() stops the workloads that migrate on start, runs each
 * track's downs with the CURRENT version's code, verifies each version table, and hands off to
 * `helm upgrade --version TARGET`. A failure before the hand-off restores the workloads and says
 * where each track stands. The hand-off is checked in prepare (helm upgrade --dry-run) before
 * anything changes; if the real one still fails, the workloads stay at 0 (the newer code would
 * migrate the schema up again) and a re-run of the same command retries only the hand-off.
 */
import { valid as semverValid, gt as semverGt } from 'semver';
import { parseContract } from './contract.js';
import { openDatabase, type PortForwardChoice } from './database-route.js';
import { resolveDatabaseUrl, splitRef } from './database-url.js';
import { discoverTargetRevisions } from './discover.js';
import { CommandFailedError, HandoffFailedError, RefusedError, RollbackError, StepFailedError, UsageError } from './errors.js';
import { planTrack, type TrackDecision } from './planner.js';
import type {
  ChartInfo, ChartPort, ChartRenderPort, DatabaseConnector, DatabaseSession, DiscoveryCachePort, HelmPort, HelmUpgradePort, KubePort,
  KubeScalePort, Log, PortForwardPort, ProbePort, ReleaseInfo, Runner, ToolRegistry, TrackState, TrackStep, UpgradeRequest,
} from './ports.js';
import { renderName, resolveContract, type ContractOverrides, type TrackSpec } from './resolve.js';

export interface RollbackDeps {
  helm: HelmPort & ChartPort & HelmUpgradePort & ChartRenderPort;
  kube: KubePort & KubeScalePort;
  /** Runs a tool's heads command in the target version's image, for charts that do not say their revision. */
  probe: ProbePort;
  discoveryCache: DiscoveryCachePort;
  connector: DatabaseConnector;
  /** kubectl port-forward, for a database that answers only inside the cluster. */
  forwarder: PortForwardPort;
  tools: ToolRegistry;
  /** The runner the user chose, built by the CLI (which knows processes and sockets) for this release. */
  runnerFor(context: RunnerChoice): Promise<Runner>;
  log: Log;
}

export interface RollbackOptions {
  release: string;
  /** The chart version to roll back to. */
  to: string;
  /** The chart to take the target from; default: the release's chart name in the user's repositories. */
  chart?: string;
  overrides: ContractOverrides;
  databaseUrl?: string;
  databaseUrlFromEnv?: string;
  /** --port-forward, --port-forward-target; default auto. */
  portForward?: PortForwardChoice;
  runner: string;
  /**
   * The target's revision for one track (the only one, or the --track one). It wins over the target
   * chart's annotations and skips discovery.
   */
  targetRevision?: string;
  /** The user's helm flags after `--`, passed to helm upgrade. */
  extraHelmArgs: string[];
  /**
   * --dry-run: also run the tool's offline SQL command (alembic downgrade FROM:TO --sql) where the
   * downs would run, for tracks on the tool's default down command, and put it in the plan.
   */
  sqlPreview?: boolean;
}

export interface RunnerChoice {
  name: string;
  release: ReleaseInfo;
  /** The rendered workload that holds the current version's code (job and exec runners clone or enter it). */
  workload?: string;
  container?: string;
  tracks: string[];
  /** The rendered workloads the rollback scales to 0 before any down (the exec runner cannot run in one of them). */
  stop: string[];
}

export interface WorkloadStop {
  ref: string;
  /** spec.replicas before the rollback, restored on failure. */
  replicas: number;
}

/**
 * Where a track's target revision came from: the target chart's annotations, --target-revision, or
 * discovered in the target version's image (a Job ran its heads command; or a cached answer of one).
 */
export type TargetSource = 'annotations' | 'flag' | 'discovered' | 'discovered (cached)';

export interface RollbackPlan {
  release: ReleaseInfo;
  target: ChartInfo & { ref: string };
  /** Per track: its target revision's source. Absent for a track the target chart does not have. */
  targetSources: Record<string, TargetSource>;
  /** Per discovered track: the target version's image and the command that said its revision. */
  discovered: Record<string, { image: string; command: string[] }>;
  databaseUrlSource: string;
  /** How the database is reached: "direct", or the kubectl port-forward used (Service and ports, never the URL). */
  databaseRoute: string;
  runner: string;
  /** In execution order: the reverse of the tracks' up order. */
  decisions: TrackDecision[];
  stop: WorkloadStop[];
  /** Rendered workload that holds the current version's code (for the job and exec runners). */
  workload?: string;
  container?: string;
  handoff: UpgradeRequest;
  /** How the hand-off was checked in prepare, before anything changed. */
  handoffCheck: 'helm upgrade --dry-run=server';
  /**
   * Set when the release's newest revision is a failed upgrade to the target version (a hand-off
   * that did not finish): the release is then its deployed revision, the one that still runs, and
   * this run retries the hand-off after whatever downs remain.
   */
  unfinishedHandoff?: { revision: number };
}

export type RollbackEvent =
  | { type: 'scaled'; ref: string; from: number; to: number }
  | { type: 'track:start'; step: TrackStep }
  | { type: 'track:output'; track: string; line: string }
  | { type: 'track:done'; track: string; state: TrackState }
  | { type: 'stopped'; tracks: Array<{ track: string; state?: TrackState; target: string; outcome: 'done' | 'failed' | 'not started' }> }
  | { type: 'handoff:start'; argv: string[] }
  | { type: 'handoff:output'; line: string }
  /** helm upgrade failed after the downs: where every track stands (at its target) and the workloads kept at 0. */
  | { type: 'handoff:failed'; tracks: HandoffTrackStanding[]; kept: WorkloadStop[] };

/** A track when the hand-off failed: its downs done and verified in this run, or skipped by the plan (the reason says where it is). */
export type HandoffTrackStanding =
  | { track: string; outcome: 'verified'; at: string; target: string }
  | { track: string; outcome: 'skipped'; reason: string };

export interface Prepared {
  plan: RollbackPlan;
  /**
   * Kept out of the plan so that printing a plan can never print it. Through a port-forward, this is
   * the URL of the forward's local end: the runner and the checks connect with it.
   */
  databaseUrl: string;
  runner: Runner;
  /** Stops the port-forward, if one was started; call it once the plan is executed or dropped. */
  close(): Promise<void>;
}

export async function prepare(deps: RollbackDeps, opts: RollbackOptions): Promise<Prepared> {
  const { release, unfinishedHandoff } = await releaseToRollBack(deps, opts);
  checkTargetVersion(release, opts.to);
  const current = resolveContract(release, opts.overrides, deps.tools);
  const ref = opts.chart ?? (await deps.helm.findChartRef(release.chart));
  const target = { ...(await deps.helm.showChart(ref, opts.to)), ref };
  const workload = current.run.workload && (await renderName(current.run.workload, release, deps.helm));
  const { url, source } = await resolveDatabaseUrl(deps.kube, {
    flag: opts.databaseUrl,
    environment: opts.databaseUrlFromEnv,
    workload,
    container: current.run.container,
    variable: current.run.databaseUrlEnv,
  });
  // Before the database is opened: discovery may run a Job, and a port-forward should not idle meanwhile.
  const targets = await targetRevisions(deps, opts, release, target, current.tracks, workload, current.run.container);
  const targetOf = (t: TrackSpec) => targets.get(t.name)?.revision;
  const route = await openDatabase(deps, url, { mode: 'auto', ...opts.portForward, namespace: release.namespace });
  try {
    const decisions = await decide(deps, route.session, current.tracks, targetOf, release).finally(() => route.session.close());
    const handoff: UpgradeRequest = { release: release.name, chart: ref, version: opts.to, reuseValues: 'reset-then-reuse', extra: opts.extraHelmArgs };
    // Before the first down: a hand-off that cannot even render would leave the schema down and the
    // newer chart's workloads at 0. Listed with the tracks' refusals, so one run shows every problem.
    const refusals = [
      ...decisions.flatMap((d) => (d.kind === 'refuse' ? [{ reason: `track ${d.track}: ${d.reason}`, hint: d.hint }] : [])),
      ...rollbackOnFailure(opts.extraHelmArgs, release, target),
      ...(await checkHandoff(deps, handoff, target)),
    ];
    if (refusals.length > 0) throw new RefusedError(refusals.map((r) => r.reason), refusals.map((r) => r.hint).join('; '));
    const stop: WorkloadStop[] = [];
    for (const template of current.run.stop) {
      const stopRef = await renderName(template, release, deps.helm);
      const [kind, name] = splitRef(stopRef);
      stop.push({ ref: stopRef, replicas: await deps.kube.getReplicas(kind, name) });
    }
    const runner = await deps.runnerFor({
      name: opts.runner, release, workload, container: current.run.container, tracks: current.tracks.map((t) => t.name), stop: stop.map((w) => w.ref),
    });
    for (const d of decisions) if (d.kind === 'revert' && runner.preview) d.step.revisions = await runner.preview(d.step);
    if (opts.sqlPreview && runner.capture) {
      for (const d of decisions) {
        const spec = current.tracks.find((t) => d.kind === 'revert' && t.name === d.step.track);
        if (d.kind === 'revert' && spec) await previewSql(deps, runner, spec, d.step, release, route.url);
      }
    }
    const plan: RollbackPlan = {
      release,
      target,
      targetSources: Object.fromEntries([...targets].map(([track, t]) => [track, t.source])),
      discovered: Object.fromEntries([...targets].flatMap(([track, t]) => (t.discovered ? [[track, t.discovered]] : []))),
      databaseUrlSource: source, databaseRoute: route.via, runner: runner.name, decisions, stop, workload, container: current.run.container, handoff,
      handoffCheck: 'helm upgrade --dry-run=server', ...(unfinishedHandoff ? { unfinishedHandoff } : {}),
    };
    return { plan, databaseUrl: route.url, runner, close: () => route.close() };
  } catch (err) {
    await route.close();
    throw err;
  }
}

/**
 * The release to roll back. When its newest revision is a failed upgrade to the target version (a
 * hand-off that did not finish, ours or a plain `helm upgrade --version TARGET`), that revision is
 * not what runs: the deployed one is, with the newer chart's contract, workloads and down files.
 */
async function releaseToRollBack(deps: RollbackDeps, opts: RollbackOptions): Promise<{ release: ReleaseInfo; unfinishedHandoff?: { revision: number } }> {
  const latest = await deps.helm.getRelease(opts.release);
  if (latest.status !== 'failed' || latest.version !== opts.to) return { release: latest };
  const deployed = await deps.helm.deployedRelease(opts.release);
  return deployed ? { release: deployed, unfinishedHandoff: { revision: latest.revision } } : { release: latest };
}

/** The hand-off as it will run, with --dry-run=server: a refusal naming helm's error, or none. */
async function checkHandoff(deps: RollbackDeps, handoff: UpgradeRequest, target: ChartInfo): Promise<Array<{ reason: string; hint: string }>> {
  try {
    await deps.helm.checkUpgrade(handoff);
    return [];
  } catch (err) {
    if (!(err instanceof CommandFailedError)) throw err;
    return [{
      reason: `the hand-off would fail: helm upgrade ${handoff.release} ${handoff.chart} --version ${handoff.version} --dry-run=server says: ${helmSays(err.stderr)}`,
      hint: `fix what helm names (chart ${target.name} ${target.version} rendered with the release's values and your helm flags after "--"), then run again; --dry-run repeats the check without changing anything`,
    }];
  }
}

/**
 * helm's own undo of a failed upgrade (--atomic in Helm 3, --rollback-on-failure in Helm 4) would,
 * after the downs, bring the newer chart back with its workloads' replicas: its code would then run
 * on the older schema and migrate it up again. Without it the workloads stay at 0 and a re-run
 * retries the hand-off.
 */
function rollbackOnFailure(extra: readonly string[], release: ReleaseInfo, target: ChartInfo): Array<{ reason: string; hint: string }> {
  const flag = extra.find((a) => /^--(atomic|rollback-on-failure)(=(true|1|t|T|TRUE|True))?$/.test(a));
  if (!flag) return [];
  return [{
    reason: `${flag} after "--": if the hand-off failed, helm would roll the release back to chart ${release.version} and start its workloads on the schema of ${target.version}, which they would migrate up again`,
    hint: `drop ${flag.split('=')[0]}: when the hand-off fails the workloads stay at 0 and the same command retries it`,
  }];
}

/**
 * helm's error on one line: from its "Error:" line to the end (Helm 4 spreads a template error over
 * indented lines), without the prefix and the warnings before it; else its last line.
 */
function helmSays(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const from = lines.findIndex((l) => l.startsWith('Error:'));
  return (from >= 0 ? lines.slice(from) : lines.slice(-1)).join(' ').replace(/^Error:\s*/, '') || 'no message';
}

function checkTargetVersion(release: ReleaseInfo, to: string): void {
  if (to === release.version) {
    throw new RefusedError([`release ${release.name} is already at chart version ${to}`], 'nothing to do');
  }
  if (semverValid(to) && semverValid(release.version) && semverGt(to, release.version)) {
    throw new UsageError(`chart version ${to} is newer than the release's ${release.version}: that is an upgrade, not a rollback`, {
      hint: `run helm upgrade ${release.name} CHART --version ${to}; the application migrates up itself`,
    });
  }
}

interface TargetRevision {
  revision: string;
  source: TargetSource;
  discovered?: { image: string; command: string[] };
}

/**
 * Each track's target revision and where it came from: --target-revision for its track, else the
 * target chart's annotations, else (a target chart with no contract at all) discovered in the target
 * version's image. A track the target's contract lacks gets none; the planner refuses it.
 */
async function targetRevisions(
  deps: RollbackDeps,
  opts: RollbackOptions,
  release: ReleaseInfo,
  target: ChartInfo & { ref: string },
  tracks: TrackSpec[],
  workload: string | undefined,
  container: string | undefined,
): Promise<Map<string, TargetRevision>> {
  const out = new Map<string, TargetRevision>();
  if (opts.targetRevision !== undefined) {
    const named = opts.overrides.track;
    const track = named === undefined ? (tracks.length === 1 ? tracks[0] : undefined) : tracks.find((t) => t.name === named);
    if (!track) {
      throw new UsageError(named === undefined ? '--target-revision gives one track\'s revision, and the chart has several' : `no track "${named}" in the chart`, {
        hint: `add --track NAME (one of ${tracks.map((t) => t.name).join(', ')})`,
      });
    }
    const problem = opts.targetRevision === 'base' ? undefined : deps.tools.get(track.tool).checkRevision(opts.targetRevision);
    if (problem) throw new UsageError(`--target-revision ${opts.targetRevision}: ${problem}`, { hint: `give the ${track.tool} revision chart ${target.name} ${target.version} expects` });
    out.set(track.name, { revision: opts.targetRevision, source: 'flag' });
  }
  const targetContract = parseContract(target.annotations, `target chart ${target.name} ${target.version}`);
  if (targetContract) {
    for (const t of targetContract.tracks) if (!out.has(t.name)) out.set(t.name, { revision: t.revision, source: 'annotations' });
    return out;
  }
  const unknown = tracks.filter((t) => !out.has(t.name));
  if (unknown.length === 0) return out;
  const discovered = await discoverTargetRevisions(deps, {
    release, target, workload, container, extraHelmArgs: opts.extraHelmArgs,
    renderArg: (arg, track) => renderName(arg, release, deps.helm, { Track: track.name, Table: track.table ?? deps.tools.get(track.tool).defaultTable, Schema: track.schema ?? '' }),
  }, unknown);
  for (const [track, d] of discovered) {
    out.set(track, { revision: d.revision, source: d.cached ? 'discovered (cached)' : 'discovered', discovered: { image: d.image, command: d.command } });
  }
  return out;
}

/** Reads every track's table in one session, then plans each; execution order is the reverse of up order. */
async function decide(
  deps: RollbackDeps,
  session: DatabaseSession,
  tracks: TrackSpec[],
  targetOf: (t: TrackSpec) => string | undefined,
  release: ReleaseInfo,
): Promise<TrackDecision[]> {
  const decisions: TrackDecision[] = [];
  for (const spec of tracks) {
    const tool = deps.tools.get(spec.tool);
    const table = { table: spec.table ?? tool.defaultTable, schema: spec.schema };
    const state = await tool.readState(session, table);
    const decision = planTrack({ current: spec, targetRevision: targetOf(spec), state, tool, table });
    // The contract's command, else the tool's own default (alembic downgrade REV); runners that need one refuse without.
    const command = spec.command ?? tool.defaultDownCommand;
    if (decision.kind === 'revert' && command) decision.step.command = await renderCommand(deps.helm, [...command], decision.step, release);
    decisions.push(decision);
  }
  return decisions.reverse();
}

/**
 * The tool's offline SQL for a step (alembic downgrade FROM:TO --sql), run by the runner where the
 * downs would run. Only for tracks on the tool's default down command: a contract's own command
 * (poetry run ..., -c path) says nothing about how to run the tool offline. A failure is kept in the
 * plan, not thrown: the preview is an aid, the plan stands without it.
 */
async function previewSql(deps: RollbackDeps, runner: Runner, spec: TrackSpec, step: TrackStep, release: ReleaseInfo, databaseUrl: string): Promise<void> {
  const tool = deps.tools.get(step.tool);
  if (spec.command || !tool.offlineDownCommand || step.current.length !== 1 || !runner.capture) return;
  const command = await renderCommand(deps.helm, [...tool.offlineDownCommand], step, release, { From: step.current[0]! });
  try {
    const lines = await runner.capture(step, command, { databaseUrl, log: deps.log, onOutput: () => undefined });
    // The tool's own log lines (alembic: "INFO  [alembic.runtime.migration] ...") are not SQL.
    step.sqlPreview = { command, lines: lines.filter((l) => !/^(INFO|WARNI|WARN|DEBUG)\s+\[/.test(l)) };
  } catch (err) {
    step.sqlPreview = { command, lines: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/** The track's down command with its placeholders filled for this step. */
async function renderCommand(helm: HelmPort, command: string[], step: TrackStep, release: ReleaseInfo, extra: Record<string, string> = {}): Promise<string[]> {
  const vars = { Revision: step.target, Track: step.track, Table: step.table.table, Schema: step.table.schema ?? '', ...extra };
  return Promise.all(command.map((arg) => renderName(arg, release, helm, vars)));
}

/** Carries out a prepared plan. Emits events for the CLI's progress output. */
export async function execute(deps: RollbackDeps, prepared: Prepared, emit: (e: RollbackEvent) => void): Promise<void> {
  const { plan, databaseUrl, runner } = prepared;
  const steps = plan.decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  const scaled: WorkloadStop[] = [];
  const done: string[] = [];
  const verified = new Map<string, TrackState>();
  let current: TrackStep | undefined;
  try {
    for (const w of plan.stop) {
      const [kind, name] = splitRef(w.ref);
      await deps.kube.scale(kind, name, 0);
      scaled.push(w);
      emit({ type: 'scaled', ref: w.ref, from: w.replicas, to: 0 });
    }
    for (const step of steps) {
      current = step;
      emit({ type: 'track:start', step });
      await runner.run(step, { databaseUrl, log: deps.log, onOutput: (line) => emit({ type: 'track:output', track: step.track, line }) });
      const state = await verify(deps, databaseUrl, step);
      verified.set(step.track, state);
      emit({ type: 'track:done', track: step.track, state });
      done.push(step.track);
      current = undefined;
    }
  } catch (err) {
    await restore(deps, scaled, emit);
    emit({ type: 'stopped', tracks: await standings(deps, databaseUrl, steps, done, current) });
    throw err;
  }
  emit({ type: 'handoff:start', argv: ['helm', 'upgrade', plan.handoff.release, plan.handoff.chart, '--version', plan.handoff.version] });
  try {
    await deps.helm.upgrade(plan.handoff, (line) => emit({ type: 'handoff:output', line }));
  } catch (err) {
    // Not restored: started now, the workloads that migrate on start would run the newer chart's
    // code on the older schema, and migrate it up again. The re-run's hand-off sets their replicas.
    const tracks = plan.decisions.flatMap((d): HandoffTrackStanding[] =>
      d.kind === 'revert'
        ? [{ track: d.step.track, outcome: 'verified', at: verified.get(d.step.track)?.revisions.join(',') || 'base', target: d.step.target }]
        : d.kind === 'skip' ? [{ track: d.track, outcome: 'skipped', reason: d.reason }] : []);
    emit({ type: 'handoff:failed', tracks, kept: plan.stop });
    const said = err instanceof CommandFailedError ? `helm upgrade failed: ${helmSays(err.stderr)}` : err instanceof Error ? err.message : String(err);
    throw new HandoffFailedError(said,
      `fix what helm names, then run the same command again: the tracks at their target are skipped and only helm upgrade ${plan.handoff.release} ${plan.handoff.chart} --version ${plan.handoff.version} is retried (checked first with --dry-run), which sets the workloads' replicas from chart ${plan.target.name} ${plan.target.version}`,
      err);
  }
}

/** The runner said it is done; the version table must say so too, as the tool would have left it. */
async function verify(deps: RollbackDeps, url: string, step: TrackStep): Promise<TrackState> {
  const tool = deps.tools.get(step.tool);
  const session = await deps.connector.connect(url);
  try {
    const state = await tool.readState(session, step.table);
    const landed = step.target === 'base'
      ? state.revisions.length === 0
      : state.revisions.length === 1 && (state.revisions[0] === step.target || tool.names?.(step.target, state.revisions[0]!) === true);
    if (state.dirty || !landed) {
      throw new StepFailedError(step.track, step.target, new Error(`after the downs the table holds ${state.revisions.join(',') || 'base'}${state.dirty ? ' (dirty)' : ''}, not ${step.target}`));
    }
    return state;
  } finally {
    await session.close();
  }
}

/** Where every track of the plan stands after a failure, read again from the database (best effort). */
async function standings(deps: RollbackDeps, url: string, steps: TrackStep[], done: string[], failed: TrackStep | undefined) {
  let session: Awaited<ReturnType<DatabaseConnector['connect']>> | undefined;
  try {
    session = await deps.connector.connect(url);
  } catch {
    session = undefined;
  }
  const out = [];
  for (const step of steps) {
    const outcome = done.includes(step.track) ? 'done' : step === failed ? 'failed' : 'not started';
    const state = session ? await deps.tools.get(step.tool).readState(session, step.table).catch(() => undefined) : undefined;
    out.push({ track: step.track, state, target: step.target, outcome } as const);
  }
  await session?.close();
  return out;
}

async function restore(deps: RollbackDeps, scaled: WorkloadStop[], emit: (e: RollbackEvent) => void): Promise<void> {
  for (const w of scaled.reverse()) {
    const [kind, name] = splitRef(w.ref);
    try {
      await deps.kube.scale(kind, name, w.replicas);
      emit({ type: 'scaled', ref: w.ref, from: 0, to: w.replicas });
    } catch (err) {
      deps.log.debug(`restoring ${w.ref} to ${w.replicas} failed: ${err instanceof RollbackError ? err.message : String(err)}`);
    }
  }
}
