/**
 * The seams between the core and the outside world. The core only ever sees these interfaces;
 * src/adapters (helm, kubectl, PostgreSQL) and src/tools (one module per migration tool)
 * implement them, and tests implement them with doubles or real servers.
 */

// ---------------------------------------------------------------------------------------------
// Database

export interface QueryResult<R> {
  rows: R[];
  rowCount: number | null;
  /**
   * A text of several statements sent without parameters (one round trip, the simple protocol):
   * each statement's row count, in order (null for a statement that reports none, e.g. COMMENT);
   * rows and rowCount are then the last statement's. Absent for a single statement.
   */
  rowCounts?: Array<number | null>;
}

/** The part of a database connection that tools use: one query at a time, on one session. */
export interface SqlClient {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** One open session. Session-level advisory locks live exactly as long as it does. */
export interface DatabaseSession extends SqlClient {
  close(): Promise<void>;
}

/** Opens sessions. The URL never leaves this port in any message: adapters redact it. */
export interface DatabaseConnector {
  connect(url: string): Promise<DatabaseSession>;
  /**
   * Loads what connect needs (the driver) soon, without connecting: called when reads that connect
   * waits for are in flight, so that the loading fills their wait instead of following it. Optional.
   */
  prepare?(): void;
}

/** Where a forward into the cluster leads: a Service or pod in kubectl's TYPE/NAME form, and its port. */
export interface ForwardTarget {
  /** e.g. "svc/kagent-postgres", "pod/db-0". */
  resource: string;
  namespace: string;
  /** The Service's port for a Service (kubectl maps it to the pod's targetPort), else the pod's port. */
  port: number;
}

/** A running forward from a port on 127.0.0.1 into the cluster. */
export interface Tunnel {
  readonly localPort: number;
  /** The forwarder's last complaint (kubectl's stderr), for messages; names pods and ports, never a secret. */
  lastError(): string | undefined;
  /** Stops the forward; connections through it end. */
  close(): Promise<void>;
}

/** Reaching an in-cluster database from where helm runs (`kubectl port-forward`). */
export interface PortForwardPort {
  /** Starts a forward and resolves once it listens. Throws a RollbackError naming the target when it cannot. */
  open(target: ForwardTarget): Promise<Tunnel>;
}

// ---------------------------------------------------------------------------------------------
// Migration tools

/** Where a track keeps its bookkeeping. schema undefined = resolved through search_path, as the tool does. */
export interface VersionTableRef {
  table: string;
  schema?: string;
}

/** What a version table says right now. */
export interface TrackState {
  /** false when the version table does not exist (the tool never ran). Not an error. */
  tableExists: boolean;
  /**
   * The applied revisions as the tool records them, exactly as stored (strings; '0010' stays '0010'):
   * [] at base (no row), one entry per head (alembic can have several).
   */
  revisions: string[];
  /** golang-migrate's dirty flag: a step started and did not finish. false for tools without one. */
  dirty: boolean;
  /**
   * Tools that keep one row per applied migration (goose, dbmate, sql-migrate, node-pg-migrate):
   * every applied one, as stored, so the plan can refuse one that no file defines (dbmate would
   * step over it and leave its row; the others refuse the run themselves).
   */
  applied?: string[];
}

/**
 * One migration tool (alembic, golang-migrate, ...). Tools stay dumb: they read their own
 * bookkeeping and know their file formats; ordering policy, refusals and locking live in core.
 * Everything a tool may or may not do sits in `offers`, one small object per capability, so a
 * caller asks `tool.offers.history` once instead of testing members one by one. Adding a tool:
 * docs/CONTRIBUTING.md "Adding a migration tool".
 */
export interface MigrationTool {
  /** The name used in annotations and flags. */
  readonly name: string;
  /** The version table's default name when the contract names none. */
  readonly defaultTable: string;
  /** Checks a revision as written in a contract; returns a problem description, or undefined when fine. */
  checkRevision(revision: string): string | undefined;
  /** Reads the version table. Returns tableExists=false when it is missing; throws VersionTableError when unreadable. */
  readState(db: SqlClient, table: VersionTableRef): Promise<TrackState>;
  /** How revisions compare and resolve beyond string equality; absent: equal strings only. */
  readonly order?: RevisionOrder;
  /** The capabilities the tool offers, each absent when it does not. */
  readonly offers: ToolOffers;
}

/**
 * How a tool's revisions relate, from the ids alone. Used by the planner (ahead/behind/upgrade
 * refusals), verify --against (a chart version going backwards) and execute (the end state check).
 */
export interface RevisionOrder {
  /**
   * Orders two revisions (<0, 0, >0) when the tool can tell from the ids alone (golang-migrate's
   * numbers). Tools whose order is a graph in the files (alembic) leave it out, and the planner
   * then compares only for equality.
   */
  compare?(a: string, b: string): number;
  /**
   * Whether the revision stored in the version table is the one `wanted` names, as the tool
   * resolves names (alembic: an id's unique prefix of 4+ characters, `alembic downgrade f43d`).
   * Without it, only equal strings match.
   */
  names?(wanted: string, stored: string): boolean;
}

/** What a tool may offer besides reading its version table; each capability is optional. */
export interface ToolOffers {
  /** Reading a migrations directory into the tool's history: annotate, verify. */
  readonly history?: HistoryReader;
  /** Commands of the tool's own CLI in the app's image: the job and exec runners, --dry-run's SQL preview, discovery. */
  readonly image?: ImageCommands;
  /** The exact repair of a version table the tool marks dirty (golang-migrate): execute, status, the run record. */
  readonly dirty?: DirtyRepair;
  /** The plugin runs the tool's down files itself: the native runner, with the driver of src/tools/<tool>-native.ts. */
  readonly native?: NativeDriver;
}

/**
 * Reads a migrations directory (the file names and contents, no I/O) into the tool's history:
 * every revision it defines, its heads, and which revisions come before which. Used by `annotate`
 * and `verify` (src/core/migrations.ts), and by the README's tool table (`npm run gen`).
 */
export interface HistoryReader {
  /**
   * Throws MigrationsError when the files make no history the tool would accept (a broken alembic
   * graph, two files for one version).
   */
  read(files: readonly MigrationFile[]): MigrationHistory;
  /** A subdirectory read instead of the given directory when it exists (alembic: a script directory's versions/). */
  readonly filesIn?: string;
  /** true when a history can have several heads and `--branch LABEL` picks one (alembic's branch labels). */
  readonly branches?: boolean;
  /** How the files are read, for the README's tool table (generated by `npm run gen`): markdown, one phrase each. */
  readonly about: { files: string; revision: string; head: string };
}

/**
 * The tool's own CLI, run in the app's image by the job and exec runners (src/core/rollback.ts)
 * and by discovery of an unannotated chart's revision (src/core/discover.ts).
 */
export interface ImageCommands {
  /**
   * The down command (argv, with the contract's placeholders) when the contract gives none
   * (alembic: `alembic downgrade {{ .Revision }}`).
   */
  readonly down?: readonly string[];
  /**
   * A command that prints the downs' SQL without running them (offline mode), with `{{ .From }}`
   * (the database's revision) and `{{ .Revision }}` (the target). `--dry-run` runs it where the
   * downs would run, when the track uses the default `down`.
   */
  readonly offlineDown?: readonly string[];
  /** Printing the heads of the migrations shipped in an image, without a database (alembic heads). */
  readonly heads?: HeadsCommand;
}

/** How discovery asks an image which revision its migrations end at. */
export interface HeadsCommand {
  /**
   * The command, given the track's down command (undefined: the tool's default), so that a
   * contract's own way of calling the tool (poetry run alembic -c x.ini downgrade ...) is kept;
   * undefined when it cannot tell.
   */
  command(downCommand: readonly string[] | undefined): string[] | undefined;
  /** Reads the heads from that command's output lines (log lines and noise skipped). */
  parse(lines: readonly string[]): string[];
}

/**
 * For tools that mark a version table dirty (golang-migrate): how to repair it. Used by execute
 * (the failure report), run-lock (the next run's advice) and the run record.
 */
export interface DirtyRepair {
  /**
   * The exact repair after a DOWN of this run failed, knowing the revisions the step was reverting
   * (newest first, when the plan lists them) and the step's last output lines. Returns the version
   * the schema is really at and the command that marks it clean.
   */
  repair(state: TrackState, reverting: readonly string[], output?: readonly string[], table?: VersionTableRef): { version: string; command: string } | undefined;
  /** Whether a line of the tool's output names a down file (kept in the run record as the step goes). */
  namesDownFile(line: string): boolean;
}

/**
 * A tool's native driver: how the plugin itself runs the tool's down files over its own session,
 * with exactly the tool's bookkeeping, transactions and lock (golang-migrate's database drivers;
 * umzug's storage). Drivers stay dumb: the one native runner (src/runners/native.ts) connects,
 * takes the locks with a bounded wait, checks the table against the plan, runs the downs in order,
 * stops between files on an interrupt and checks the end state. Refusals (a missing down, a hole)
 * are the runner's, from what planDowns reports. One conformance suite
 * (test/integration/native-conformance.test.ts) runs every driver against PostgreSQL 14 to 18.
 */
export interface NativeDriver {
  /**
   * Pure: the downs the tool's own command would run to take the table from `current` to `target`
   * (null = base, nothing applied), newest first, read from the track's files as the tool reads
   * them (names it skips are listed in `ignored`). Throws MigrationsError for files the tool would
   * refuse (two files for one version, an unparsable down section), RefusedError when `current`
   * has no file (the tool: "no migration found for version N"). `origin` names where the files came
   * from ("kagent.tgz:core/"), for those messages.
   */
  planDowns(files: readonly MigrationFile[], current: string | null, target: string | null, origin?: string): { downs: NativeDown[]; ignored: string[] };
  /**
   * On the runner's session: where the version table really is (the schema the tool resolves it
   * in) and the advisory locks the tool (or an app embedding it) takes for it; [] for tools whose
   * CLI takes none. Creates nothing.
   */
  open(db: SqlClient, ref: VersionTableRef): Promise<NativeTable>;
  /**
   * Runs one down exactly as the tool does: its transaction (or none, where the file says so), its
   * statements, its version-table write. Throws NativeStepError saying what the table holds now
   * and where the schema is.
   */
  runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void>;
  /**
   * Optional: writes the version table back to what it held before `down` ran, (from, clean), after
   * a failure whose NativeStepError says the schema stayed at `from` while the table says otherwise
   * (golang-migrate's (previous, dirty), written before the file). The runner calls it only when it
   * knows the down rolled back whole (a lock wait that timed out), to run the step again. Absent:
   * such a step is not retried.
   */
  restoreBeforeStep?(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void>;
  /**
   * Optional (--verify-downs, src/core/verify-downs.ts): the ups the tool would run to take the
   * table from `current` (null: nothing applied) to `target`, oldest first. Only ever run against a
   * throwaway database: the plugin never runs ups on the live one.
   */
  planUps?(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[];
  /** With planUps: one up exactly as the tool runs it, creating the version table first as the tool does, and its own bookkeeping. */
  runUp?(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void>;
}

/** One up step as a native driver runs it (--verify-downs' scratch database only). */
export interface NativeUp {
  /** The revision applied, as the version table stores it. */
  version: string;
  file: string;
  /** The statements in the order the tool sends them (one text per query). */
  statements: readonly string[];
  transactional: boolean;
}

/** One down step as a native driver runs it. */
export interface NativeDown {
  /** The revision reverted, as the version table stores it. */
  from: string;
  /** What the table holds afterwards (the tool's current version); null at base. */
  to: string | null;
  /** The file whose down part runs; absent when the version has none and the tool moves past it running nothing. */
  file?: string;
  /** Without `file`: what the tool would have run, for the refusal that names it ("file 000002_b.down.sql", "-- +goose Down section in 2_b.sql"). */
  expectedFile?: string;
  /** The down SQL as written in the file (the plan's data-at-risk analysis reads it); '' when none. */
  sql: string;
  /** Whether the tool runs the body and its bookkeeping in one transaction (false: goose NO TRANSACTION, dbmate transaction:false, sql-migrate notransaction). */
  transactional: boolean;
  /** Versions between `from` and `to` with no file at all that the tool steps over (golang-migrate's holes). */
  missing?: { first: string; last: string };
}

/** A version table as a driver resolved it on a session. */
export interface NativeTable {
  schema: string;
  table: string;
  /** pg_advisory_lock keys (bigint, as decimal strings) the tool or an app embedding it takes; the runner takes each, bounded. */
  locks: Array<{ key: string; what: string }>;
}

/** One file of a migrations directory, as read by an adapter: its base name and its text. */
export interface MigrationFile {
  name: string;
  body: string;
}

/** What a migrations directory says, tool by tool (alembic's graph, the others' ordered lists). */
export interface MigrationHistory {
  /** Every revision the files define, exactly as the tool writes it to its version table, oldest first where the tool orders them. */
  revisions: string[];
  /** The revisions nothing comes after (alembic: not any revision's down_revision); one for a linear history. */
  heads: string[];
  /** alembic branch labels → the revision that declares each. Empty for the other tools. */
  branches: Record<string, string>;
  /** True when `ancestor` is applied before `revision` in every upgrade to it (strictly: never for equal ids). */
  isAncestor(ancestor: string, revision: string): boolean;
  /** File names the tool would skip (not matching its naming pattern). */
  ignored: string[];
}

/** The migration tools this build knows, by name. get() throws a UsageError naming the known ones. */
export interface ToolRegistry {
  get(name: string): MigrationTool;
  /**
   * Optional: every existing table with one of these names, as "schema.table", for a message about
   * a version table that is not where the track says (a wrong --table or --schema).
   */
  locateTables?(db: SqlClient, names: readonly string[]): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------
// Helm

/** A deployed release, as `helm get metadata` describes it. */
export interface ReleaseInfo {
  name: string;
  namespace: string;
  revision: number;
  status: string;
  chart: string;
  version: string;
  appVersion?: string;
  /** The release chart's Chart.yaml annotations. */
  annotations: Record<string, string>;
  /** Helm 4 only: how this revision was applied, "ssa" (server-side) or "csa"; absent for Helm 3 releases. */
  applyMethod?: string;
}

export interface HelmPort {
  /** The namespace helm resolved for this invocation (-n, kube context, or "default"). */
  readonly namespace: string;
  /** Throws ReleaseNotFoundError when the release does not exist. */
  getRelease(name: string): Promise<ReleaseInfo>;
  /** The release's computed values (`helm get values -a`): chart defaults merged with the user's. */
  getValues(name: string): Promise<Record<string, unknown>>;
}

/** A chart version's Chart.yaml, as `helm show chart REF --version V` prints it. */
export interface ChartInfo {
  name: string;
  version: string;
  appVersion?: string;
  annotations: Record<string, string>;
}

/**
 * Reading charts that are not installed: the target of a rollback. Kept apart from HelmPort so the
 * ports the status action needs stay small (its doubles implement only those).
 */
export interface ChartPort {
  /**
   * One chart version's metadata. REF is repo/chart, oci://..., a chart directory or a .tgz.
   * Throws UsageError when the repository, chart or version does not exist, or when a local chart
   * is another version (helm ignores --version for those).
   */
  showChart(ref: string, version: string): Promise<ChartInfo>;
  /**
   * The repo/chart reference of a chart name in the user's repositories (`helm search repo`).
   * UsageError when no repository has it, or several do (the user then names one with --chart).
   */
  findChartRef(chartName: string): Promise<string>;
  /** Every published version of a repo/chart, newest first, pre-releases included. UsageError for other refs. */
  chartVersions(ref: string): Promise<string[]>;
}

/** Rendering a chart version that is not installed, the way `helm upgrade` would install it. */
export interface ChartRenderPort {
  /**
   * `helm template RELEASE CHART --version V --is-upgrade` with the release's user-supplied values
   * and the values flags (--set, -f, ...) among `extra`: the manifests the upgrade would apply.
   */
  renderChart(request: { release: string; chart: string; version: string; extra?: string[] }): Promise<KubeObject[]>;
}

/**
 * A chart in a repository named by its URL, not by a name `helm repo add` gave it: how an Argo CD
 * Application's source names its chart (README "Argo CD without a Helm release"). repoURL is an
 * http(s) chart repository, an oci:// registry path, or a registry path without a scheme (Argo CD's
 * OCI repositories, declared with enableOCI).
 */
export interface RepoChartRef {
  repoURL: string;
  chart: string;
}

/** Reading and rendering such charts (`helm show chart|values --repo URL`, `helm template --repo URL`, oci:// refs directly). */
export interface RepoChartsPort {
  /** One version's Chart.yaml. UsageError when the repository has no such chart or version. */
  showChart(ref: RepoChartRef, version: string): Promise<ChartInfo>;
  /** One version's own values.yaml (its defaults). */
  showValues(ref: RepoChartRef, version: string): Promise<Record<string, unknown>>;
  /**
   * `helm template RELEASE CHART --version V` in helm's namespace with exactly these user values
   * (given on stdin: they may hold secrets) and the values flags among `extra`; the chart's own
   * defaults apply under them.
   */
  renderChart(ref: RepoChartRef, request: { release: string; version: string; values: Record<string, unknown>; extra?: string[] }): Promise<KubeObject[]>;
}

/**
 * Running one read-only command in a short-lived pod cloned from a workload that need not be
 * deployed (a rendered one), and reading its output: how an unannotated chart version's revision is
 * discovered in the cluster, in that version's own image, without pulling it anywhere else.
 */
export interface ProbePort {
  /** The command's output lines; throws a RollbackError when it cannot run or exits non-zero. */
  probe(workload: KubeObject, container: string | undefined, command: string[], label: string): Promise<string[]>;
}

/** Revisions discovered before, by key (chart, version, track, image, command); kept between runs. */
export interface DiscoveryCachePort {
  get(key: string): Promise<string | undefined>;
  set(key: string, revision: string): Promise<void>;
}

/** How `helm upgrade` treats the release's values when moving it to another chart version. */
export type ValuesMode = 'reset-then-reuse' | 'reuse';

export interface UpgradeRequest {
  release: string;
  /** repo/chart, oci://..., a chart directory or a .tgz. */
  chart: string;
  version: string;
  /** Default 'reset-then-reuse': the user's values over the target chart's own defaults. */
  reuseValues?: ValuesMode;
  /** The user's own helm flags (given after `--`), passed through last so they win. */
  extra?: string[];
  wait?: boolean;
  /** A Go duration for --timeout, e.g. "300s". */
  timeout?: string;
  /**
   * Helm 4: the release's newest revision as already read (its applyMethod decides --force-conflicts),
   * so that checkUpgrade need not read it again; absent, the adapter reads it right before running.
   */
  latest?: Pick<ReleaseInfo, 'applyMethod'>;
}

/** Changing a release: the last step of a rollback. */
export interface HelmUpgradePort {
  /** The major version of $HELM_BIN (3 or 4): flags differ between them. */
  helmMajor(): Promise<number>;
  /**
   * `helm upgrade` exactly as upgrade() would run it (same values mode and flags, the user's extra
   * flags included) plus `--dry-run=server`: helm reads the flags and values files, renders the
   * target chart (lookup against the cluster) and validates the manifests against the cluster's
   * schemas, changing nothing. What only the API server decides on a real write (admission
   * webhooks, immutable fields, quotas) and hooks are not checked. Throws CommandFailedError.
   */
  checkUpgrade(request: UpgradeRequest): Promise<void>;
  /** Runs `helm upgrade`; output lines go to onOutput as they come. Throws CommandFailedError. */
  upgrade(request: UpgradeRequest, onOutput?: (line: string) => void): Promise<void>;
  /**
   * The release's newest revision whose status is "deployed" (`helm history`, then `helm get
   * metadata --revision N`), or undefined when it has none. After a failed upgrade the newest
   * revision is the failed one (getRelease reads that), while the deployed one is what still runs.
   */
  deployedRelease(name: string): Promise<ReleaseInfo | undefined>;
}

/**
 * What `helm upgrade` touches besides the chart's objects: where Helm keeps the release's revisions
 * ($HELM_DRIVER), and the objects of the release's current manifest (`helm get manifest`).
 */
export interface ReleaseManifestPort {
  /** The resource Helm stores revisions in: "secrets" (the default driver), "configmaps", or undefined (memory, sql). */
  readonly releaseStorage: 'secrets' | 'configmaps' | undefined;
  /** apiVersion, kind, name and namespace of every object in the release's manifest; nothing else is kept. */
  manifestObjects(release: string): Promise<ManifestObject[]>;
}

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** metadata.namespace when the manifest sets it. */
  namespace?: string;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** A Kubernetes object as JSON. Only the fields the core reads are typed. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
  data?: Record<string, string>;
}

export interface KubePort {
  /** GET one object, e.g. ("deployment", "app-backend"). Throws ClusterError when it is missing. */
  get(kind: string, name: string): Promise<KubeObject>;
}

/** One request the run will make, in the terms RBAC authorizes it (a SelfSubjectAccessReview's resourceAttributes). */
export interface AccessRequest {
  verb: string;
  /** API group; "" for the core group. */
  group: string;
  /** Plural resource name: "deployments". */
  resource: string;
  subresource?: string;
  /** One object's name; absent for create, list and watch, which name none. */
  name?: string;
  /** Absent for cluster-scoped resources. */
  namespace?: string;
}

/** Asking the API server what the current user may do, as `kubectl auth can-i` does. */
export interface AccessReviewPort {
  /** Whether each request is allowed, in the same order. Throws when the API cannot be asked. */
  canI(requests: readonly AccessRequest[]): Promise<boolean[]>;
}

/** Stopping and restarting workloads through the scale subresource, as `kubectl scale` does. */
export interface KubeScalePort {
  /** Sets spec.replicas of a Deployment, StatefulSet or ReplicaSet. */
  scale(kind: string, name: string, replicas: number): Promise<void>;
  /** spec.replicas (1 when unset, as the API defaults it). UsageError for kinds without replicas. */
  getReplicas(kind: string, name: string): Promise<number>;
}

/** How a Job ended. 'timeout': still unfinished when the caller stopped waiting. */
export interface JobOutcome {
  /** not-started: its pod's container cannot start because its image cannot be pulled (the Job has run nothing). */
  status: 'complete' | 'failed' | 'timeout' | 'not-started';
  /** The Failed condition's reason and message, e.g. BackoffLimitExceeded, DeadlineExceeded; or the waiting container's (ImagePullBackOff). */
  reason?: string;
  message?: string;
  /** not-started: the image that cannot be pulled. */
  image?: string;
}

/** Running a one-off Job in the release's namespace (the job runner). */
export interface KubeJobPort {
  /** Creates the Job and returns it as stored (server-set fields included). */
  createJob(job: KubeObject): Promise<KubeObject>;
  /**
   * Waits for the Job's Complete or Failed condition, at most timeoutSeconds; returns not-started
   * as soon as its pod waits on an image that cannot be pulled (ErrImagePull, ImagePullBackOff,
   * InvalidImageName), which would otherwise hold the run until the Job's deadline.
   */
  waitForJob(name: string, timeoutSeconds: number): Promise<JobOutcome>;
  /**
   * Follows the log of the Job's pod, one call per line, until the container ends or `signal`
   * aborts. Waits up to podRunningTimeoutSeconds for the pod to start.
   */
  followJobLogs(name: string, onLine: (line: string) => void, opts?: { signal?: AbortSignal; podRunningTimeoutSeconds?: number }): Promise<void>;
  /** Deletes the Job and its pods, and returns once they are gone. Missing is fine. */
  deleteJob(name: string): Promise<void>;
}

/** Running a command in a running pod of a workload (the exec runner), as `kubectl exec` does. */
export interface KubeExecPort {
  /**
   * The name of a Running pod of the workload (KIND/NAME), found through its spec.selector.matchLabels.
   * ClusterError when there is none.
   */
  findRunningPod(kind: string, name: string): Promise<string>;
  /** Runs argv in the pod's container; every output line (stdout and stderr) to onLine. Resolves with the exit code. */
  exec(pod: string, container: string | undefined, argv: string[], onLine: (line: string) => void): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Runners: where a track's downs run (native SQL over pg, a Kubernetes Job, exec into a pod)

/** One track's part of a rollback plan. */
export interface TrackStep {
  track: string;
  tool: string;
  table: VersionTableRef;
  /** What the version table held when the plan was made. */
  current: string[];
  /** Every applied migration the table lists, for tools that keep one row each (TrackState.applied). */
  applied?: string[];
  /** The revision to land on; BASE ('base') for nothing applied. */
  target: string;
  /** The revisions that will be reverted, newest first. */
  revisions: string[];
  /** Each down as the runner will run it, from the files it reads (native); absent when the tool in the image decides. */
  downs?: PlannedDown[];
  /** The down command (rendered argv) for runners that run the tool in the app's image. */
  command?: string[];
  /** --dry-run: the tool's offline SQL for this step (a preview: never run), or why there is none. */
  sqlPreview?: { command: string[]; lines: string[]; error?: string };
}

/** One down step as a runner that reads the migration files will run it, for the plan. */
export interface PlannedDown {
  /** The revision reverted. */
  revision: string;
  /** What the version table holds after the step; BASE at the bottom of the chain. */
  to: string;
  /** The down file run; absent when there is none and the version moves without running anything. */
  file?: string;
  /** Versions between `revision` and `to` that have no file at all, stepped over ("8", "8..10"). */
  missing?: string;
}

export interface RunnerContext {
  /** The database URL: runners pass it to the tool, never print it. */
  databaseUrl: string;
  log: Log;
  /**
   * Aborted on the operator's second interrupt: stop the step now. A runner cancels what it can so
   * that the tool's own bookkeeping decides where the track stands (golang-migrate: the running
   * statement is cancelled, PostgreSQL rolls the file back, the table says dirty).
   */
  abort?: AbortSignal;
  /** Aborted on the first interrupt: a runner that runs several files stops after the one running now. */
  stop?: AbortSignal;
  /** Progress for people: tool output lines, step boundaries. */
  onOutput(line: string): void;
  /**
   * Env vars that replace the app's own in the pod the runner starts (the job runner): --rehearse
   * gives the dev URL in the variable the app reads its URL from. Runners that start no pod ignore it.
   */
  env?: Readonly<Record<string, string>>;
}

/**
 * Runs the downs of one track. Resolves once the work is done (the core then verifies the version
 * table itself); throws StepFailedError when the tool failed, leaving its bookkeeping as the tool
 * would.
 */
export interface Runner {
  readonly name: string;
  /**
   * Optional: the downs this runner would run for the step, newest first, read from the migration
   * files it will run (native): each with its file. The plan shows them; run() refuses if they
   * changed since. Throws RefusedError when the files cannot revert the step as planned.
   */
  preview?(step: TrackStep): Promise<PlannedDown[]>;
  /**
   * Optional: the text of each down file preview() lists, in the order they run, for the plan's
   * data-at-risk analysis (runners that run SQL files themselves).
   */
  downScripts?(step: TrackStep): Promise<Array<{ file: string; sql: string }>>;
  /**
   * Optional: runs a read-only command (the tool's offline SQL) where run() would run the downs,
   * and returns its output lines. Throws when the command fails. `env` replaces those variables of
   * the app's env (--verify-downs gives the image the dev database's URL instead of the live one).
   */
  capture?(step: TrackStep, command: string[], ctx: RunnerContext, env?: Readonly<Record<string, string>>): Promise<string[]>;
  run(step: TrackStep, ctx: RunnerContext): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Logging

/** Debug output for --debug. Callers never pass a secret to it. */
export interface Log {
  debug(message: string): void;
}

// ---------------------------------------------------------------------------------------------
// Chart maintainers' files (annotate, verify) and published charts (revisions, verify --against)

export interface ChartFilesPort {
  /** Chart.yaml of a chart directory: its path (for messages) and text. UsageError when there is none. */
  readChartYaml(chartDir: string): Promise<{ path: string; text: string }>;
  /** Replaces Chart.yaml's text (atomically: a crash leaves the old file or the new one). */
  writeChartYaml(path: string, text: string): Promise<void>;
}

export interface MigrationFilesPort {
  /**
   * The files of one track's migrations under `dir`: dir/TRACK when that directory exists (required
   * when `several` tracks are read from one dir), else dir itself; then its subdirectory `filesIn`
   * when the tool names one and it exists (alembic: the versions/ directory of a script directory).
   * Top level only, as the tools read them.
   */
  read(dir: string, opts: { track: string; several: boolean; filesIn?: string }): Promise<{ origin: string; files: MigrationFile[] }>;
}

/** One published version of a chart and its Chart.yaml annotations. */
export interface PublishedChart extends ChartInfo {
  /** The package's digest in the repository index (sha256 of the .tgz), or the OCI manifest digest. */
  digest?: string;
  /** true when nothing was fetched for this version (the repository index helm keeps, or the plugin's cache). */
  cached?: boolean;
  /**
   * Where the annotations were read: 'index', the version's entry in the repository index (helm
   * repo index copies each package's Chart.yaml metadata, annotations included, into its entry);
   * 'package', the version's own Chart.yaml (the package, its config blob for oci://, or that
   * Chart.yaml as kept under the package's digest).
   */
  source?: 'index' | 'package';
  /** Why the metadata could not be read (the version is listed, but its package is broken or missing). */
  error?: string;
}

export interface PublishedChartsReadOptions {
  /**
   * Whether a repository index entry's own annotations may stand for its package's Chart.yaml:
   * asked per entry that carries any; a package is read for an entry it refuses, and for an entry
   * with none. Absent: every package is read (`revisions --from-packages`, `verify --against`).
   * oci:// has no index; its config blob is the Chart.yaml.
   */
  acceptIndexEntry?: (entry: { version: string; annotations: Readonly<Record<string, string>> }) => boolean;
}

export interface PublishedChartsPort {
  /**
   * Every version of a repo/chart (or oci:// chart) with its annotations, newest first; packages
   * fetched in parallel and cached by digest. `wanted` picks versions before anything is fetched.
   */
  publishedCharts(ref: string, wanted?: (version: string) => boolean, options?: PublishedChartsReadOptions): Promise<PublishedChart[]>;
}

// ---------------------------------------------------------------------------------------------
// The run record: who is rolling a release back, since when, and how far each step got. Kept in
// the cluster (a ConfigMap in the release's namespace), where a crash of the operator's machine
// cannot lose it; one per release.

export interface RunRecordStep {
  /** "scale deploy/kagent-controller 1->0", "down core 13->8", "helm upgrade --version 0.8.0". */
  name: string;
  started: string;
  ended?: string;
  result?: 'ok' | 'failed' | 'interrupted';
  detail?: string;
  /**
   * A down step's track, what it reverts and where its table stood before it: enough for the next
   * run to name the exact repair of a table this step left dirty when the run died inside it (no
   * `ended`, no `repairs`: killed, or its machine lost).
   */
  down?: {
    track: string;
    /** The revisions the step reverts, newest first, when the plan lists them (the native runner); [] when the tool in the image walks them. */
    reverting: string[];
    /** The table before the step (clean: the run checks it under its lock). */
    before: string[];
    /** The last output line that named a down file (the job and exec runners: the tool's own log). */
    lastFileLine?: string;
  };
}

export interface RunRecord {
  release: string;
  namespace: string;
  /** USER@HOST (pid N) of the run. */
  holder: string;
  /** When the run took the lock (ISO 8601). */
  since: string;
  /** Chart versions: from (the release's) and to (the target). */
  from: string;
  to: string;
  /** running while the run holds its lock; the others once it ended without finishing. */
  state: 'running' | 'failed' | 'interrupted' | 'handoff-failed';
  /** The workloads the run scaled to 0, with their replicas before, so a later run restores the right count. */
  stopped: Array<{ ref: string; replicas: number }>;
  steps: RunRecordStep[];
  /** Per track: the exact repair a dirty track needs, as the failed step left it. */
  repairs?: Record<string, string>;
  /** The one command that finishes the job, when the run ended without finishing. */
  next?: string;
}

export interface RunRecordPort {
  read(release: string): Promise<RunRecord | undefined>;
  /** Writes the record whole (created or replaced). */
  write(record: RunRecord): Promise<void>;
  remove(release: string): Promise<void>;
}
