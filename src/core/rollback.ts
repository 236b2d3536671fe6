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
import { parseContract, type Track } from './contract.js';
import { assessDataAtRisk, DEFAULT_ARCHIVE_MAX_BYTES, type ArchiveOptions, type ArchivePlan, type ArchivedCopy, type DataAtRisk } from './data-at-risk.js';
import { openDatabase, type PortForwardChoice } from './database-route.js';
import { resolveDatabaseUrl, splitRef } from './database-url.js';
import { discoverTargetRevisions } from './discover.js';
import { CommandFailedError, ContractInvalidError, RefusedError, UsageError } from './errors.js';
import { checkRollbackPermissions, type PermissionsCheck } from './permissions.js';
import { planTrack, type TrackDecision } from './planner.js';
import type {
  AccessReviewPort, ChartInfo, ChartPort, ChartRenderPort, DatabaseConnector, DatabaseSession, DiscoveryCachePort, HelmPort, HelmUpgradePort, KubePort,
  KubeScalePort, Log, PortForwardPort, ProbePort, ReleaseInfo, ReleaseManifestPort, Runner, RunRecord, RunRecordPort, ToolRegistry, TrackState, TrackStep, UpgradeRequest,
} from './ports.js';
import type { TrackStanding } from './execute.js';
import { checkRunLockFree, repairFromUnfinishedDown } from './run-lock.js';
import { renderName, resolveContract, revisionProblems, type ContractOverrides, type TrackSpec } from './resolve.js';
import { inStep, type StepEvent, type StepListener } from './steps.js';

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
  /** Who is rolling the release back and how far it got, kept in the cluster (the run lock's record). */
  runRecords: RunRecordPort;
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
  /** The copy of the data at risk kept before the downs; default: on, at most 1 GiB. */
  archive?: ArchiveOptions;
  /** Told when each planning step that can take a while starts and ends (progress; the core prints nothing). */
  progress?: StepListener;
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
  /** Already at 0 when planned: an earlier run of this release stopped it (replicas: what it had before that run, from its record). */
  atZero?: boolean;
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
  /** The record of an earlier run of this release that did not finish (interrupted, failed, hand-off failed). */
  previousRun?: RunRecord;
  /** How the hand-off was checked in prepare, before anything changed. */
  handoffCheck: 'helm upgrade --dry-run=server';
  /**
   * Set when the release's newest revision is a failed upgrade to the target version (a hand-off
   * that did not finish): the release is then its deployed revision, the one that still runs, and
   * this run retries the hand-off after whatever downs remain.
   */
  unfinishedHandoff?: { revision: number };
  /** What the downs destroy, counted live (README "Data at risk"). */
  dataAtRisk: DataAtRisk[];
  /** Where the copy of it is kept before the downs, or that none is (--no-archive). */
  archive: ArchivePlan;
  /** The Kubernetes requests the run makes, each found allowed before anything changed (or why they could not be checked). */
  permissions: PermissionsCheck;
}

export type RollbackEvent =
  | StepEvent
  | { type: 'scaled'; ref: string; from: number; to: number }
  | { type: 'archived'; schema: string; copies: ArchivedCopy[] }
  | { type: 'track:start'; step: TrackStep }
  | { type: 'track:output'; track: string; line: string }
  | { type: 'track:done'; track: string; state: TrackState }
  | {
      type: 'stopped';
      tracks: TrackStanding[];
      /** What became of the workloads the run scaled to 0, and why they were kept at 0. */
      workloads: 'restored' | 'kept' | 'none';
      why?: string;
      /** Per dirty track: the exact repair. */
      repairs: Record<string, string>;
    }
  | { type: 'previous-run'; record: RunRecord }
  | { type: 'warning'; message: string }
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
  const progress = opts.progress;
  const { release, unfinishedHandoff, current, target, workload } = await inStep(progress, `reading release ${opts.release} and chart version ${opts.to}`, async () => {
    const { release, unfinishedHandoff } = await releaseToRollBack(deps, opts);
    checkTargetVersion(release, opts.to);
    const current = resolveContract(release, opts.overrides, deps.tools);
    const ref = opts.chart ?? (await deps.helm.findChartRef(release.chart));
    const target = { ...(await deps.helm.showChart(ref, opts.to)), ref };
    const workload = current.run.workload && (await renderName(current.run.workload, release, deps.helm));
    return { release, unfinishedHandoff, current, target, workload };
  }, (r) => ({ detail: `chart ${r.release.chart} ${r.release.version} -> ${r.target.version}` }));
  const ref = target.ref;
  const { url, source, secrets: urlSecrets = [] } = await inStep(progress, 'finding the database URL', () => resolveDatabaseUrl(deps.kube, {
    flag: opts.databaseUrl,
    environment: opts.databaseUrlFromEnv,
    workload,
    container: current.run.container,
    variable: current.run.databaseUrlEnv,
  }));
  // Before the database is opened: discovery may run a Job, and a port-forward should not idle meanwhile.
  const targets = await targetRevisions(deps, opts, release, target, current.tracks, workload, current.run.container);
  const targetOf = (t: TrackSpec) => targets.get(t.name)?.revision;
  // A forward, when the database answers only inside the cluster, is opened here.
  const route = await inStep(progress, 'connecting to the database', () => openDatabase(deps, url, { mode: 'auto', ...opts.portForward, namespace: release.namespace }), (r) => ({ detail: r.via }));
  try {
    // A run in progress is reported as such before its half-done tables are judged (a dirty table
    // mid-step is not a thing to repair by hand).
    const [previousRun, decisions] = await inStep(progress, 'reading the version tables', async () => {
      await checkRunLockFree(route.session, { namespace: release.namespace, release: release.name, records: deps.runRecords });
      const record = await deps.runRecords.read(release.name);
      return [record, await decide(deps, route.session, current.tracks, targetOf, release, record)] as const;
    }).finally(() => route.session.close());
    const handoff: UpgradeRequest = { release: release.name, chart: ref, version: opts.to, reuseValues: 'reset-then-reuse', extra: opts.extraHelmArgs };
    // Before the first down: a hand-off that cannot even render would leave the schema down and the
    // newer chart's workloads at 0. Listed with the tracks' refusals, so one run shows every problem.
    const refusals = [
      // A dirty track left by this plugin's own run: its record names the exact repair (decide()
      // derives it for a run that died inside the down).
      ...decisions.flatMap((d) => (d.kind === 'refuse' ? [{ reason: `track ${d.track}: ${d.reason}`, hint: previousRun?.repairs?.[d.track] ?? d.hint }] : [])),
      ...rollbackOnFailure(opts.extraHelmArgs, release, target),
      ...(await inStep(progress, `checking the hand-off to chart ${handoff.version} (a dry run on the server)`,
        () => checkHandoff(deps, handoff, target), (found) => ({ ok: found.length === 0 }))),
    ];
    if (refusals.length > 0) throw new RefusedError(refusals.map((r) => r.reason), [...new Set(refusals.map((r) => r.hint))].join('; '));
    const stop: WorkloadStop[] = [];
    for (const template of current.run.stop) {
      const stopRef = await renderName(template, release, deps.helm);
      const [kind, name] = splitRef(stopRef);
      const replicas = await deps.kube.getReplicas(kind, name);
      // A workload an earlier run of this release kept at 0 is restored to what it had before that run.
      stop.push(replicas > 0 ? { ref: stopRef, replicas } : { ref: stopRef, replicas: previousRun?.stopped.find((p) => p.ref === stopRef)?.replicas ?? 0, atZero: true });
    }
    const runner = await deps.runnerFor({
      name: opts.runner, release, workload, container: current.run.container, tracks: current.tracks.map((t) => t.name), stop: stop.map((w) => w.ref),
      stopFrom: opts.overrides.stop === undefined ? 'schema-rollback.io/stop' : '--stop',
    });
    // Before the SQL preview, which may run a Job itself.
    const permissions = await inStep(progress, 'checking permissions (SelfSubjectAccessReview)',
      () => checkRollbackPermissions(deps, { namespace: release.namespace, release: release.name, runner: runner.name, stop: stop.map((w) => w.ref), workload, urlSecrets }),
      (p) => ({ detail: p.error ? 'not checked' : `${p.checked.length} requests allowed` }));
    if (runner.preview) await inStep(progress, 'reading the down files', () => previewDowns(runner, decisions));
    if (opts.sqlPreview && runner.capture) {
      for (const d of decisions) {
        const spec = current.tracks.find((t) => d.kind === 'revert' && t.name === d.step.track);
        if (d.kind === 'revert' && spec) await previewSql(deps, runner, spec, d.step, release, route.url, progress);
      }
    }
    const risk = await inStep(progress, 'measuring the data at risk',
      () => assessDataAtRisk(deps, runner, decisions, route.url, opts.archive ?? { enabled: true, maxBytes: DEFAULT_ARCHIVE_MAX_BYTES }));
    const plan: RollbackPlan = {
      release,
      target,
      targetSources: Object.fromEntries([...targets].map(([track, t]) => [track, t.source])),
      discovered: Object.fromEntries([...targets].flatMap(([track, t]) => (t.discovered ? [[track, t.discovered]] : []))),
      databaseUrlSource: source, databaseRoute: route.via, runner: runner.name, decisions, stop, workload, container: current.run.container, handoff,
      ...(previousRun ? { previousRun } : {}),
      handoffCheck: 'helm upgrade --dry-run=server', ...(unfinishedHandoff ? { unfinishedHandoff } : {}),
      dataAtRisk: risk.dataAtRisk, archive: risk.archive,
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
export function helmSays(stderr: string): string {
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
  const where = `target chart ${target.name} ${target.version}`;
  const targetContract = parseContract(target.annotations, where);
  if (targetContract) {
    checkTargetContract(deps, where, targetContract.tracks.filter((t) => !out.has(t.name)), tracks);
    for (const t of targetContract.tracks) if (!out.has(t.name)) out.set(t.name, { revision: t.revision, source: 'annotations' });
    return out;
  }
  const unknown = tracks.filter((t) => !out.has(t.name));
  if (unknown.length === 0) return out;
  const discovered = await inStep(opts.progress, `discovering the target revision in chart ${target.name} ${target.version}'s image`, () => discoverTargetRevisions(deps, {
    release, target, workload, container, extraHelmArgs: opts.extraHelmArgs,
    renderArg: (arg, track) => renderName(arg, release, deps.helm, { Track: track.name, Table: track.table ?? deps.tools.get(track.tool).defaultTable, Schema: track.schema ?? '' }),
  }, unknown), (found) => ({ detail: [...found].map(([track, d]) => `${track} at ${d.revision}${d.cached ? ' (cached)' : ''}`).join(', ') }));
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
  previousRun: RunRecord | undefined,
): Promise<TrackDecision[]> {
  const decisions: TrackDecision[] = [];
  for (const spec of tracks) {
    const tool = deps.tools.get(spec.tool);
    const table = { table: spec.table ?? tool.defaultTable, schema: spec.schema };
    const state = await tool.readState(session, table);
    const tablesElsewhere = state.tableExists ? undefined : await deps.tools.locateTables?.(session, [table.table, tool.defaultTable]);
    let decision = planTrack({ current: spec, targetRevision: targetOf(spec), state, tool, table, tablesElsewhere });
    // Dirty because an earlier run died inside this track's down (SIGKILL, a lost machine): it could
    // not write the repair, but its record says what the step reverted.
    const repair = decision.kind === 'refuse' ? repairFromUnfinishedDown(previousRun, spec.name, tool, state, table) : undefined;
    if (decision.kind === 'refuse' && repair) decision = { ...decision, hint: repair };
    // The contract's command, else the tool's own default (alembic downgrade REV); runners that need one refuse without.
    const command = spec.command ?? tool.offers.image?.down;
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
async function previewSql(deps: RollbackDeps, runner: Runner, spec: TrackSpec, step: TrackStep, release: ReleaseInfo, databaseUrl: string, progress?: StepListener): Promise<void> {
  const tool = deps.tools.get(step.tool);
  const capture = runner.capture;
  const offlineDown = tool.offers.image?.offlineDown;
  if (spec.command || !offlineDown || step.current.length !== 1 || !capture) return;
  const command = await renderCommand(deps.helm, [...offlineDown], step, release, { From: step.current[0]! });
  await inStep(progress, `SQL preview for track ${step.track} (${command.join(' ')})`, async () => {
    try {
      const lines = await capture.call(runner, step, command, { databaseUrl, log: deps.log, onOutput: () => undefined });
      // The tool's own log lines (alembic: "INFO  [alembic.runtime.migration] ...") are not SQL.
      step.sqlPreview = { command, lines: lines.filter((l) => !/^(INFO|WARNI|WARN|DEBUG)\s+\[/.test(l)) };
    } catch (err) {
      step.sqlPreview = { command, lines: [], error: err instanceof Error ? err.message : String(err) };
    }
  }, () => (step.sqlPreview?.error ? { ok: false, detail: 'unavailable (the plan says why)' } : {}));
}

/** The track's down command with its placeholders filled for this step. */
async function renderCommand(helm: HelmPort, command: string[], step: TrackStep, release: ReleaseInfo, extra: Record<string, string> = {}): Promise<string[]> {
  const vars = { Revision: step.target, Track: step.track, Table: step.table.table, Schema: step.table.schema ?? '', ...extra };
  return Promise.all(command.map((arg) => renderName(arg, release, helm, vars)));
}

export { execute, type RunControl } from './execute.js';
