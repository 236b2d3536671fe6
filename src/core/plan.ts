/**
 * The rollback's plan, made from the gathered facts by pure functions: no port, no I/O, no clock.
 * The plan is complete when it leaves here (every step, command, revision list, preview) and
 * frozen; every refusal the facts call for is in its `refusals`, in the order the checks are
 * documented (README "Exit codes"): the run lock, the tracks, the hand-off, the runner, the
 * permissions, the runner's files, the size of the copy. The CLI reports them all at once
 * (refusalError) with the exit code of the first.
 */
import { planStops, type WorkloadStop } from './workload-stops.js';
import { archivePlan, archiveRefusal, type ArchivePlan, type DataAtRisk } from './data-at-risk.js';
import { ExitCode, LockedError, PermissionDeniedError, RefusedError, RollbackError, UsageError } from './errors.js';
import type { RollbackFacts, TargetSource, TrackFacts } from './facts.js';
import { gitOpsHandoff, gitOpsRefusals, type GitOpsHandoff } from './gitops.js';
import { permissionsMissing, type PermissionsCheck } from './permissions.js';
import { planTrack, type TrackDecision } from './planner.js';
import type { ChartInfo, ReleaseInfo, RunRecord, TrackStep, UpgradeRequest } from './ports.js';
import { repairFromUnfinishedDown } from './run-lock.js';
import { renderTemplate } from './template.js';
import { valid as semverValid, gt as semverGt } from 'semver';

/** One reason the plan cannot run, with the exit code it is reported with and the fix. */
export interface Refusal {
  code: ExitCode;
  reason: string;
  hint?: string;
}

export type { WorkloadStop } from './workload-stops.js';

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
  /** How the hand-off was checked before anything changed; none when there is no Helm release to upgrade (Argo CD renders the chart). */
  handoffCheck: 'helm upgrade --dry-run=server' | 'none: no Helm release';
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
  /** GitOps mode: the hand-off is this change in Git, not helm upgrade (README "GitOps (Argo CD, Flux)"). */
  gitops?: GitOpsHandoff;
  /** Why the plan cannot run; empty when it can. Nothing has changed either way. */
  refusals: Refusal[];
}

/**
 * The release against the version asked for, before anything else is read: the same version is
 * nothing to do, a newer one an upgrade. gather() stops on these (nothing else would be worth reading).
 */
export function releaseRefusals(release: ReleaseInfo, to: string): Refusal[] {
  if (to === release.version) return [{ code: ExitCode.refused, reason: `release ${release.name} is already at chart version ${to}`, hint: 'nothing to do' }];
  if (semverValid(to) && semverValid(release.version) && semverGt(to, release.version)) {
    return [{
      code: ExitCode.usage,
      reason: `chart version ${to} is newer than the release's ${release.version}: that is an upgrade, not a rollback`,
      hint: `run helm upgrade ${release.name} CHART --version ${to}; the application migrates up itself`,
    }];
  }
  return [];
}

/**
 * Each track's decision from its table and target, in execution order (the reverse of the tracks'
 * up order), with the down command rendered for runners that run the tool in the app's image.
 */
export function decideTracks(facts: Pick<RollbackFacts, 'tracks' | 'targets' | 'previousRun' | 'names'>): TrackDecision[] {
  return facts.tracks.map((t) => decideTrack(t, facts)).reverse();
}

function decideTrack(t: TrackFacts, facts: Pick<RollbackFacts, 'targets' | 'previousRun' | 'names'>): TrackDecision {
  const { spec, tool, table, state } = t;
  const decision = planTrack({ current: spec, targetRevision: facts.targets[spec.name]?.revision, state, tool, table, tablesElsewhere: t.tablesElsewhere });
  if (decision.kind === 'refuse') {
    // Dirty because an earlier run died inside this track's down (SIGKILL, a lost machine): it could
    // not write the repair, but its record says what the step reverted.
    const repair = repairFromUnfinishedDown(facts.previousRun, spec.name, tool, state, table);
    return repair ? { ...decision, hint: repair } : decision;
  }
  if (decision.kind !== 'revert') return decision;
  // The contract's command, else the tool's own default (alembic downgrade REV); runners that need one refuse without.
  const command = spec.command ?? tool.offers.image?.down;
  return command ? { ...decision, step: { ...decision.step, command: renderStepCommand(command, decision.step, facts.names) } } : decision;
}

/** A track command's placeholders filled for a step (the release's names, the step's revision, track, table). */
export function renderStepCommand(command: readonly string[], step: TrackStep, names: Readonly<Record<string, string>>, extra: Record<string, string> = {}): string[] {
  const vars = { Revision: step.target, Track: step.track, Table: step.table.table, Schema: step.table.schema ?? '', ...extra, ...names };
  return command.map((arg) => renderTemplate(arg, vars));
}

/** The plan, complete and frozen, with every refusal the facts call for. */
export function planRollback(facts: RollbackFacts): RollbackPlan {
  const { release, target, previousRun } = facts;
  const decisions = decideTracks(facts).map((d) => withPreview(d, facts.previews));
  // A workload an earlier run of this release kept at 0 is restored to what it had before that run.
  const stop = planStops(facts.stop, previousRun);
  const archive = archivePlan(facts.dataAtRisk, facts.request.archive);
  const plan: RollbackPlan = {
    release,
    target,
    targetSources: Object.fromEntries(Object.entries(facts.targets).map(([track, t]) => [track, t.source])),
    discovered: Object.fromEntries(Object.entries(facts.targets).flatMap(([track, t]) => (t.discovered ? [[track, t.discovered]] : []))),
    databaseUrlSource: facts.database.urlSource,
    databaseRoute: facts.database.route,
    runner: facts.runner.name,
    decisions,
    stop,
    ...(facts.workload ? { workload: facts.workload } : {}),
    ...(facts.container ? { container: facts.container } : {}),
    handoff: { release: release.name, chart: target.ref, version: facts.request.to, reuseValues: 'reset-then-reuse', extra: [...facts.request.extraHelmArgs] },
    ...(previousRun ? { previousRun } : {}),
    handoffCheck: 'skipped' in facts.handoffCheck && facts.handoffCheck.skipped ? `none: ${facts.handoffCheck.skipped}` : 'helm upgrade --dry-run=server',
    ...(facts.unfinishedHandoff ? { unfinishedHandoff: facts.unfinishedHandoff } : {}),
    dataAtRisk: [...facts.dataAtRisk],
    archive,
    permissions: facts.permissions.error === undefined ? { checked: facts.permissions.checked } : { checked: facts.permissions.checked, error: facts.permissions.error },
    ...(facts.gitops ? { gitops: gitOpsHandoff(facts.gitops, facts.request.to) } : {}),
    refusals: refusalsOf(facts, decisions, archive),
  };
  return deepFreeze(plan);
}

/** A reverting track with what its runner said: the downs and their revisions, the SQL preview. */
export function withPreview(d: TrackDecision, previews: RollbackFacts['previews']): TrackDecision {
  const preview = d.kind === 'revert' ? previews[d.step.track] : undefined;
  if (d.kind !== 'revert' || !preview) return d;
  const step: TrackStep = {
    ...d.step,
    ...(preview.downs ? { downs: preview.downs, revisions: preview.downs.map((x) => x.revision) } : {}),
    ...(preview.sqlPreview ? { sqlPreview: preview.sqlPreview } : {}),
  };
  return { ...d, step };
}

/** Every refusal, in the order of precedence (the first one's exit code is the run's). */
function refusalsOf(facts: RollbackFacts, decisions: readonly TrackDecision[], archive: ArchivePlan): Refusal[] {
  const refused = (reason: string, hint?: string): Refusal => ({ code: ExitCode.refused, reason, ...(hint ? { hint } : {}) });
  const lock = facts.runLock;
  return [
    ...(lock.held ? [{ code: ExitCode.locked, reason: lock.message, ...(lock.hint ? { hint: lock.hint } : {}) }] : []),
    // A run in progress is reported as such, not its half-done tables (a dirty table mid-step is not
    // a thing to repair by hand). A dirty track left by this plugin's own run: its record names the exact repair.
    ...(lock.held ? [] : decisions.flatMap((d) => (d.kind === 'refuse' ? [refused(`track ${d.track}: ${d.reason}`, facts.previousRun?.repairs?.[d.track] ?? d.hint)] : []))),
    ...rollbackOnFailure(facts.request.extraHelmArgs, facts.release, facts.target).map((r) => refused(r.reason, r.hint)),
    // Before the first down: a hand-off that cannot even render would leave the schema down and the
    // newer chart's workloads at 0.
    ...(facts.handoffCheck.ok ? [] : [refused(...handoffRefusal(facts, facts.handoffCheck.helmSays))]),
    // GitOps: a controller syncing on its own would re-apply the newer chart after the downs.
    ...gitOpsRefusals(facts.gitops, { release: facts.release.name, current: facts.release.version, to: facts.request.to, extraHelmArgs: facts.request.extraHelmArgs }),
    ...(facts.runner.refused ? [facts.runner.refused] : []),
    ...(facts.permissions.missing.length > 0 ? [fromError(permissionsMissing(facts.permissions.missing))] : []),
    // Each reason names its track, as they are listed together.
    ...Object.entries(facts.previews).flatMap(([track, p]) =>
      (p.refused?.reasons ?? []).map((r) => refused(r.startsWith(`track ${track}:`) ? r : `track ${track}: ${r}`, p.refused?.hint))),
    ...[archiveRefusal(facts.dataAtRisk, archive)].flatMap((r) => (r ? [refused(r.reason, r.hint)] : [])),
  ];
}

function handoffRefusal(facts: RollbackFacts, says: string): [string, string] {
  const { target } = facts;
  return [
    `the hand-off would fail: helm upgrade ${facts.release.name} ${target.ref} --version ${facts.request.to} --dry-run=server says: ${says}`,
    `fix what helm names (chart ${target.name} ${target.version} rendered with the release's values and your helm flags after "--"), then run again; --dry-run repeats the check without changing anything`,
  ];
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

function fromError(err: RollbackError): Refusal {
  return { code: err.code, reason: err.message, ...(err.hint ? { hint: err.hint } : {}) };
}

/**
 * The error that reports the refusals: one alone as it always read (its own error class and exit
 * code); several as one list, so that one pass fixes them all, with the first one's exit code.
 */
export function refusalError(refusals: readonly Refusal[]): RollbackError {
  const hints = [...new Set(refusals.flatMap((r) => (r.hint ? [r.hint] : [])))];
  const hint = hints.length === 0 ? undefined : hints.join(hints.some((h) => h.includes('\n')) ? '\n  ' : '; ');
  const first = refusals[0]!;
  if (refusals.every((r) => r.code === ExitCode.refused)) return new RefusedError(refusals.map((r) => r.reason), hint);
  if (refusals.length > 1) {
    // Multi-line reasons (the missing permissions' list) are indented under their item.
    const list = refusals.map((r) => `  - ${r.reason.replace(/\n/g, '\n    ')}`).join('\n');
    return new RollbackError(first.code, `refused:\n${list}`, { hint });
  }
  const details = first.hint ? { hint: first.hint } : {};
  switch (first.code) {
    case ExitCode.locked: return new LockedError(first.reason, details);
    case ExitCode.usage: return new UsageError(first.reason, details);
    case ExitCode.permissionDenied: return new PermissionDeniedError(first.reason, details);
    default: return new RollbackError(first.code, first.reason, details);
  }
}

/** The plan is read by the CLI and carried out by execute(); nothing may change it on the way. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
