/**
 * The rollback action, shaped like Helm's pkg/action: prepare() reads everything and plans, changing
 * nothing (it is all --dry-run does); execute() stops the workloads that migrate on start, runs each
 * track's downs with the CURRENT version's code, verifies each version table, and hands off to
 * `helm upgrade --version TARGET`. A failure before the hand-off restores the workloads and says
 * where each track stands.
 */
import { valid as semverValid, gt as semverGt } from 'semver';
import { parseContract, type Track } from './contract.js';
import { openDatabase, type PortForwardChoice } from './database-route.js';
import { resolveDatabaseUrl, splitRef } from './database-url.js';
import { discoverTargetRevisions } from './discover.js';
import { ContractInvalidError, RefusedError, RollbackError, StepFailedError, UsageError } from './errors.js';
import { checkRollbackPermissions, type PermissionsCheck } from './permissions.js';
import { planTrack, type TrackDecision } from './planner.js';
import type {
  AccessReviewPort, ChartInfo, ChartPort, ChartRenderPort, DatabaseConnector, DatabaseSession, DiscoveryCachePort, HelmPort, HelmUpgradePort, KubePort,
  KubeScalePort, Log, PortForwardPort, ProbePort, ReleaseInfo, ReleaseManifestPort, Runner, ToolRegistry, TrackState, TrackStep, UpgradeRequest,
} from './ports.js';
import { renderName, resolveContract, revisionProblems, type ContractOverrides, type TrackSpec } from './resolve.js';

export interface RollbackDeps {
  helm: HelmPort & ChartPort & HelmUpgradePort & ChartRenderPort & ReleaseManifestPort;
  /** AccessReviewPort: the permissions the run needs are asked for before its first change. */
  kube: KubePort & KubeScalePort & AccessReviewPort;
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
  /** Where that list came from, for messages: the flag or the chart's annotation. */
  stopFrom: '--stop' | 'schema-rollback.io/stop';
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
  /** The Kubernetes requests the run makes, each found allowed before anything changed (or why they could not be checked). */
  permissions: PermissionsCheck;
}

export type RollbackEvent =
  | { type: 'scaled'; ref: string; from: number; to: number }
  | { type: 'track:start'; step: TrackStep }
  | { type: 'track:output'; track: string; line: string }
  | { type: 'track:done'; track: string; state: TrackState }
  | { type: 'stopped'; tracks: Array<{ track: string; state?: TrackState; target: string; outcome: 'done' | 'failed' | 'not started' }> }
  | { type: 'handoff:start'; argv: string[] }
  | { type: 'handoff:output'; line: string };

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
  const release = await deps.helm.getRelease(opts.release);
  checkTargetVersion(release, opts.to);
  const current = resolveContract(release, opts.overrides, deps.tools);
  const ref = opts.chart ?? (await deps.helm.findChartRef(release.chart));
  const target = { ...(await deps.helm.showChart(ref, opts.to)), ref };
  const workload = current.run.workload && (await renderName(current.run.workload, release, deps.helm));
  const { url, source, secrets: urlSecrets = [] } = await resolveDatabaseUrl(deps.kube, {
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
    const refusals = decisions.filter((d): d is Extract<TrackDecision, { kind: 'refuse' }> => d.kind === 'refuse');
    if (refusals.length > 0) {
      throw new RefusedError(refusals.map((r) => `track ${r.track}: ${r.reason}`), refusals.map((r) => r.hint).join('; '));
    }
    const stop: WorkloadStop[] = [];
    for (const template of current.run.stop) {
      const stopRef = await renderName(template, release, deps.helm);
      const [kind, name] = splitRef(stopRef);
      stop.push({ ref: stopRef, replicas: await deps.kube.getReplicas(kind, name) });
    }
    const runner = await deps.runnerFor({
      name: opts.runner, release, workload, container: current.run.container, tracks: current.tracks.map((t) => t.name), stop: stop.map((w) => w.ref),
      stopFrom: opts.overrides.stop === undefined ? 'schema-rollback.io/stop' : '--stop',
    });
    // Before the SQL preview, which may run a Job itself.
    const permissions = await checkRollbackPermissions(deps, { namespace: release.namespace, release: release.name, runner: runner.name, stop: stop.map((w) => w.ref), workload, urlSecrets });
    await previewDowns(runner, decisions);
    if (opts.sqlPreview && runner.capture) {
      for (const d of decisions) {
        const spec = current.tracks.find((t) => d.kind === 'revert' && t.name === d.step.track);
        if (d.kind === 'revert' && spec) await previewSql(deps, runner, spec, d.step, release, route.url);
      }
    }
    const handoff: UpgradeRequest = { release: release.name, chart: ref, version: opts.to, reuseValues: 'reset-then-reuse', extra: opts.extraHelmArgs };
    const plan: RollbackPlan = {
      release,
      target,
      targetSources: Object.fromEntries([...targets].map(([track, t]) => [track, t.source])),
      discovered: Object.fromEntries([...targets].flatMap(([track, t]) => (t.discovered ? [[track, t.discovered]] : []))),
      databaseUrlSource: source, databaseRoute: route.via, runner: runner.name, decisions, stop, workload, container: current.run.container, handoff,
      permissions,
    };
    return { plan, databaseUrl: route.url, runner, close: () => route.close() };
  } catch (err) {
    await route.close();
    throw err;
  }
}

/**
 * Asks the runner which downs it would run for each track (each with its file), so the plan shows
 * them. Refusals of every track are gathered into one, so one pass fixes them all; nothing has
 * changed yet.
 */
async function previewDowns(runner: Runner, decisions: TrackDecision[]): Promise<void> {
  if (!runner.preview) return;
  const refusals: RefusedError[] = [];
  for (const d of decisions) {
    if (d.kind !== 'revert') continue;
    try {
      const downs = await runner.preview(d.step);
      d.step.downs = downs;
      d.step.revisions = downs.map((x) => x.revision);
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      // Each reason names its track, once they are listed together.
      const track = `track ${d.step.track}`;
      refusals.push(new RefusedError(err.reasons.map((r) => (r.startsWith(`${track}:`) ? r : `${track}: ${r}`)), err.hint));
    }
  }
  if (refusals.length > 0) {
    throw new RefusedError(refusals.flatMap((r) => r.reasons), [...new Set(refusals.map((r) => r.hint).filter((h) => h !== undefined))].join('; '));
  }
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
  const where = `target chart ${target.name} ${target.version}`;
  const targetContract = parseContract(target.annotations, where);
  if (targetContract) {
    checkTargetContract(deps, where, targetContract.tracks.filter((t) => !out.has(t.name)), tracks);
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

/**
 * The target chart's tracks, checked before anything is read from the database: each revision in
 * its tool's form (a golang-migrate "008" would never equal the 8 the table holds, so the downs
 * would run and the check after them fail on every re-run), and each track on the tool the current
 * chart runs its downs with. Tracks whose revision --target-revision replaces are not checked.
 */
function checkTargetContract(deps: RollbackDeps, where: string, targetTracks: readonly Track[], current: readonly TrackSpec[]): void {
  const problems = revisionProblems(targetTracks, deps.tools);
  if (problems.length > 0) throw new ContractInvalidError(where, problems);
  const switched = targetTracks.flatMap((t) => {
    const now = current.find((c) => c.name === t.name);
    return now && now.tool !== t.tool ? [`track ${t.name}: the release's chart migrates it with ${now.tool}, ${where} with ${t.tool}; a rollback cannot cross a change of migration tool`] : [];
  });
  if (switched.length > 0) {
    throw new RefusedError(switched, 'roll the schema back with the tools themselves, or correct the annotations (--target-revision REV --track NAME overrides one track\'s target)');
  }
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
    const tablesElsewhere = state.tableExists ? undefined : await deps.tools.locateTables?.(session, [table.table, tool.defaultTable]);
    const decision = planTrack({ current: spec, targetRevision: targetOf(spec), state, tool, table, tablesElsewhere });
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
      emit({ type: 'track:done', track: step.track, state: await verify(deps, databaseUrl, step) });
      done.push(step.track);
      current = undefined;
    }
  } catch (err) {
    await restore(deps, scaled, emit);
    emit({ type: 'stopped', tracks: await standings(deps, databaseUrl, steps, done, current) });
    throw err;
  }
  emit({ type: 'handoff:start', argv: ['helm', 'upgrade', plan.handoff.release, plan.handoff.chart, '--version', plan.handoff.version] });
  await deps.helm.upgrade(plan.handoff, (line) => emit({ type: 'handoff:output', line }));
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
