/**
 * Rehearsal on a clone (--rehearse --dev-url URL, README "Rehearsal on a clone"): the live database
 * copied (schema and data) into a dev database, and the plan's downs run there by the same runner,
 * before anything changes on the live one. Reported per step: how long it took, the table locks it
 * took (lock-probe.ts), and what the downs lost (each table's rows and columns before and after).
 *
 * Only reads touch the live database (its identity, its size, pg_dump's snapshot of it). Every write
 * goes to the dev database, which must not be the live one and must be empty (or be reset on
 * request: --dev-reset drops everything in it).
 */
import { ARCHIVE_SCHEMA, formatBytes } from './data-at-risk.js';
import { RefusedError, RollbackError, ExitCode } from './errors.js';
import { describeLock, startLockProbe, type TableLock } from './lock-probe.js';
import type { DatabaseConnector, DatabaseSession, Log, Runner, TrackStep } from './ports.js';
import { countRows, ident, planLoss, readCatalog, type Catalog } from './schema-catalog.js';

export const DEFAULT_REHEARSE_MAX_BYTES = 1024 ** 3;

/**
 * pg_dump | pg_restore (src/adapters/pg-copy.ts): where the plugin runs, or in the database's own pod
 * (kubectl exec), whose pg_dump is the server's major.
 */
export interface DatabaseCopyPort {
  /** Where the programs run, for the report: "where the plugin runs", "in pod db-0". */
  where: string;
  /** The pg_dump that would copy: its major and version line, or why there is none. */
  client(): Promise<{ major: number; version: string } | { missing: string }>;
  /**
   * Copies the database `from` into the (empty) database `to`, leaving out the plugin's archive
   * schema. `devIdentity` is IDENTITY_SQL's answer on `to` as the plugin reached it: a copier that
   * reaches `to` from elsewhere (the pod) checks it names the same database before writing.
   */
  copy(from: string, to: string, onLine: (line: string) => void, devIdentity: string): Promise<void>;
}

/** --rehearse-copy: auto takes the local pg_dump when it can read the live server, else the pod's. */
export type CopyPlace = 'auto' | 'local' | 'pod';

/** The server's start time, its port and the database: the same three on two URLs are the same database. */
export const IDENTITY_SQL = "SELECT pg_postmaster_start_time()::text || '/' || current_setting('port') || '/' || current_database() AS identity";

export interface RehearsalDeps {
  connector: DatabaseConnector;
  /** pg_dump | pg_restore where the plugin runs. */
  copier: DatabaseCopyPort;
  /** pg_dump | pg_restore in the database's pod, found when asked for (a RollbackError says why there is none). */
  podCopier?: () => Promise<DatabaseCopyPort>;
  log: Log;
}

export interface RehearsalOptions {
  /** The live database as the runner reaches it (a port-forward's local end, when there is one). */
  liveUrl: string;
  /** The live database as the app has it (no port-forward): the pod's pg_dump connects with it. Default liveUrl. */
  appUrl?: string;
  devUrl: string;
  /** --rehearse-copy; default auto. */
  copyPlace?: CopyPlace;
  /** The job runner's tool in the app's image, pointed at the copy; without it only the native runner rehearses. */
  inImage?: RehearsalInImage;
  maxBytes: number;
  /** --dev-reset: a dev database that is not empty is emptied (DROP SCHEMA ... CASCADE) first. */
  reset: boolean;
  /** Progress for people: the copy, each step's start. */
  onProgress(line: string): void;
}

/**
 * The job runner's tool in the app's image, pointed at the copy (--rehearse --runner job, alembic):
 * its Jobs get the dev URL in the variable the app reads its URL from, as --verify-downs' do.
 */
export interface RehearsalInImage {
  /** The variable the image reads the database URL from. */
  variable: string;
  /** The tools it can prove read the copy: those with a read-only command that names the revision (alembic current). */
  tools: readonly string[];
  /** Runs the step's tool's read-only command in the image with the dev URL in `variable`: the revisions it says the database is at. */
  currentRevisions(step: TrackStep): Promise<string[]>;
}

export interface RehearsedStep {
  track: string;
  /** The versions reverted, newest first, as the plan lists them (none listed when the tool in the image walks them: the job runner). */
  revisions: string[];
  /** Where the step starts: the track's revision(s) now, "base" for none. */
  from: string;
  target: string;
  ms: number;
  locks: TableLock[];
  outcome: 'done' | 'failed';
  error?: string;
}

export interface RehearsalReport {
  /** The live database's name and size, how it was copied and how long that took. */
  copy: { database: string; bytes: number; via: string; ms: number };
  steps: RehearsedStep[];
  /** Compared on the copy before and after the downs. */
  lost: {
    tables: Array<{ table: string; rows: number }>;
    columns: Array<{ table: string; column: string; type: string }>;
    rows: Array<{ table: string; before: number; after: number }>;
  };
  /** 'failed': a step failed on the copy; the same step would fail on the live database. */
  outcome: 'completed' | 'failed';
}

interface DatabaseFacts {
  database: string;
  /** IDENTITY_SQL's answer. */
  identity: string;
  major: number;
  bytes: number;
}

async function databaseFacts(db: DatabaseSession): Promise<DatabaseFacts> {
  const r = (await db.query<{ database: string; num: string; bytes: string }>(
    `SELECT current_database() AS database, current_setting('server_version_num') AS num, pg_database_size(current_database()) AS bytes`,
  )).rows[0]!;
  const identity = (await db.query<{ identity: string }>(IDENTITY_SQL)).rows[0]!.identity;
  return { database: r.database, identity, major: Math.floor(Number(r.num) / 10000), bytes: Number(r.bytes) };
}

/** What the dev database holds besides an empty public schema: its schemas, tables and extensions, for the refusal. */
async function devContents(db: DatabaseSession): Promise<string[]> {
  const { rows } = await db.query<{ what: string }>(
    `SELECT 'schema ' || nspname AS what FROM pg_namespace WHERE nspname NOT IN ('public', 'pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp)'
     UNION ALL SELECT 'relation ' || format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
     UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
     ORDER BY 1`,
  );
  return rows.map((r) => r.what);
}

/** Empties the dev database: every schema but PostgreSQL's own dropped with what it holds, an empty public created again. */
async function resetDev(db: DatabaseSession): Promise<void> {
  const { rows } = await db.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp)'`);
  for (const r of rows) await db.query(`DROP SCHEMA ${ident(r.name)} CASCADE`);
  const ext = await db.query<{ name: string }>(`SELECT extname AS name FROM pg_extension WHERE extname <> 'plpgsql'`);
  for (const r of ext.rows) await db.query(`DROP EXTENSION IF EXISTS ${ident(r.name)} CASCADE`);
  await db.query('CREATE SCHEMA public');
}

/** Every refusal before the copy, at once: nothing has been written anywhere when these are thrown. */
function refusals(live: DatabaseFacts, dev: DatabaseFacts, contents: string[], opts: RehearsalOptions): Array<[string, string]> {
  if (live.identity === dev.identity) {
    return [[`--dev-url names the live database (${live.database}): the rehearsal would run the downs on it`, 'give --dev-url an empty database of its own (CREATE DATABASE rehearsal), on any server of the same or a newer major']];
  }
  return [
    ...(live.bytes > opts.maxBytes ? [[`database ${live.database} is ${formatBytes(live.bytes)}, over the rehearsal's limit of ${formatBytes(opts.maxBytes)}: the copy would take as much room on the dev server and as long to make`,
      'raise the limit with --rehearse-max-size (e.g. 10GiB) after checking the dev server has the room, or rehearse without --rehearse'] as [string, string]] : []),
    ...(contents.length > 0 && !opts.reset ? [[`the dev database ${dev.database} is not empty (${contents.slice(0, 5).join(', ')}${contents.length > 5 ? `, and ${contents.length - 5} more` : ''}): the rehearsal copies the live database into an empty one`,
      `give an empty database, or pass --dev-reset to drop everything in ${dev.database} first`] as [string, string]] : []),
    ...(dev.major < live.major ? [[`the dev database runs PostgreSQL ${dev.major}, older than the live ${live.major}: a copy may not load there, and the downs would not run as they will`, `give --dev-url a database on a PostgreSQL ${live.major} server`] as [string, string]] : []),
  ];
}

type Client = Awaited<ReturnType<DatabaseCopyPort['client']>>;

/** Why this pg_dump cannot copy the live server, or undefined when it can. */
function clientProblem(client: Client, where: string, liveMajor: number): string | undefined {
  if ('missing' in client) return `no pg_dump ${where} to copy the live database with: ${client.missing}`;
  if (client.major < liveMajor) return `${client.version} ${where} cannot copy PostgreSQL ${liveMajor} (pg_dump reads servers of its own major or older)`;
  return undefined;
}

/**
 * The copier: the one --rehearse-copy names, or (auto) the local pg_dump when it reads the live
 * server's major, else the database pod's. The pod is looked for only then. Refusals otherwise.
 */
async function chooseCopier(deps: RehearsalDeps, local: Client, liveMajor: number, place: CopyPlace): Promise<{ copier: DatabaseCopyPort; version: string } | { refused: Array<[string, string]> }> {
  const localProblem = clientProblem(local, deps.copier.where, liveMajor);
  const installHint = `install postgresql-client-${liveMajor} (or newer) where the plugin runs, first on PATH`;
  if (place === 'local' || (place === 'auto' && localProblem === undefined)) {
    if (localProblem === undefined) return { copier: deps.copier, version: (local as { version: string }).version };
    return { refused: [[localProblem, `${installHint}; or copy in the database's pod with --rehearse-copy pod`]] };
  }
  let podProblem: [string, string];
  try {
    if (!deps.podCopier) throw new RefusedError(['the database\'s pod is not known here'], 'name it with --db-pod');
    const pod = await deps.podCopier();
    const client = await pod.client();
    const problem = clientProblem(client, pod.where, liveMajor);
    if (problem === undefined) return { copier: pod, version: (client as { version: string }).version };
    podProblem = [problem, `name the pod that runs PostgreSQL ${liveMajor} with --db-pod (and its container with --db-container)`];
  } catch (err) {
    if (!(err instanceof RollbackError) || err.code === ExitCode.interrupted) throw err;
    podProblem = [`the copy in the database's pod cannot be made: ${err.message}`, err.hint ?? 'name the database\'s pod with --db-pod'];
  }
  return { refused: place === 'pod' || localProblem === undefined ? [podProblem] : [[localProblem, installHint], podProblem] };
}

/**
 * Copies the live database into the dev one and runs each reverting step of the plan there, in the
 * plan's order, with the same runner. Throws before the copy (RefusedError, nothing written) when
 * the rehearsal cannot be made; a step that fails on the copy ends the rehearsal and is in the report.
 */
export async function rehearse(deps: RehearsalDeps, runner: Runner, steps: readonly TrackStep[], opts: RehearsalOptions): Promise<RehearsalReport> {
  if (runner.name !== 'native' && !(runner.name === 'job' && opts.inImage)) {
    throw new RefusedError([`--rehearse runs the downs with the native runner (or the job runner for alembic), and this plan's runner is ${runner.name}`],
      `rehearse with --runner native (--source DIR, or down files captured in the cluster); a ${runner.name} runner's pods would need the dev database reachable from the cluster, which the plugin cannot check`);
  }
  const unproven = runner.name === 'job' ? steps.filter((s) => !opts.inImage!.tools.includes(s.tool)) : [];
  if (unproven.length > 0) {
    throw new RefusedError(unproven.map((s) => `track ${s.track}: --rehearse with the job runner proves the tool in the image reads the copy before each step, which it can for ${opts.inImage!.tools.join(', ')}, not ${s.tool}`),
      'rehearse these tracks with --runner native (--source DIR, or down files captured in the cluster); nothing was changed');
  }
  const live = await deps.connector.connect(opts.liveUrl);
  const dev = await deps.connector.connect(opts.devUrl);
  try {
    const [liveFacts, devFacts, contents, client] = await Promise.all([databaseFacts(live), databaseFacts(dev), devContents(dev), deps.copier.client()]);
    const refused = refusals(liveFacts, devFacts, contents, opts);
    // The dev URL naming the live database is refused alone, before the pod is looked for.
    const chosen = liveFacts.identity === devFacts.identity ? undefined : await chooseCopier(deps, client, liveFacts.major, opts.copyPlace ?? 'auto');
    if (chosen && 'refused' in chosen) refused.push(...chosen.refused);
    if (refused.length > 0 || !chosen || 'refused' in chosen) throw new RefusedError(refused.map(([r]) => r), [...new Set(refused.map(([, h]) => h))].join('; '));
    await live.close().catch(() => undefined);

    if (contents.length > 0) {
      opts.onProgress(`rehearsal: emptying the dev database ${devFacts.database} (--dev-reset)`);
      await resetDev(dev);
    }
    const via = `pg_dump | pg_restore ${chosen.copier.where} (${chosen.version})`;
    opts.onProgress(`rehearsal: copying ${liveFacts.database} (${formatBytes(liveFacts.bytes)}) into ${devFacts.database} with ${via}`);
    const copyStart = Date.now();
    const from = chosen.copier === deps.copier ? opts.liveUrl : (opts.appUrl ?? opts.liveUrl);
    await chosen.copier.copy(from, opts.devUrl, (line) => deps.log.debug(`copy: ${line}`), devFacts.identity);
    const copy = { database: liveFacts.database, bytes: liveFacts.bytes, via, ms: Date.now() - copyStart };

    const before = await countRows(dev, await readCatalog(dev));
    const rehearsed: RehearsedStep[] = [];
    for (const step of steps) {
      opts.onProgress(`rehearsal: track ${step.track}: ${step.current.join(',') || 'base'} -> ${step.target} on the copy`);
      rehearsed.push(await rehearseStep(deps, runner, step, opts, dev));
      if (rehearsed[rehearsed.length - 1]!.outcome === 'failed') break;
    }
    const after = await countRows(dev, await readCatalog(dev));
    return { copy, steps: rehearsed, lost: lostBetween(before, after), outcome: rehearsed.some((s) => s.outcome === 'failed') ? 'failed' : 'completed' };
  } finally {
    await Promise.all([live.close().catch(() => undefined), dev.close().catch(() => undefined)]);
  }
}

async function rehearseStep(deps: RehearsalDeps, runner: Runner, step: TrackStep, opts: RehearsalOptions, dev: DatabaseSession): Promise<RehearsedStep> {
  const inImage = runner.name === 'native' ? undefined : opts.inImage;
  const versions = inImage ? await proveReadsCopy(dev, step, inImage) : undefined;
  const probeSession = await deps.connector.connect(opts.devUrl);
  try {
    const probe = await startLockProbe(probeSession);
    const start = Date.now();
    let error: string | undefined;
    try {
      await runner.run(step, {
        databaseUrl: opts.devUrl, log: deps.log, onOutput: (line) => deps.log.debug(`rehearsal: ${line}`),
        ...(inImage ? { env: { [inImage.variable]: opts.devUrl } } : {}),
      });
    } catch (err) {
      if (!(err instanceof RollbackError) || err.code === ExitCode.interrupted) throw err;
      error = err.message;
    }
    // A Job that wrote somewhere else than the copy leaves the copy's version table as it was.
    if (versions !== undefined && error === undefined && (await versionRows(dev, step)) === versions) {
      error = `the Job ended, but the copy's ${step.table.table} is unchanged: the tool in the image did not write to the copy`;
    }
    const ms = Date.now() - start;
    const locks = await probe.stop();
    return { track: step.track, revisions: [...step.revisions], from: step.current.join(',') || 'base', target: step.target, ms, locks, outcome: error === undefined ? 'done' : 'failed', ...(error !== undefined ? { error } : {}) };
  } finally {
    await probeSession.close();
  }
}

const versionTable = (step: TrackStep) => `${ident(step.table.schema ?? 'public')}.${ident(step.table.table)}`;

/** The step's version table on the copy, as text (its rows in order). */
async function versionRows(dev: DatabaseSession, step: TrackStep): Promise<string> {
  const { rows } = await dev.query<{ rows: string | null }>(`SELECT json_agg(t ORDER BY t::text)::text AS rows FROM ${versionTable(step)} t`);
  return rows[0]?.rows ?? '[]';
}

/**
 * Before a step runs in a Job: proof that the tool in the image, given the dev URL, reads the copy.
 * The copy is the live database's twin, so its revision proves nothing: its version table is emptied
 * for the proof (and put back), so a tool that reads the copy says it is at no revision, and one
 * whose configuration ignores the variable reads the live database and names its revision. Nothing
 * runs then. Returns the copy's version table as it is before the step.
 */
async function proveReadsCopy(dev: DatabaseSession, step: TrackStep, inImage: RehearsalInImage): Promise<string> {
  const before = await versionRows(dev, step);
  const table = versionTable(step);
  // Kept aside in a temporary table of this session (gone with it, never in the copy's catalog), dropped once put back.
  await dev.query(`BEGIN; CREATE TEMP TABLE hsr_rehearsal_versions AS SELECT * FROM ${table}; DELETE FROM ${table}; COMMIT`);
  let seen: string[] | Error;
  try {
    seen = await inImage.currentRevisions(step);
  } catch (err) {
    seen = err instanceof Error ? err : new Error(String(err));
  } finally {
    await dev.query(`BEGIN; DELETE FROM ${table}; INSERT INTO ${table} SELECT * FROM hsr_rehearsal_versions; DROP TABLE hsr_rehearsal_versions; COMMIT`);
  }
  const hint = `name the variable the image reads its URL from with --database-url-env, or rehearse with --runner native; nothing ran, on the copy or the live database`;
  if (seen instanceof Error) throw new RefusedError([`track ${step.track}: ${step.tool}'s read-only command, run in the image with the dev URL in ${inImage.variable}, fails: ${seen.message}`], hint);
  if (seen.length > 0) {
    throw new RefusedError([`track ${step.track}: ${step.tool} in the image, given the dev URL in ${inImage.variable}, reads a database at ${seen.join(', ')}, not the copy (whose version table was emptied for this check): it does not take the URL from ${inImage.variable}`], hint);
  }
  if ((await versionRows(dev, step)) !== before) throw new RollbackError(ExitCode.internal, `the copy's ${step.table.table} could not be put back after the check`);
  return before;
}

/** Pure: what the downs took from the copy: tables dropped (with their rows), columns dropped, rows gone from tables kept. */
export function lostBetween(before: Catalog, after: Catalog): RehearsalReport['lost'] {
  // planLoss compares a snapshot with the live database; here "after" plays the snapshot: what "before" has more is lost.
  const loss = planLoss(after, before);
  return {
    tables: loss.created.map((t) => ({ table: t.table, rows: t.rows })),
    columns: loss.columns,
    rows: loss.tables.filter((t) => t.lost > 0).map((t) => ({ table: t.table, before: t.liveRows, after: t.snapshotRows })),
  };
}

/** The report for people, under the plan. */
export function rehearsalLines(r: RehearsalReport): string[] {
  const lost = r.lost;
  return [
    `-- Rehearsal on a copy (${r.copy.database}, ${formatBytes(r.copy.bytes)}, copied in ${r.copy.ms} ms by ${r.copy.via}); nothing changed on the live database`,
    ...r.steps.flatMap((s, i) => [
      `  ${i + 1}. track ${s.track}: ${s.revisions.length > 0 ? `reverts ${s.revisions.join(', ')}` : `from ${s.from}`} -> ${s.target}: ${s.outcome === 'done' ? 'done' : 'FAILED'} in ${s.ms} ms`,
      ...(s.locks.length > 0 ? s.locks.map((l) => `       lock: ${describeLock(l)}`) : ['       locks: no table lock seen']),
      ...(s.error ? [`       error: ${s.error.split('\n')[0]}`] : []),
    ]),
    ...(lost.tables.length + lost.columns.length + lost.rows.length === 0 ? ['  Lost on the copy: nothing (no table, column or row)'] : [
      '  Lost on the copy:',
      ...lost.tables.map((t) => `    table ${t.table} dropped with its ${t.rows} row${t.rows === 1 ? '' : 's'}`),
      ...lost.columns.map((c) => `    column ${c.table}.${c.column} (${c.type}) dropped`),
      ...lost.rows.map((t) => `    table ${t.table}: ${t.before} -> ${t.after} rows`),
    ]),
    ...(r.outcome === 'failed' ? ['  The rehearsal FAILED: the same step would fail on the live database. Fix it before running the rollback.'] : []),
    `  (Durations are on the copy's server and include the lock probe's hand-over, a few ms per table; the archive copy (${ARCHIVE_SCHEMA}) is not rehearsed.)`,
  ];
}
