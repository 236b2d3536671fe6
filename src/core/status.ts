/**
 * `status`: where each migration track of a release stands, chart against database, and the
 * release's rollback run (in progress, or one that did not finish). Read-only: it opens one database
 * session (directly, or through kubectl port-forward), reads each version table and the run lock,
 * reads the run record, and closes the session.
 */
import { BASE } from './contract.js';
import { openDatabase, type PortForwardChoice } from './database-route.js';
import { DATABASE_URL_ENV, resolveDatabaseUrl } from './database-url.js';
import type { DatabaseConnector, DatabaseSession, HelmPort, KubePort, Log, PortForwardPort, RunRecord, RunRecordPort, ToolRegistry, TrackState } from './ports.js';
import { isRunLockHeld } from './run-lock.js';
import { renderName, resolveContract, type ContractOverrides, type ResolvedContract } from './resolve.js';

export interface StatusDeps {
  helm: HelmPort;
  kube: KubePort;
  connector: DatabaseConnector;
  forwarder: PortForwardPort;
  tools: ToolRegistry;
  log: Log;
  /** The release's run record (a ConfigMap beside the release). */
  runRecords: RunRecordPort;
}

export interface StatusOptions {
  release: string;
  overrides: ContractOverrides;
  /** --database-url */
  databaseUrl?: string;
  /** $SCHEMA_ROLLBACK_DATABASE_URL, read by the CLI. */
  databaseUrlFromEnv?: string;
  /** --port-forward, --port-forward-target; default auto. */
  portForward?: PortForwardChoice;
}

export interface TrackStatus {
  track: string;
  tool: string;
  table: string;
  schema?: string;
  /** What the release's chart expects; undefined when neither annotations nor flags say. */
  chartRevision?: string;
  /** What the database holds: [] at base, several entries for several alembic heads. */
  databaseRevisions: string[];
  tableExists: boolean;
  dirty: boolean;
  /** true when the database holds exactly what the chart expects and is not dirty; undefined when the chart's revision is unknown. */
  inStep?: boolean;
}

export interface StatusReport {
  release: { name: string; namespace: string; chart: string; version: string; revision: number; status: string };
  contractSource: ResolvedContract['source'];
  /** Where the database URL came from (never the URL itself). */
  databaseUrlSource: string;
  /** How the database was reached: "direct", or the kubectl port-forward used (Service and ports, never the URL). */
  databaseRoute: string;
  tracks: TrackStatus[];
  /** The release's rollback run: null when none is in progress and no record is left. */
  run: RunStatus | null;
}

export interface RunStatus {
  /** A live run holds the release's database lock now (the lock is the truth; the record can lag or outlive its run). */
  inProgress: boolean;
  /** The run record as stored: the run in progress, or the last one that did not finish; null when there is none. */
  record: RunRecord | null;
  /** Why the record could not be read (e.g. no permission to get the ConfigMap); status goes on without it. */
  unreadable?: string;
}

export async function status(deps: StatusDeps, opts: StatusOptions): Promise<StatusReport> {
  // Issue 12: what does not depend on the release's metadata starts with it, not after it. The run
  // record needs only the release's name; the values (for a {{ .Fullname }} workload name, known
  // only once the contract is read) are asked for at once and dropped when the name does not use them.
  const record = readRunRecord(deps, opts.release);
  const values = settle(deps.helm.getValues(opts.release));
  const releaseRead = deps.helm.getRelease(opts.release);
  // The database driver loads while those reads are in flight, not after them.
  deps.connector.prepare?.();
  const release = await releaseRead;
  const contract = resolveContract(release, opts.overrides, deps.tools);
  const helm: HelmPort = { ...deps.helm, getValues: async () => unwrap(await values) };
  const { url, source } = await resolveDatabaseUrl(deps.kube, {
    flag: opts.databaseUrl,
    environment: opts.databaseUrlFromEnv,
    workload: contract.run.workload && (await renderName(contract.run.workload, release, helm)),
    container: contract.run.container,
    variable: contract.run.databaseUrlEnv,
  });
  deps.log.debug(`database URL from ${source}${source.startsWith('environment') ? '' : ` (set ${DATABASE_URL_ENV} to override)`}`);
  const route = await openDatabase(deps, url, { mode: 'auto', ...opts.portForward, namespace: release.namespace });
  const { session } = route;
  try {
    const tracks: TrackStatus[] = [];
    for (const track of contract.tracks) {
      const tool = deps.tools.get(track.tool);
      const table = { table: track.table ?? tool.defaultTable, schema: track.schema };
      const state = await tool.readState(session, table);
      tracks.push({ track: track.name, tool: tool.name, ...table, chartRevision: track.revision, ...stateFields(state), inStep: inStep(track.revision, state) });
    }
    const run = await runStatus(session, release.namespace, release.name, record);
    const { name, namespace, chart, version, revision, status: releaseStatus } = release;
    const summary = { name, namespace, chart, version, revision, status: releaseStatus };
    return { release: summary, contractSource: contract.source, databaseUrlSource: source, databaseRoute: route.via, tracks, run };
  } finally {
    await session.close();
    await route.close();
  }
}

/** The release's run record, read as soon as status starts; status reports, it does not fail because the record (an extra) cannot be read. */
function readRunRecord(deps: StatusDeps, release: string): Promise<Pick<RunStatus, 'record' | 'unreadable'>> {
  return deps.runRecords.read(release).then(
    (record): Pick<RunStatus, 'record' | 'unreadable'> => ({ record: record ?? null }),
    (err: unknown) => ({ record: null, unreadable: err instanceof Error ? err.message : String(err) }),
  );
}

/** A read started early whose failure matters only if it is used: held as an outcome, never an unhandled rejection. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}
function unwrap<T>(outcome: Settled<T>): T {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

/** The release's run: whether its lock is held now, and its record, if one is left. */
async function runStatus(session: DatabaseSession, namespace: string, release: string, record: Promise<Pick<RunStatus, 'record' | 'unreadable'>>): Promise<RunStatus | null> {
  const [inProgress, read] = await Promise.all([isRunLockHeld(session, namespace, release), record]);
  if (!inProgress && read.record === null && read.unreadable === undefined) return null;
  return { inProgress, ...read };
}

function stateFields(state: TrackState): Pick<TrackStatus, 'databaseRevisions' | 'tableExists' | 'dirty'> {
  return { databaseRevisions: state.revisions, tableExists: state.tableExists, dirty: state.dirty };
}

/** In step = exactly the expected revision (or nothing, for base) and not dirty. */
export function inStep(expected: string | undefined, state: TrackState): boolean | undefined {
  if (expected === undefined) return undefined;
  const want = expected === BASE ? [] : [expected];
  return !state.dirty && state.revisions.length === want.length && state.revisions.every((r, i) => r === want[i]);
}
