/**
 * The rollback's read-only step: everything the plan needs, read from helm, the cluster and the
 * database, and nothing changed. Reads that do not depend on each other run at once (the release's
 * manifest with its metadata; the target chart with the release's values; then the database, the
 * hand-off's dry run, the target revisions, the workloads and the permission review), and one
 * database session serves every query. Outcomes a plan refuses on are recorded as facts (see
 * facts.ts); only what leaves nothing to plan from is thrown, always the first in a fixed order, so
 * that concurrent reads do not change which error a user sees.
 */
import { argoHelm, argoReleaseInstead, checkArgoWorkloads, type ArgoAppChoice, type ArgoRelease } from './argocd-release.js';
import { parseContract, type Track } from './contract.js';
import { DEFAULT_ARCHIVE_MAX_BYTES, findDataAtRisk, type ArchiveOptions } from './data-at-risk.js';
import { openDatabase, type DatabaseRoute, type PortForwardChoice } from './database-route.js';
import { resolveDatabaseUrl, splitRef } from './database-url.js';
import { discoverTargetRevisions } from './discover.js';
import { CommandFailedError, ContractInvalidError, LockedError, RefusedError, ReleaseNotFoundError, UsageError } from './errors.js';
import type { RollbackFacts, TargetRevision, TrackFacts, TrackPreview } from './facts.js';
import { readGitOps, type GitOpsChoice, type GitOpsObjectsPort } from './gitops.js';
import { reviewPermissions } from './permissions.js';
import { decideTracks, refusalError, releaseRefusals, renderStepCommand, withPreview } from './plan.js';
import type {
  AccessReviewPort, ChartInfo, ChartPort, ChartRenderPort, DatabaseConnector, DatabaseSession, DiscoveryCachePort, HelmPort, HelmUpgradePort, KubeObject, KubePort, ManifestObject,
  KubeScalePort, Log, PortForwardPort, ProbePort, ReleaseInfo, ReleaseManifestPort, RepoChartsPort, Runner, RunRecordPort, ToolRegistry, TrackStep, UpgradeRequest,
} from './ports.js';
import { checkRunLockFree } from './run-lock.js';
import { nameVars, resolveContract, revisionProblems, type ContractOverrides, type ResolvedContract, type TrackSpec } from './resolve.js';
import { inStep, type StepListener } from './steps.js';
import { renderTemplate } from './template.js';

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
  /** Reads an Argo CD Application or Flux HelmRelease (GitOps mode); without it no release is taken for a GitOps one. */
  gitopsObjects?: GitOpsObjectsPort;
  /** Charts by repository URL: an Argo CD Application's, when no Helm release exists (argocd-release.ts). */
  repoCharts?: RepoChartsPort;
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
   * Also run the tool's offline SQL command (alembic downgrade FROM:TO --sql) where the downs would
   * run, for tracks on the tool's default down command, and put it in the plan.
   */
  sqlPreview?: boolean;
  /** The copy of the data at risk kept before the downs; default: on, at most 1 GiB. */
  archive?: ArchiveOptions;
  /** Told when each planning step that can take a while starts and ends (progress; the core prints nothing). */
  progress?: StepListener;
  /** --gitops: detect Argo CD or Flux from the release's objects (default auto), name one, or none. */
  gitops?: GitOpsChoice;
  /** With --gitops auto or argocd: the Argo CD Application to read when no Helm release exists (--argocd-app, --argocd-namespace). */
  argocd?: ArgoAppChoice;
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
  /** Reads for the runner's set-up (the workload it clones), shared with the plan's own: one GET per object. */
  read?: KubePort;
}

/** One read of the gather and when it ran, in ms since the gather began (--timings). */
export interface Timing {
  read: string;
  start: number;
  end: number;
  failed?: boolean;
}

export interface Gathered {
  facts: RollbackFacts;
  /**
   * Kept out of the facts (and so out of the plan) so that printing them can never print it.
   * Through a port-forward, this is the URL of the forward's local end.
   */
  databaseUrl: string;
  /** The URL as the app has it (no port-forward): what a program in the cluster connects with (--rehearse's copy in the database's pod). */
  appUrl: string;
  /** The runner, when it could be built for this release (facts.runner.refused says why not). */
  runner?: Runner;
  timings: Timing[];
  /** Stops the port-forward, if one was started; call it once the plan is executed or dropped. */
  close(): Promise<void>;
}

const DEFAULT_ARCHIVE: ArchiveOptions = { enabled: true, maxBytes: DEFAULT_ARCHIVE_MAX_BYTES };

export async function gather(deps: RollbackDeps, opts: RollbackOptions, now: () => number = Date.now): Promise<Gathered> {
  const timings: Timing[] = [];
  const read = timed(timings, now);
  // Needed whatever else is found, and only the release's name: asked while the target chart is
  // read (not beside the metadata, which everything waits for: on a small machine they would slow it).
  let manifest: Promise<ManifestObject[]> | undefined;
  const prefetch = (helm: RollbackDeps['helm']) => {
    manifest = quiet(read('helm get manifest', () => helm.manifestObjects(opts.release)));
    void quiet(read('helm version', () => helm.helmMajor()));
  };
  const first = await inStep(opts.progress, `reading release ${opts.release} and chart version ${opts.to}`, () => readCharts(deps, opts, read, prefetch),
    (r) => ({ detail: `chart ${r.release.chart} ${r.release.version} -> ${r.target.version}${r.argo ? ` (${r.argo.gitops.kind} ${r.argo.gitops.namespace}/${r.argo.gitops.name}, no Helm release)` : ''}` }));
  const { rendered, reads } = readSideBySide({ ...deps, helm: first.helm }, opts, first, manifest!, read);
  const all = Object.values(reads);
  await Promise.allSettled(all);
  const opened = await reads.route.catch(() => undefined);
  // The session serves the gather only; the port-forward (if any) stays for the run, closed by close().
  let sessionClosed: Promise<void> | undefined;
  const closeSession = () => (sessionClosed ??= opened ? opened.session.close().catch(() => undefined) : Promise.resolve());
  try {
    // The first failure in the order the reads are listed, whichever finished first.
    for (const p of all) await p;
    const facts = await factsOf(opts, first, rendered, reads);
    const built = (await reads.runner).runner;
    return { facts, databaseUrl: opened!.url, appUrl: (await reads.url).url, ...(built ? { runner: built } : {}), timings, close: () => opened!.close() };
  } catch (err) {
    await closeSession();
    await opened?.close();
    throw err;
  } finally {
    await closeSession();
  }
}

/** A reader that times each read into `timings` (ms since the gather began). */
function timed(timings: Timing[], now: () => number): Read {
  const began = now();
  return async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const timing: Timing = { read: name, start: now() - began, end: 0 };
    timings.push(timing);
    try {
      return await work();
    } catch (err) {
      timing.failed = true;
      throw err;
    } finally {
      timing.end = now() - began;
    }
  };
}

type Charts = Awaited<ReturnType<typeof readCharts>>;
type SideBySide = ReturnType<typeof readSideBySide>;

/**
 * Everything after the charts, started at once; each promise waits only on what it needs. Listed in
 * the order their failures are reported (the order the reads once ran one after another).
 */
function readSideBySide(deps: RollbackDeps, opts: RollbackOptions, first: Charts, manifest: Promise<ManifestObject[]>, read: Read) {
  const { progress } = opts;
  const { release, contract, target, names, values } = first;
  const stopFrom: RunnerChoice['stopFrom'] = opts.overrides.stop === undefined ? 'schema-rollback.io/stop' : '--stop';
  const workload = contract.run.workload && renderTemplate(contract.run.workload, names);
  const stopRefs = contract.run.stop.map((t) => renderTemplate(t, names));
  // The workload is read for the URL and by the job runner at once: one GET of each object serves both.
  const kube = oneGetEach(deps.kube);
  const url = settled(inStep(progress, 'finding the database URL', () => read('database URL', () => resolveDatabaseUrl(kube, {
    flag: opts.databaseUrl, environment: opts.databaseUrlFromEnv, workload, container: contract.run.container, variable: contract.run.databaseUrlEnv,
  }))));
  const targets = settled(targetRevisions(deps, opts, { release, target, tracks: contract.tracks, workload, container: contract.run.container, values }, read));
  const route = settled(url.then((u) => inStep(progress, 'connecting to the database',
    () => read('database connection', () => openDatabase(deps, u.url, { mode: 'auto', ...opts.portForward, namespace: release.namespace })), (r) => ({ detail: r.via }))));
  const database = settled(route.then((r) => inStep(progress, 'reading the version tables', () => readDatabase(deps, r.session, release, contract.tracks, read))));
  const previousRun = settled(read('run record', () => deps.runRecords.read(release.name)));
  // The newest revision as just read: the check need not read it again (helm get metadata) before it runs.
  const handoff: UpgradeRequest = {
    release: release.name, chart: target.ref, version: opts.to, reuseValues: 'reset-then-reuse', extra: opts.extraHelmArgs,
    latest: first.latest.applyMethod ? { applyMethod: first.latest.applyMethod } : {},
  };
  // No Helm release (Argo CD renders the chart): no helm upgrade runs, so there is none to dry-run.
  const handoffCheck = settled(first.argo ? Promise.resolve<RollbackFacts['handoffCheck']>({ ok: true, skipped: 'no Helm release' }) : inStep(progress, `checking the hand-off to chart ${opts.to} (a dry run on the server)`,
    () => read('helm upgrade --dry-run=server', () => checkHandoff(deps, handoff)), (c) => ({ ok: c.ok })));
  const stop = settled(Promise.all(stopRefs.map((ref) => read(`replicas of ${ref}`, async () => ({ ref, replicas: await deps.kube.getReplicas(...splitRef(ref)) })))));
  const runner = settled(buildRunner(deps, { name: opts.runner, release, workload, container: contract.run.container, tracks: contract.tracks.map((t) => t.name), stop: stopRefs, stopFrom, read: kube }, read));
  // The runner as built: the factory may choose another than the one asked for (a default), and its requests are checked.
  const permissions = settled(Promise.all([url, manifest, runner]).then(([u, m, built]) => inStep(progress, 'checking permissions (SelfSubjectAccessReview)',
    () => read('permission review', () => reviewPermissions(deps.kube, {
      namespace: release.namespace, release: release.name, runner: built.fact.name, stop: stopRefs, workload, urlSecrets: u.secrets ?? [],
      manifest: m, releaseStorage: deps.helm.releaseStorage,
    }, deps.log)),
    (p) => (p.missing.length > 0 ? { ok: false, detail: `${p.missing.length} requests denied` } : { detail: p.error ? 'not checked' : `${p.checked.length} requests allowed` }))));
  // As soon as the tables and the runner are known, beside the hand-off's dry run and the review:
  // the runner's previews (the SQL preview may run a Job) and the data at risk.
  const previews = settled(Promise.all([route, database, targets, previousRun, runner]).then(([r, db, t, prev, built]) => (built.runner
    ? previewTracks(deps, opts, { tracks: db.tracks, targets: Object.fromEntries(t), previousRun: prev, names, runLock: db.runLock }, built.runner, r, read)
    : { previews: {}, dataAtRisk: [] })));
  // GitOps mode (gitops.ts): the Application or HelmRelease that owns the release, if any.
  const gitops = settled(first.argo ? Promise.resolve(first.argo.gitops) : deps.gitopsObjects ? read('gitops owner', () => readGitOps(kube, deps.gitopsObjects!, { choice: opts.gitops ?? 'auto', release: release.name, namespace: release.namespace, refs: [...(workload ? [workload] : []), ...stopRefs], manifest })) : Promise.resolve(undefined));
  return { rendered: { workload, stopFrom }, reads: { url, targets, route, database, previousRun, handoffCheck, stop, runner, permissions, previews, gitops } };
}

/** The facts, once every read has succeeded. */
async function factsOf(opts: RollbackOptions, first: Charts, rendered: SideBySide['rendered'], reads: SideBySide['reads']): Promise<RollbackFacts> {
  const { release, contract, target, names } = first;
  const { workload, stopFrom } = rendered;
  const [url, targets, route, database, previousRun, handoffCheck, stop, runner, permissions, previews, gitops] = await Promise.all([
    reads.url, reads.targets, reads.route, reads.database, reads.previousRun, reads.handoffCheck, reads.stop, reads.runner, reads.permissions, reads.previews, reads.gitops,
  ]);
  return {
    request: { to: opts.to, runner: opts.runner, extraHelmArgs: opts.extraHelmArgs, archive: opts.archive ?? DEFAULT_ARCHIVE },
    release, ...(first.unfinishedHandoff ? { unfinishedHandoff: first.unfinishedHandoff } : {}), target,
    targets: Object.fromEntries(targets), tracks: database.tracks, names,
    ...(workload ? { workload } : {}), ...(contract.run.container ? { container: contract.run.container } : {}),
    database: { urlSource: url.source, route: route.via },
    runLock: database.runLock, ...(previousRun ? { previousRun } : {}),
    handoffCheck, stop, stopFrom, runner: runner.fact, permissions, ...previews, ...(gitops ? { gitops } : {}),
  };
}

/** The release, its contract, the target chart and the values the names need: what every other read starts from. */
async function readCharts(deps: RollbackDeps, opts: RollbackOptions, read: Read, prefetch: (helm: RollbackDeps['helm']) => void) {
  const { release, latest, unfinishedHandoff, argo } = await releaseToRollBack(deps, opts, read);
  // Without a Helm release, the Application answers what helm would (argocd-release.ts).
  const helm = argo ? argoHelm(deps.helm, deps.repoCharts!, argo) : deps.helm;
  const early = releaseRefusals(release, opts.to);
  if (early.length > 0) throw refusalError(early);
  const contract = resolveContract(release, opts.overrides, deps.tools);
  prefetch(helm);
  const [target, values] = await Promise.all([
    (async () => {
      const ref = opts.chart ?? (await read('helm search repo', () => helm.findChartRef(release.chart)));
      return { ...(await read('helm show chart (target)', () => helm.showChart(ref, opts.to))), ref };
    })(),
    needsFullname(contract, deps.tools) ? read('helm get values', () => helm.getValues(release.name)) : Promise.resolve(undefined),
  ]);
  const names = nameVars(release, values);
  if (argo) {
    const refs = [...(contract.run.workload ? [contract.run.workload] : []), ...contract.run.stop].map((t) => renderTemplate(t, names));
    await read('workloads of the Application', () => checkArgoWorkloads(deps.kube, argo, refs, opts.overrides.stop === undefined && opts.overrides.workload === undefined ? 'the chart\'s contract' : 'the contract and your flags'));
  }
  return { release, latest, unfinishedHandoff, contract, target, values, names, helm, ...(argo ? { argo } : {}) };
}

type Read = <T>(name: string, work: () => Promise<T>) => Promise<T>;

/** Whether a name or command the plan renders uses {{ .Fullname }} (then the release's values are read, once). */
function needsFullname(contract: ResolvedContract, tools: ToolRegistry): boolean {
  const templates = [
    contract.run.workload ?? '', ...contract.run.stop,
    ...contract.tracks.flatMap((t) => [...(t.command ?? tools.get(t.tool).offers.image?.down ?? []), ...(tools.get(t.tool).offers.image?.offlineDown ?? [])]),
  ];
  return templates.some((t) => t.includes('.Fullname'));
}

/**
 * The release to roll back. When its newest revision is a failed upgrade to the target version (a
 * hand-off that did not finish, ours or a plain `helm upgrade --version TARGET`), that revision is
 * not what runs: the deployed one is, with the newer chart's contract, workloads and down files.
 */
async function releaseToRollBack(deps: RollbackDeps, opts: RollbackOptions, read: Read): Promise<{ release: ReleaseInfo; latest: ReleaseInfo; unfinishedHandoff?: { revision: number }; argo?: ArgoRelease }> {
  let latest: ReleaseInfo;
  try {
    latest = await read('helm get metadata', () => deps.helm.getRelease(opts.release));
  } catch (err) {
    if (!(err instanceof ReleaseNotFoundError)) throw err;
    const argo = await read('Argo CD Application', () => argoReleaseInstead({ objects: deps.gitopsObjects, charts: deps.repoCharts }, {
      release: opts.release, namespace: deps.helm.namespace, gitops: opts.gitops ?? 'auto', choice: opts.argocd ?? {}, ...(opts.chart === undefined ? {} : { chart: opts.chart }),
    }, err));
    return { release: argo.release, latest: argo.release, argo };
  }
  if (latest.status !== 'failed' || latest.version !== opts.to) return { release: latest, latest };
  const deployed = await read('helm history + metadata (deployed)', () => deps.helm.deployedRelease(opts.release));
  return deployed ? { release: deployed, latest, unfinishedHandoff: { revision: latest.revision } } : { release: latest, latest };
}

/** On the one session: whether another run holds the release's lock, then each track's version table. */
async function readDatabase(deps: RollbackDeps, session: DatabaseSession, release: ReleaseInfo, tracks: readonly TrackSpec[], read: Read) {
  let runLock: RollbackFacts['runLock'] = { held: false };
  try {
    await read('run lock', () => checkRunLockFree(session, { namespace: release.namespace, release: release.name, records: deps.runRecords }));
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    runLock = { held: true, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
  const out: TrackFacts[] = [];
  for (const spec of tracks) {
    const tool = deps.tools.get(spec.tool);
    const table = { table: spec.table ?? tool.defaultTable, ...(spec.schema === undefined ? {} : { schema: spec.schema }) };
    const state = await read(`version table of ${spec.name}`, () => tool.readState(session, table));
    const tablesElsewhere = state.tableExists ? undefined : await deps.tools.locateTables?.(session, [table.table, tool.defaultTable]);
    out.push({ spec, tool, table, state, ...(tablesElsewhere ? { tablesElsewhere } : {}) });
  }
  return { runLock, tracks: out };
}

/** The hand-off as it will run, with --dry-run=server: passed, or helm's error. */
async function checkHandoff(deps: RollbackDeps, handoff: UpgradeRequest): Promise<RollbackFacts['handoffCheck']> {
  try {
    await deps.helm.checkUpgrade(handoff);
    return { ok: true };
  } catch (err) {
    if (!(err instanceof CommandFailedError)) throw err;
    return { ok: false, helmSays: helmSays(err.stderr) };
  }
}

/** The runner the user chose, or why it cannot serve this release (a fact: the plan refuses on it). */
async function buildRunner(deps: RollbackDeps, choice: RunnerChoice, read: Read): Promise<{ fact: RollbackFacts['runner']; runner?: Runner }> {
  try {
    const runner = await read(`${choice.name} runner`, () => deps.runnerFor(choice));
    return { fact: { name: runner.name }, runner };
  } catch (err) {
    if (!(err instanceof RefusedError || err instanceof UsageError)) throw err;
    return { fact: { name: choice.name, refused: { code: err.code, reason: err.message, ...(err.hint ? { hint: err.hint } : {}) } } };
  }
}

/**
 * What the runner says of each reverting track: its downs from the files (a refusal kept as a
 * fact), then, unless a track is refused already or another run holds the lock, the tool's offline
 * SQL (which may run a Job) and the data at risk, counted on the gather's session.
 */
async function previewTracks(
  deps: RollbackDeps,
  opts: RollbackOptions,
  known: Pick<RollbackFacts, 'tracks' | 'targets' | 'previousRun' | 'names' | 'runLock'>,
  runner: Runner,
  route: DatabaseRoute,
  read: Read,
): Promise<Pick<RollbackFacts, 'previews' | 'dataAtRisk'>> {
  const decisions = decideTracks(known);
  const steps = decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  const previews: Record<string, TrackPreview> = {};
  if (runner.preview && steps.length > 0) {
    await inStep(opts.progress, 'reading the down files', () => Promise.all(steps.map(async (step) => {
      previews[step.track] = await read(`down files of ${step.track}`, () => previewDowns(runner, step));
    })));
  }
  // A plan refused already is not worth a Job: the offline SQL and the data at risk are for a plan that can run.
  const refused = known.runLock.held || decisions.some((d) => d.kind === 'refuse') || Object.values(previews).some((p) => p.refused);
  if (refused) return { previews, dataAtRisk: [] };
  if (opts.sqlPreview && runner.capture) {
    for (const step of steps) {
      const sqlPreview = await previewSql(deps, opts, known, runner, step, route.url, read);
      if (sqlPreview) previews[step.track] = { ...previews[step.track], sqlPreview };
    }
  }
  const planned = decisions.map((d) => withPreview(d, previews)).flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  const dataAtRisk = await inStep(opts.progress, 'measuring the data at risk', () => read('data at risk', () => findDataAtRisk(route.session, runner, planned)));
  deps.log.debug(`data at risk: ${dataAtRisk.length} item(s)`);
  return { previews, dataAtRisk };
}

/** The runner's downs for one step, or its refusal of them. */
async function previewDowns(runner: Runner, step: TrackStep): Promise<TrackPreview> {
  try {
    return { downs: await runner.preview!(step) };
  } catch (err) {
    if (!(err instanceof RefusedError)) throw err;
    return { refused: { reasons: err.reasons, ...(err.hint ? { hint: err.hint } : {}) } };
  }
}

/**
 * The tool's offline SQL for a step (alembic downgrade FROM:TO --sql), run by the runner where the
 * downs would run. Only for tracks on the tool's default down command: a contract's own command
 * (poetry run ..., -c path) says nothing about how to run the tool offline. A failure is kept in the
 * plan, not thrown: the preview is an aid, the plan stands without it.
 */
async function previewSql(deps: RollbackDeps, opts: RollbackOptions, facts: Pick<RollbackFacts, 'tracks' | 'names'>, runner: Runner, step: TrackStep, databaseUrl: string, read: Read): Promise<TrackPreview['sqlPreview']> {
  const tool = deps.tools.get(step.tool);
  const spec = facts.tracks.find((t) => t.spec.name === step.track)?.spec;
  const capture = runner.capture;
  const offlineDown = tool.offers.image?.offlineDown;
  if (!spec || spec.command || !offlineDown || step.current.length !== 1 || !capture) return undefined;
  const command = renderStepCommand(offlineDown, step, facts.names, { From: step.current[0]! });
  let preview: TrackPreview['sqlPreview'];
  await inStep(opts.progress, `SQL preview for track ${step.track} (${command.join(' ')})`, () => read(`SQL preview of ${step.track}`, async () => {
    try {
      const lines = await capture.call(runner, step, command, { databaseUrl, log: deps.log, onOutput: () => undefined });
      // The tool's own log lines (alembic: "INFO  [alembic.runtime.migration] ...") are not SQL.
      preview = { command, lines: lines.filter((l) => !/^(INFO|WARNI|WARN|DEBUG)\s+\[/.test(l)) };
    } catch (err) {
      preview = { command, lines: [], error: err instanceof Error ? err.message : String(err) };
    }
  }), () => (preview?.error ? { ok: false, detail: 'unavailable (the plan says why)' } : {}));
  return preview;
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

/**
 * Each track's target revision and where it came from: --target-revision for its track, else the
 * target chart's annotations, else (a target chart with no contract at all) discovered in the target
 * version's image. A track the target's contract lacks gets none; the planner refuses it.
 */
async function targetRevisions(
  deps: RollbackDeps,
  opts: RollbackOptions,
  c: { release: ReleaseInfo; target: ChartInfo & { ref: string }; tracks: TrackSpec[]; workload: string | undefined; container: string | undefined; values?: Record<string, unknown> },
  read: Read,
): Promise<Map<string, TargetRevision>> {
  const { release, target, tracks } = c;
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
  const values = c.values ?? (await read('helm get values', () => deps.helm.getValues(release.name)));
  const discovered = await inStep(opts.progress, `discovering the target revision in chart ${target.name} ${target.version}'s image`, () => read('discovery', () => discoverTargetRevisions(deps, {
    release, target, workload: c.workload, container: c.container, extraHelmArgs: opts.extraHelmArgs,
    renderArg: async (arg, track) => renderTemplate(arg, { Track: track.name, Table: track.table ?? deps.tools.get(track.tool).defaultTable, Schema: track.schema ?? '', ...nameVars(release, values) }),
  }, unknown)), (found) => ({ detail: [...found].map(([track, d]) => `${track} at ${d.revision}${d.cached ? ' (cached)' : ''}`).join(', ') }));
  for (const [track, d] of discovered) {
    out.set(track, { revision: d.revision, source: d.cached ? 'discovered (cached)' : 'discovered', discovered: { image: d.image, command: d.command } });
  }
  return out;
}

/**
 * The target chart's tracks, checked before the plan: each revision in its tool's form (a
 * golang-migrate "008" would never equal the 8 the table holds, so the downs would run and the
 * check after them fail on every re-run), and each track on the tool the current chart runs its
 * downs with. Tracks whose revision --target-revision replaces are not checked.
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

/** A KubePort whose GETs of one object, made at once or one after another during the gather, are one request. */
function oneGetEach(kube: KubePort): KubePort {
  const gets = new Map<string, Promise<KubeObject>>();
  return {
    get(kind, name) {
      const key = `${kind.toLowerCase()}/${name}`;
      let got = gets.get(key);
      if (!got) gets.set(key, (got = settled(kube.get(kind, name))));
      return got;
    },
  };
}

/** The promise, with its rejection marked as handled: it is awaited (and thrown) later, in order. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** A read started early whose failure, if nobody needs its answer, is nobody's business. */
const quiet = settled;
