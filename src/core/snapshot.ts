/**
 * Snapshots of a release's database, for schemas that only move forward (GORM AutoMigrate,
 * Prisma/TypeORM synchronize): taken before an upgrade, keyed by the chart version the release runs
 * then, so that a rollback to that version can restore it (src/core/forward-only.ts).
 *
 * A snapshot is a database on the same server, `<db>_snapshot_<version>`, filled by the server's own
 * major of pg_dump | pg_restore run inside the database's pod (kubectl exec, as the usual
 * `pg_dumpall` runbook does): any operator can restore it from anywhere, and its schema and counts
 * are read with SQL. Its record (chart version, time, size, per-table rows, checksum; never a
 * secret) is kept beside the release in the cluster. The database URLs reach the pod on stdin,
 * never in an argv that ps or the API server's audit log would show.
 */
import { parseContract } from './contract.js';
import { openDatabase, serviceForHost, hostAndPort, type PortForwardChoice, type DatabaseRoute } from './database-route.js';
import { resolveDatabaseUrl, splitPassword } from './database-url.js';
import { ExitCode, RefusedError, RollbackError, UsageError } from './errors.js';
import { ARCHIVE_SCHEMA, formatBytes } from './data-at-risk.js';
import type { DatabaseConnector, HelmPort, KubePort, Log, PortForwardPort, ReleaseInfo, RunRecordPort, SqlClient } from './ports.js';
import { renderName } from './resolve.js';
import { takeRunLock } from './run-lock.js';
import { contentChecksum, countRows, ident, readCatalog } from './schema-catalog.js';
import { inStep, type StepListener } from './steps.js';

/** What is kept about one snapshot, in the cluster. Never a URL or a password. */
export interface SnapshotRecord {
  release: string;
  /** The chart version the release ran when the snapshot was taken: a rollback to it restores this. */
  chartVersion: string;
  appVersion?: string;
  /** The database the snapshot is (same server). */
  database: string;
  /** The release's database it copies. */
  source: string;
  takenAt: string;
  takenBy: string;
  /** pg_database_size of the snapshot. */
  bytes: number;
  /** The PostgreSQL major of the server and of the pg_dump that copied it. */
  serverMajor: number;
  /** Where pg_dump ran: pod/NAME. */
  via: string;
  tables: Array<{ table: string; rows: number }>;
  /** contentChecksum() of the snapshot database when taken. */
  checksum: string;
}

/** The snapshots of a release, in the cluster (a ConfigMap beside the release). */
export interface SnapshotRecordPort {
  list(release: string): Promise<SnapshotRecord[]>;
  /** Adds the record, replacing the one of the same chart version. */
  put(record: SnapshotRecord): Promise<void>;
}

/** Running PostgreSQL's client programs in the database's own pod. */
export interface DatabasePodPort {
  /** A Running pod behind the Service (by its selector). ClusterError when there is none. */
  podBehindService(service: string): Promise<string>;
  /** Runs a POSIX sh script in the pod with `input` on its stdin; every output line to onLine; resolves with the exit code. */
  runScript(pod: string, container: string | undefined, script: string, input: string, onLine: (line: string) => void): Promise<number>;
}

export interface SnapshotDeps {
  helm: HelmPort;
  kube: KubePort;
  connector: DatabaseConnector;
  forwarder: PortForwardPort;
  runRecords: RunRecordPort;
  snapshots: SnapshotRecordPort;
  dbPod: DatabasePodPort;
  log: Log;
}

/** Where the database is and how to reach it and its pod; flags win over the chart's annotations. */
export interface DatabaseAccess {
  databaseUrl?: string;
  databaseUrlFromEnv?: string;
  workload?: string;
  container?: string;
  databaseUrlEnv?: string;
  portForward?: PortForwardChoice;
  /** The database's pod; default: a Running pod behind the Service the URL's host names. */
  dbPod?: string;
  dbContainer?: string;
}

export interface SnapshotOptions extends DatabaseAccess {
  release: string;
  /** Refuse when the database is larger than this. */
  maxBytes: number;
  /** Replace an existing snapshot of the same chart version. */
  replace?: boolean;
  holder: string;
  progress?: StepListener;
}

export const DEFAULT_SNAPSHOT_MAX_BYTES = 1024 ** 3;

/** `<db>_snapshot_<version>` with the version's dots and dashes as underscores, within PostgreSQL's 63 bytes. */
export function snapshotDatabaseName(database: string, chartVersion: string): string {
  const suffix = `_snapshot_${chartVersion.toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;
  return `${database.slice(0, Math.max(1, 63 - suffix.length))}${suffix}`.slice(0, 63);
}

/** The URL with another database: user, password, host and options stay. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url.trim());
  if (u.searchParams.has('dbname')) u.searchParams.set('dbname', database);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.href;
}

/** The release's database, opened (through a port-forward when needed), and its pod. */
export interface OpenedDatabase {
  release: ReleaseInfo;
  /** The URL as the app has it: the pod's pg_dump and psql connect with it. */
  appUrl: string;
  /** The URL the plugin connects with (the forward's local end, through one). */
  route: DatabaseRoute;
  urlSource: string;
  pod: string;
  /** Names the workloads that migrate on start, rendered. */
  stop: string[];
}

export async function openReleaseDatabase(deps: SnapshotDeps, release: ReleaseInfo, access: DatabaseAccess, progress?: StepListener): Promise<OpenedDatabase> {
  const run = parseContract(release.annotations, `chart ${release.chart} ${release.version} (release ${release.name})`)?.run ?? { stop: [] };
  const template = access.workload ?? run.workload;
  const workload = template && (await renderName(template, release, deps.helm));
  const { url, source } = await inStep(progress, 'finding the database URL', () => resolveDatabaseUrl(deps.kube, {
    flag: access.databaseUrl, environment: access.databaseUrlFromEnv, workload,
    container: access.container ?? run.container, variable: access.databaseUrlEnv ?? run.databaseUrlEnv,
  }));
  const pod = await findDatabasePod(deps.dbPod, url, release.namespace, access.dbPod, progress);
  const route = await inStep(progress, 'connecting to the database', () => openDatabase(deps, url, { mode: 'auto', ...access.portForward, namespace: release.namespace }), (r) => ({ detail: r.via }));
  const stop = await Promise.all(run.stop.map((s) => renderName(s, release, deps.helm)));
  return { release, appUrl: url, route, urlSource: source, pod, stop };
}

/** The database's pod: the one named (--db-pod), or the Running pod behind the Service the URL's host names. */
export async function findDatabasePod(dbPod: DatabasePodPort, url: string, namespace: string, named: string | undefined, progress?: StepListener): Promise<string> {
  if (named) return named;
  const { host, port } = hostAndPort(url);
  const service = serviceForHost(host, port, namespace);
  if (!service?.resource.startsWith('svc/')) {
    throw new UsageError(`the database host "${host}" names no Service in the cluster, so its pod cannot be found`, {
      hint: 'name the database\'s pod with --db-pod NAME (the pod that runs PostgreSQL, whose pg_dump matches the server\'s major)',
    });
  }
  return inStep(progress, `finding the database's pod behind ${service.resource}`, () => dbPod.podBehindService(service.resource.slice(4)));
}

interface ServerFacts {
  database: string;
  major: number;
  bytes: number;
  canCreateDatabase: boolean;
}

export async function serverFacts(db: SqlClient): Promise<ServerFacts> {
  const { rows } = await db.query<{ database: string; num: string; bytes: string; create: boolean }>(
    `SELECT current_database() AS database, current_setting('server_version_num') AS num, pg_database_size(current_database()) AS bytes,
            (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user) AS create`,
  );
  const r = rows[0]!;
  return { database: r.database, major: Math.floor(Number(r.num) / 10000), bytes: Number(r.bytes), canCreateDatabase: r.create };
}

/** pg_dump's major in the pod; refused unless it is the server's (an older one cannot dump it, a newer one writes what the server may not read back). */
export async function checkPodClient(deps: SnapshotDeps, pod: string, container: string | undefined, serverMajor: number): Promise<string> {
  const lines: string[] = [];
  const code = await deps.dbPod.runScript(pod, container, 'pg_dump --version && psql --version && pg_restore --version', '', (l) => lines.push(l));
  const version = lines.find((l) => /^pg_dump \(PostgreSQL\)/.test(l));
  const major = Number(/\)\s+(\d+)/.exec(version ?? '')?.[1]);
  if (code !== 0 || !version) {
    throw new RefusedError([`pod ${pod} has no pg_dump, psql and pg_restore to run: ${lines.slice(-2).join(' | ') || `exit ${code}`}`],
      'name the pod that runs PostgreSQL with --db-pod (and its container with --db-container)');
  }
  if (major !== serverMajor) {
    throw new RefusedError([`pod ${pod} has ${version}, the server is PostgreSQL ${serverMajor}: a snapshot is taken and restored with the server's own major`],
      `name a pod whose image is postgres:${serverMajor} with --db-pod`);
  }
  return version;
}

/** Takes the snapshot of the release's database for the chart version it runs now. */
export async function takeSnapshot(deps: SnapshotDeps, opts: SnapshotOptions): Promise<SnapshotRecord> {
  const progress = opts.progress;
  const release = await inStep(progress, `reading release ${opts.release}`, () => deps.helm.getRelease(opts.release), (r) => ({ detail: `chart ${r.chart} ${r.version}` }));
  const opened = await openReleaseDatabase(deps, release, opts, progress);
  try {
    const facts = await serverFacts(opened.route.session);
    await opened.route.session.close();
    const name = snapshotDatabaseName(facts.database, release.version);
    const existing = (await deps.snapshots.list(release.name)).find((s) => s.chartVersion === release.version);
    const refusals = [
      ...(existing && !opts.replace ? [`release ${release.name} already has a snapshot of chart ${release.version} (database ${existing.database}, taken ${existing.takenAt})`] : []),
      ...(facts.bytes > opts.maxBytes ? [`database ${facts.database} is ${formatBytes(facts.bytes)}, over the limit of ${formatBytes(opts.maxBytes)}: the snapshot would take as much again on the server`] : []),
      ...(facts.canCreateDatabase ? [] : [`the database user may not create databases (CREATEDB), and the snapshot is a database ${name} on the same server`]),
    ];
    if (refusals.length > 0) {
      throw new RefusedError(refusals, existing && !opts.replace ? 'pass --replace to take it again (the old one is dropped once the new one is complete)' : facts.bytes > opts.maxBytes ? 'raise the limit with --max-size after checking the server has the room' : 'ALTER ROLE ... CREATEDB, or take the snapshot with a URL of a user that may (--database-url)');
    }
    const client = await inStep(progress, `checking pg_dump in pod ${opened.pod}`, () => checkPodClient(deps, opened.pod, opts.dbContainer, facts.major), (v) => ({ detail: v }));
    const lock = await takeRunLock(deps.connector, opened.route.url, { namespace: release.namespace, release: release.name, records: deps.runRecords });
    try {
      const building = existing ? `${name}_new` : name;
      const admin = await deps.connector.connect(opened.route.url);
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${ident(building)} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${ident(building)} TEMPLATE template0`);
      } finally {
        await admin.close();
      }
      let done = false;
      try {
        await inStep(progress, `copying ${facts.database} into ${name} (pg_dump | pg_restore in pod ${opened.pod}, about ${formatBytes(facts.bytes)})`,
          () => copyDatabase(deps, opened.pod, opts.dbContainer, opened.appUrl, withDatabase(opened.appUrl, building)));
        if (existing) await swapIn(deps, opened.route.url, building, name);
        const record = await inStep(progress, `counting rows and checksumming ${name}`, () => describeSnapshot(deps, opened.route.url, name));
        const full: SnapshotRecord = {
          release: release.name, chartVersion: release.version, ...(release.appVersion ? { appVersion: release.appVersion } : {}),
          database: name, source: facts.database, takenAt: new Date().toISOString(), takenBy: opts.holder, serverMajor: facts.major,
          via: `pod/${opened.pod} (${client})`, ...record,
        };
        await deps.snapshots.put(full);
        done = true;
        return full;
      } finally {
        if (!done) await dropDatabase(deps, opened.route.url, building);
      }
    } finally {
      await lock.release();
    }
  } finally {
    await opened.route.close();
  }
}

/** pg_dump | pg_restore in the pod, with the URLs on stdin. A failure of either side fails the copy. */
async function copyDatabase(deps: SnapshotDeps, pod: string, container: string | undefined, from: string, to: string): Promise<void> {
  await runInPod(deps, pod, container, copyScript(), passwordsApart(from, to), 'the copy into the snapshot database');
}

/**
 * The POSIX sh script that copies the database named by stdin's first line (a URL without its
 * password, the password on the next line: see passwordsApart) into the one named by the next two.
 * POSIX sh has no pipefail: pg_dump's status comes back through fd 3.
 */
export function copyScript(): string {
  return [
    'IFS= read -r from; IFS= read -r from_pw; IFS= read -r to; IFS= read -r to_pw',
    'exec 4>&1',
    `dump=$( { { PGPASSWORD="$from_pw" pg_dump --format=custom --no-owner --exclude-schema=${ARCHIVE_SCHEMA} --dbname="$from"; echo $? >&3; } | PGPASSWORD="$to_pw" pg_restore --no-owner --exit-on-error --dbname="$to" >&4; } 3>&1 ); restore=$?`,
    'if [ "$dump" != 0 ] || [ "$restore" != 0 ]; then echo "pg_dump exited $dump, pg_restore exited $restore" >&2; exit 1; fi',
  ].join('\n');
}

/**
 * Stdin for the pod scripts: each URL without its password, then the password on its own line
 * (empty when the URL has none: libpq then falls back to the pod's own .pgpass or trust), so that no
 * password is in the argv of pg_dump, pg_restore or psql inside the pod.
 */
export function passwordsApart(...urls: string[]): string {
  return urls.map((url) => {
    const { url: bare, password } = splitPassword(url);
    return `${bare}\n${password ?? ''}\n`;
  }).join('');
}

export async function runInPod(deps: SnapshotDeps, pod: string, container: string | undefined, script: string, input: string, what: string): Promise<void> {
  const lines: string[] = [];
  const code = await deps.dbPod.runScript(pod, container, script, input, (l) => {
    lines.push(l);
    deps.log.debug(`pod ${pod}: ${l}`);
  });
  if (code !== 0) {
    throw new SnapshotError(`${what} failed in pod ${pod} (exit ${code}): ${lines.slice(-3).join(' | ') || 'no output'}`, {
      hint: 'fix what pg_dump, pg_restore or psql says (room on the server, privileges), then run the same command again',
    });
  }
}

async function swapIn(deps: SnapshotDeps, url: string, building: string, name: string): Promise<void> {
  const admin = await deps.connector.connect(url);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    await admin.query(`ALTER DATABASE ${ident(building)} RENAME TO ${ident(name)}`);
  } finally {
    await admin.close();
  }
}

async function dropDatabase(deps: SnapshotDeps, url: string, name: string): Promise<void> {
  const admin = await deps.connector.connect(url).catch(() => undefined);
  await admin?.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`).catch((err: unknown) => deps.log.debug(`dropping ${name}: ${String(err)}`));
  await admin?.close();
}

/** The snapshot database's size, tables with their rows, and checksum. */
export async function describeSnapshot(deps: Pick<SnapshotDeps, 'connector'>, url: string, name: string): Promise<Pick<SnapshotRecord, 'bytes' | 'tables' | 'checksum'>> {
  const db = await deps.connector.connect(withDatabase(url, name));
  try {
    const catalog = await countRows(db, await readCatalog(db));
    const { rows } = await db.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
    return {
      bytes: Number(rows[0]!.bytes),
      tables: catalog.tables.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.rows ?? 0 })),
      checksum: await contentChecksum(db, catalog),
    };
  } finally {
    await db.close();
  }
}

/** Taking or restoring a snapshot failed; what was changed is rolled back or dropped (the message says). */
export class SnapshotError extends RollbackError {
  constructor(message: string, details?: { hint?: string; cause?: unknown }) {
    super(ExitCode.snapshotFailed, message, details);
  }
}
