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
}

/**
 * One migration tool (alembic, golang-migrate, ...). Tools stay dumb: they read and write their own
 * bookkeeping and know their file formats; ordering policy, refusals and locking live in core.
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
}

/** The migration tools this build knows, by name. get() throws a UsageError naming the known ones. */
export interface ToolRegistry {
  get(name: string): MigrationTool;
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
}

export interface HelmPort {
  /** The namespace helm resolved for this invocation (-n, kube context, or "default"). */
  readonly namespace: string;
  /** Throws ReleaseNotFoundError when the release does not exist. */
  getRelease(name: string): Promise<ReleaseInfo>;
  /** The release's computed values (`helm get values -a`): chart defaults merged with the user's. */
  getValues(name: string): Promise<Record<string, unknown>>;
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

// ---------------------------------------------------------------------------------------------
// Runners: where a track's downs run (native SQL over pg, a Kubernetes Job, exec into a pod)

/** One track's part of a rollback plan. */
export interface TrackStep {
  track: string;
  tool: string;
  table: VersionTableRef;
  /** What the version table held when the plan was made. */
  current: string[];
  /** The revision to land on; BASE ('base') for nothing applied. */
  target: string;
  /** The revisions that will be reverted, newest first. */
  revisions: string[];
  /** The down command (rendered argv) for runners that run the tool in the app's image. */
  command?: string[];
}

export interface RunnerContext {
  /** The database URL: runners pass it to the tool, never print it. */
  databaseUrl: string;
  log: Log;
  /** Progress for people: tool output lines, step boundaries. */
  onOutput(line: string): void;
}

/**
 * Runs the downs of one track. Resolves once the work is done (the core then verifies the version
 * table itself); throws StepFailedError when the tool failed, leaving its bookkeeping as the tool
 * would.
 */
export interface Runner {
  readonly name: string;
  run(step: TrackStep, ctx: RunnerContext): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Logging

/** Debug output for --debug. Callers never pass a secret to it. */
export interface Log {
  debug(message: string): void;
}
