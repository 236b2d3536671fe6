/**
 * What a rollback's gather step read, and all the planner gets: plain data, no port, no handle.
 * Every outcome the plan may refuse on (a dirty table, a failed hand-off check, a missing
 * permission, a runner that cannot revert a track from its files) is recorded here as a fact rather
 * than thrown half-way, so that plan(facts) lists every refusal at once. What cannot be gathered at
 * all (no such release, no database URL, an unreachable database, a broken contract) is still
 * thrown by gather: there is nothing to plan from.
 */
import type { ArchiveOptions, DataAtRisk } from './data-at-risk.js';
import type { ExitCode } from './errors.js';
import type { GitOpsFacts } from './gitops.js';
import type { PermissionNeed } from './permissions.js';
import type { ChartInfo, MigrationTool, PlannedDown, ReleaseInfo, RunRecord, TrackState, VersionTableRef } from './ports.js';
import type { TrackSpec } from './resolve.js';

/**
 * Where a track's target revision came from: the target chart's annotations, --target-revision, or
 * discovered in the target version's image (a Job ran its heads command; or a cached answer of one).
 */
export type TargetSource = 'annotations' | 'flag' | 'discovered' | 'discovered (cached)';

export interface TargetRevision {
  revision: string;
  source: TargetSource;
  discovered?: { image: string; command: string[] };
}

/** One track of the current chart and its version table as read. */
export interface TrackFacts {
  /** The track as the CURRENT (newer) chart describes it (flags applied). */
  spec: TrackSpec;
  /** The tool that migrates it (a pure object: its name, revision order, default commands). */
  tool: MigrationTool;
  table: VersionTableRef;
  state: TrackState;
  /** When the table does not exist: the tables of its name, or the tool's default name, in other schemas. */
  tablesElsewhere?: string[];
}

/** What the runner said of one reverting track before anything ran. */
export interface TrackPreview {
  /** The downs the runner would run, each with its file (runners that read the files: native). */
  downs?: PlannedDown[];
  /** The runner cannot revert the track as planned from its files (a missing down, another tool). */
  refused?: { reasons: string[]; hint?: string };
  /** The tool's offline SQL, run where the downs would run, or why there is none. */
  sqlPreview?: { command: string[]; lines: string[]; error?: string };
}

export interface RollbackFacts {
  /** What the user asked for, as far as the plan needs it. */
  request: {
    to: string;
    runner: string;
    /** The user's helm flags after `--`, passed to helm upgrade. */
    extraHelmArgs: readonly string[];
    archive: ArchiveOptions;
  };
  release: ReleaseInfo;
  /** The release's newest revision is a failed upgrade to the target (a hand-off that did not finish). */
  unfinishedHandoff?: { revision: number };
  target: ChartInfo & { ref: string };
  /** Per track of the current chart: the target's revision and its source; absent when the target has no such track. */
  targets: Readonly<Record<string, TargetRevision>>;
  tracks: readonly TrackFacts[];
  /** The release's name placeholders ({{ .Release.Name }}, {{ .Fullname }} when a template needs it). */
  names: Readonly<Record<string, string>>;
  /** The rendered workload that holds the current version's code, and its container. */
  workload?: string;
  container?: string;
  database: {
    /** Where the URL came from, safe to print (never the URL). */
    urlSource: string;
    /** "direct", or the port-forward used. */
    route: string;
  };
  /** Another run holds the release's run lock: its holder, as LockedError says it. */
  runLock: { held: false } | { held: true; message: string; hint?: string };
  /** The record of an earlier run of this release that did not finish. */
  previousRun?: RunRecord;
  /**
   * `helm upgrade ... --dry-run=server` as the hand-off will run: passed, or helm's error on one
   * line; or skipped, and why (no Helm release: Argo CD renders the chart, no helm upgrade runs).
   */
  handoffCheck: { ok: true; skipped?: 'no Helm release' } | { ok: false; helmSays: string };
  /** Each workload the rollback stops (rendered) and its replicas now. */
  stop: ReadonlyArray<{ ref: string; replicas: number }>;
  /** Where the stop list came from, for messages. */
  stopFrom: '--stop' | 'schema-rollback.io/stop';
  /** The runner chosen, or why it cannot run this release's downs (then no preview was asked of it). */
  runner: { name: string; refused?: { code: ExitCode; reason: string; hint?: string } };
  /** The SelfSubjectAccessReviews' answers. */
  permissions: { checked: PermissionNeed[]; missing: PermissionNeed[]; error?: string };
  /** Per reverting track: what the runner said (absent when the runner offers nothing, or could not be built). */
  previews: Readonly<Record<string, TrackPreview>>;
  /** What the downs destroy, counted live; [] when no SQL could be read. */
  dataAtRisk: readonly DataAtRisk[];
  /** GitOps mode (gitops.ts): the Argo CD Application or Flux HelmRelease that owns the release. */
  gitops?: GitOpsFacts;
}
