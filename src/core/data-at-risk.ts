/**
 * Data at risk, and the copy kept before the downs destroy it.
 *
 * - At plan time, the SQL the downs will run (the native runner's down files, or the tool's offline
 *   SQL preview for runners that run the tool in the app's image) is read by the analyser
 *   (sql-analysis.ts); every table, column, type change, DELETE, TRUNCATE and DROP SCHEMA ... CASCADE
 *   is resolved and counted live through the DatabaseSession port. What cannot be read is listed
 *   as such.
 * - At run time, right after the workloads are stopped and before the first down, one transaction
 *   copies what is at risk into an archive schema of the same database (CREATE TABLE ... AS SELECT),
 *   so that nothing written before the copy is lost and everything copied can be put back.
 *
 * Naming, sizing and the statements are pure functions here; only assessDataAtRisk and
 * archiveAtRisk talk to the database, through the ports.
 */
import { ArchiveError, InterruptedError, RefusedError, RollbackError } from './errors.js';
// Pure policy (no process, socket or file): the archive copy waits for locks as the downs do.
import { DEFAULT_LOCK_WAIT_POLICY, backoffMs, backoffSchedule, isLockTimeout, lockHolder, sessionTimeoutsSql, spoken, waitUnless, type LockWaitPolicy } from './lock-wait.js';
import type { DatabaseConnector, Log, Runner, SqlClient, TrackStep } from './ports.js';
import type { TrackDecision } from './planner.js';
import { analyseSql, type SqlFinding, type SqlName } from './sql-analysis.js';
import { quoteIdent, quoteLiteral } from './sql-names.js';

/** The schema copies are kept in, in the release's own database. */
export const ARCHIVE_SCHEMA = 'schema_rollback_archive';
/** --archive-max-size's default: 1 GiB. */
export const DEFAULT_ARCHIVE_MAX_BYTES = 1024 ** 3;

export type RiskKind = SqlFinding['kind'];

/** One thing the downs destroy, as the plan shows it (`dataAtRisk` in -o json: this shape is public). */
export interface DataAtRisk {
  track: string;
  kind: RiskKind;
  /** The table's schema as resolved in the database (or as written when it does not exist); the schema itself for drop-schema. */
  schema?: string;
  table?: string;
  column?: string;
  /** Whether the table (for column kinds: the column) exists now. Absent for unknown. */
  exists?: boolean;
  /** Live: the table's rows; for a column, its non-null values; for a schema, the rows of all its tables. */
  rows?: number;
  /** delete: the statement has a WHERE, so only some of `rows` go. */
  partial?: boolean;
  /** type-change: the column's type now, and the type the statement gives it. */
  fromType?: string;
  toType?: string;
  /** drop-schema: each table in the schema, with its rows. */
  tables?: Array<{ table: string; rows: number }>;
  /** unknown: why the analyser cannot tell. */
  reason?: string;
  /** Where the statement comes from: the down file, or the offline SQL command. */
  source: string;
  statement: string;
  /** Estimated bytes of the copy kept before the downs (0 when nothing is copied). */
  copyBytes?: number;
  /** drop-column and type-change: the primary key columns kept with the column in the copy (absent: the whole table is copied). */
  key?: string[];
}

export interface ArchivePlan {
  /** false with --no-archive: the plan says "no copy kept". */
  enabled: boolean;
  schema: string;
  maxBytes: number;
  /** Estimated size of every copy. */
  bytes: number;
}

export interface ArchiveOptions {
  enabled: boolean;
  maxBytes: number;
}

/** What one script of a track runs, and where it comes from. */
interface Script {
  source: string;
  sql: string;
}

/**
 * The SQL each track's downs will run: the runner's down files, or the offline preview. A track
 * whose downs are not visible gets one `unknown` entry saying why.
 */
async function scriptsOf(runner: Runner, step: TrackStep): Promise<Script[] | string> {
  if (runner.downScripts) return (await runner.downScripts(step)).map((s) => ({ source: s.file, sql: s.sql }));
  const preview = step.sqlPreview;
  if (preview && !preview.error) return [{ source: preview.command.join(' '), sql: preview.lines.join('\n') }];
  if (preview?.error) return `the SQL preview (${preview.command.join(' ')}) failed, so the downs' SQL is unknown`;
  return `the downs run with ${step.tool} in the app's image (${runner.name} runner), which offers no SQL preview for this track`;
}

/**
 * The plan's data at risk: every destructive statement of every track's downs, resolved and counted
 * live, and the size of the copy. Refuses (exit 12) when the copy would exceed maxBytes.
 */
export async function assessDataAtRisk(
  deps: { connector: DatabaseConnector; log: Log },
  runner: Runner,
  decisions: readonly TrackDecision[],
  databaseUrl: string,
  archive: ArchiveOptions,
): Promise<{ dataAtRisk: DataAtRisk[]; archive: ArchivePlan }> {
  const session = await deps.connector.connect(databaseUrl);
  let items: DataAtRisk[];
  try {
    items = await findDataAtRisk(session, runner, decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : [])));
  } finally {
    await session.close();
  }
  const plan = archivePlan(items, archive);
  const refusal = archiveRefusal(items, plan);
  if (refusal) throw new RefusedError([refusal.reason], refusal.hint);
  deps.log.debug(`data at risk: ${items.length} item(s), copy about ${plan.bytes} bytes`);
  return { dataAtRisk: items, archive: plan };
}

/**
 * Every destructive statement of the steps' downs (read through the runner, or the steps' SQL
 * previews), resolved and counted live on `db`; what cannot be read is listed as unknown.
 */
export async function findDataAtRisk(db: SqlClient, runner: Runner, steps: readonly TrackStep[]): Promise<DataAtRisk[]> {
  const found: Array<{ track: string; step: TrackStep; finding: SqlFinding; source: string }> = [];
  const blind: DataAtRisk[] = [];
  for (const step of steps) {
    const scripts = await scriptsOf(runner, step);
    if (typeof scripts === 'string') {
      blind.push({ track: step.track, kind: 'unknown', reason: scripts, source: runner.name, statement: '' });
      continue;
    }
    for (const script of scripts) {
      for (const finding of analyseSql(script.sql)) {
        if (!isVersionTable(finding, step)) found.push({ track: step.track, step, finding, source: script.source });
      }
    }
  }
  const measured = await prefetch(db, found);
  const items: DataAtRisk[] = [];
  for (const f of found) items.push(await measure(measured, f.track, f.step, f.finding, f.source));
  return consolidate([...blind, ...items]);
}

/** Where the copy goes and its estimated size. Pure. */
export function archivePlan(items: readonly DataAtRisk[], archive: ArchiveOptions): ArchivePlan {
  return { enabled: archive.enabled, schema: ARCHIVE_SCHEMA, maxBytes: archive.maxBytes, bytes: items.reduce((sum, i) => sum + (i.copyBytes ?? 0), 0) };
}

/** The refusal when the copy would exceed --archive-max-size (a plan fact, so the planner lists it with the others). Pure. */
export function archiveRefusal(items: readonly DataAtRisk[], plan: ArchivePlan): { reason: string; hint: string } | undefined {
  if (!plan.enabled || plan.bytes <= plan.maxBytes) return undefined;
  return {
    reason: `the copy of the data at risk kept before the downs would take about ${formatBytes(plan.bytes)} in ${ARCHIVE_SCHEMA}, over --archive-max-size ${formatBytes(plan.maxBytes)} (${items.filter((i) => i.copyBytes).map((i) => `${describeRisk(i)}: ${formatBytes(i.copyBytes!)}`).join('; ')})`,
    hint: `make sure the database has room and pass --archive-max-size ${formatBytes(Math.ceil(plan.bytes * 1.2))}, or take your own backup of these tables and pass --no-archive`,
  };
}

/** alembic's offline script deletes, updates and at base drops its own version table: bookkeeping, not data. */
function isVersionTable(f: SqlFinding, step: TrackStep): boolean {
  if (f.kind === 'drop-schema' || (f.kind === 'unknown' && f.table === undefined)) return false;
  const t = f.table!;
  return t.name === step.table.table && (t.schema === undefined || step.table.schema === undefined || t.schema === step.table.schema);
}

/** The names a relation may be written as, in the order the downs' session would resolve them (its search_path first, then the track's schema). */
function candidates(name: SqlName, step: TrackStep): string[] {
  return name.schema !== undefined
    ? [`${quoteIdent(name.schema)}.${quoteIdent(name.name)}`]
    : [quoteIdent(name.name), ...(step.table.schema ? [`${quoteIdent(step.table.schema)}.${quoteIdent(name.name)}`] : [])];
}

const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;

type Relation = { schema: string; table: string; oid: number };
type Count = { rows: number; bytes: number };

/**
 * The database as the measurement reads it, with what was read in bulk beforehand (issue 12: one
 * query per table cost about 1.4 ms each, 14 s for 10,000 dropped tables). Each answer is the same
 * as reading it alone: a name absent from `relations` is read, not assumed missing.
 */
interface Measured {
  db: SqlClient;
  /** regclass text -> the relation it resolves to, or null: resolved in bulk, none is a table. */
  relations: Map<string, Relation | null>;
  /** oid -> exact row count and total size, counted in bulk. */
  counts: Map<number, Count>;
}

/**
 * How many tables one counting statement covers (a UNION ALL of that many count(*)). Not more:
 * PostgreSQL plans a long UNION ALL as a parallel append whose workers each open every table, and
 * 200 to a statement took twice as long as 50 (1,000 small tables, PostgreSQL 17: ~230 -> ~120 ms;
 * 5,000: ~3.5 -> ~1.6 s).
 */
const COUNT_BATCH = 50;

/**
 * Resolves every name the findings use in one query, then counts every table dropped, truncated or
 * deleted from with exact count(*), COUNT_BATCH tables per statement: two round trips for most
 * plans instead of two or three per table.
 */
async function prefetch(db: SqlClient, found: ReadonlyArray<{ step: TrackStep; finding: SqlFinding }>): Promise<Measured> {
  const measured: Measured = { db, relations: new Map(), counts: new Map() };
  const names = [...new Set(found.flatMap(({ step, finding: f }) => (f.kind === 'unknown' || f.kind === 'drop-schema' ? [] : candidates(f.table, step))))];
  if (names.length === 0) return measured;
  for (const name of names) measured.relations.set(name, null);
  const { rows } = await db.query<{ name: string; schema: string; table: string; oid: string }>(
    `SELECT u.name, n.nspname AS schema, c.relname AS table, c.oid::int8 AS oid
       FROM unnest($1::text[]) AS u(name) JOIN pg_class c ON c.oid = to_regclass(u.name) JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')`,
    [names],
  );
  for (const r of rows) measured.relations.set(r.name, { schema: r.schema, table: r.table, oid: Number(r.oid) });
  const whole = new Map<number, Relation>();
  for (const { step, finding: f } of found) {
    if (f.kind !== 'drop-table' && f.kind !== 'truncate' && f.kind !== 'delete') continue;
    const where = resolvedFrom(measured, candidates(f.table, step));
    if (where) whole.set(where.oid, where);
  }
  const tables = await mayHoldRows(db, [...whole.values()], measured);
  for (let i = 0; i < tables.length; i += COUNT_BATCH) {
    const batch = tables.slice(i, i + COUNT_BATCH);
    const { rows: counted } = await db.query<{ oid: string; n: string; bytes: string }>(batch.map((t) =>
      `SELECT ${t.oid}::int8 AS oid, count(*)::int8 AS n, pg_total_relation_size(${t.oid}::oid::regclass)::int8 AS bytes FROM ${qualified(t.schema, t.table)}`).join(' UNION ALL '));
    for (const c of counted) measured.counts.set(Number(c.oid), { rows: Number(c.n), bytes: Number(c.bytes) });
  }
  return measured;
}

/**
 * How many tables one size statement covers. Each size takes the table's AccessShareLock until the
 * statement ends, and a transaction holds at most about max_locks_per_transaction (64) times
 * max_connections of them: 10,000 at once could run out of shared memory.
 */
const SIZE_BATCH = 500;

/**
 * A plain table stored by PostgreSQL's heap, the only kind whose rows are known to take a page of
 * its main fork: another table access method (a columnar extension's) may keep them elsewhere, a
 * partitioned table has no storage of its own. Those are always counted and looked into.
 */
const HEAP_TABLE = "c.relkind = 'r' AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'heap')";

/**
 * The tables that may hold rows, to be counted; the others are recorded as exactly 0 rows, with
 * their total size as before (what the plan shows as the copy's estimate). A table's main fork of
 * 0 bytes has no page, so no row (a row, even one not yet committed or vacuumed away, takes a
 * page): that is read from the file's size, not counted or estimated (reltuples), and such a table
 * is not scanned. Only heap tables (HEAP_TABLE) are read that way; the others are always counted. 1,000 empty
 * tables, a fresh session: ~250 -> ~130 ms (most of what is left is opening each table's indexes
 * for pg_total_relation_size).
 */
async function mayHoldRows(db: SqlClient, tables: readonly Relation[], measured: Measured): Promise<Relation[]> {
  for (let i = 0; i < tables.length; i += SIZE_BATCH) {
    const { rows } = await db.query<{ oid: string; empty: boolean; bytes: string | null }>(
      `SELECT oid::int8 AS oid, empty, CASE WHEN empty THEN pg_total_relation_size(oid) END::int8 AS bytes
         FROM (SELECT c.oid, ${HEAP_TABLE} AND pg_relation_size(c.oid) = 0 AS empty FROM pg_class c WHERE c.oid = ANY ($1::oid[])) t`,
      [tables.slice(i, i + SIZE_BATCH).map((t) => t.oid)],
    );
    for (const r of rows) if (r.empty) measured.counts.set(Number(r.oid), { rows: 0, bytes: Number(r.bytes) });
  }
  // Counted: the tables that may hold rows, and one gone since its name was resolved (its count fails as before).
  return tables.filter((t) => !measured.counts.has(t.oid));
}

/** The first candidate that resolves, from what was read in bulk; undefined when none did (or one was not read). */
function resolvedFrom(m: Measured, names: readonly string[]): Relation | undefined {
  for (const name of names) {
    const r = m.relations.get(name);
    if (r) return r;
    if (r === undefined) return undefined;
  }
  return undefined;
}

/** The relation a name resolves to, as the downs' session would resolve it (its search_path), or the track's schema. */
async function resolve(m: Measured, name: SqlName, step: TrackStep): Promise<Relation | undefined> {
  for (const regclass of candidates(name, step)) {
    const known = m.relations.get(regclass);
    if (known !== undefined) {
      if (known) return known;
      continue;
    }
    const { rows } = await m.db.query<{ schema: string; table: string; oid: number }>(
      `SELECT n.nspname AS schema, c.relname AS table, c.oid::int8 AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`,
      [regclass],
    );
    if (rows[0]) return { ...rows[0], oid: Number(rows[0].oid) };
  }
  return undefined;
}

async function tableCount(m: Measured, schema: string, table: string, oid: number): Promise<Count> {
  const known = m.counts.get(oid);
  if (known) return known;
  const { rows } = await m.db.query<{ n: string; bytes: string }>(
    `SELECT count(*)::int8 AS n, pg_total_relation_size($1::oid::regclass)::int8 AS bytes FROM ${qualified(schema, table)}`,
    [oid],
  );
  return { rows: Number(rows[0]!.n), bytes: Number(rows[0]!.bytes) };
}

async function primaryKey(db: SqlClient, oid: number): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [oid],
  );
  return rows.map((r) => r.name);
}

/** Resolves and counts one finding. */
async function measure(m: Measured, track: string, step: TrackStep, f: SqlFinding, source: string): Promise<DataAtRisk> {
  const base = { track, kind: f.kind, source, statement: f.statement };
  if (f.kind === 'unknown') {
    return { ...base, reason: f.reason, ...(f.table ? { schema: f.table.schema, table: f.table.name } : {}) };
  }
  if (f.kind === 'drop-schema') {
    const { rows: tables } = await m.db.query<{ table: string; oid: number }>(
      `SELECT c.relname AS table, c.oid::int8 AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
      [f.schema],
    );
    const exists = (await m.db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [f.schema])).rows.length > 0;
    const counted = [];
    let bytes = 0;
    for (const t of tables) {
      const c = await tableCount(m, f.schema, t.table, Number(t.oid));
      counted.push({ table: t.table, rows: c.rows });
      bytes += c.bytes;
    }
    return { ...base, schema: f.schema, exists, rows: counted.reduce((s, t) => s + t.rows, 0), tables: counted, copyBytes: bytes };
  }
  const where = await resolve(m, f.table, step);
  if (!where) return { ...base, schema: f.table.schema, table: f.table.name, ...('column' in f ? { column: f.column } : {}), exists: false, copyBytes: 0 };
  const named = { schema: where.schema, table: where.table };
  if (f.kind === 'drop-table' || f.kind === 'truncate' || f.kind === 'delete') {
    const c = await tableCount(m, where.schema, where.table, where.oid);
    return { ...base, ...named, exists: true, rows: c.rows, ...(f.kind === 'delete' ? { partial: f.where } : {}), copyBytes: c.bytes };
  }
  const { rows: attrs } = await m.db.query<{ type: string }>(
    'SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::oid AND attname = $2 AND attnum > 0 AND NOT attisdropped',
    [where.oid, f.column],
  );
  const types = f.kind === 'type-change' ? { toType: f.toType, ...(attrs[0] ? { fromType: attrs[0].type } : {}) } : {};
  if (!attrs[0]) return { ...base, ...named, column: f.column, exists: false, ...types, copyBytes: 0 };
  const key = (await primaryKey(m.db, where.oid)).filter((k) => k !== f.column);
  // Without a primary key the column's values cannot be matched back to their rows: the whole table is copied.
  const copied = key.length > 0 ? [...key, f.column].map(quoteIdent).join(', ') : '*';
  const { rows } = await m.db.query<{ n: string; bytes: string }>(
    `SELECT count(${quoteIdent(f.column)})::int8 AS n, coalesce(sum(pg_column_size(t)), 0)::int8 AS bytes
       FROM (SELECT ${copied} FROM ${qualified(where.schema, where.table)} ${key.length > 0 ? `WHERE ${quoteIdent(f.column)} IS NOT NULL` : ''}) t`,
  );
  return { ...base, ...named, column: f.column, exists: true, rows: Number(rows[0]!.n), ...types, copyBytes: Number(rows[0]!.bytes), ...(key.length > 0 ? { key } : {}) };
}

const tableKey = (i: { schema?: string; table?: string }) => `${i.schema ?? ''}.${i.table ?? ''}`;

/**
 * One entry per thing destroyed: a table that goes takes its columns, rows and types with it (an
 * earlier down dropping one of its columns adds nothing to the count or the copy), and so does a
 * schema dropped with CASCADE.
 */
export function consolidate(items: readonly DataAtRisk[]): DataAtRisk[] {
  const gone = new Set(items.filter((i) => i.kind === 'drop-table' && i.exists).map(tableKey));
  const schemasGone = new Set(items.filter((i) => i.kind === 'drop-schema' && i.exists).map((i) => i.schema));
  const seen = new Set<string>();
  return items.filter((i) => {
    if (i.kind === 'unknown') return true;
    if (i.kind !== 'drop-schema' && i.exists && schemasGone.has(i.schema)) return false;
    if (i.kind !== 'drop-table' && i.kind !== 'drop-schema' && i.exists && gone.has(tableKey(i))) return false;
    const key = `${i.kind}:${tableKey(i)}:${i.column ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const rowsText = (n: number) => `${formatCount(n)} ${n === 1 ? 'row' : 'rows'}`;
/** schema.table, without the schema when it is public (as people write it). */
const tableName = (i: { schema?: string; table?: string }) => (i.schema === undefined || i.schema === 'public' ? i.table! : `${i.schema}.${i.table}`);

/** One item for people: `table eval_runs (12,408 rows) dropped`, `column users.sso_id (9,120 non-null) dropped`. */
export function describeRisk(i: DataAtRisk): string {
  const missing = 'does not exist now';
  switch (i.kind) {
    case 'drop-table':
      return `table ${tableName(i)} (${i.exists ? rowsText(i.rows!) : missing}) dropped`;
    case 'truncate':
      return `table ${tableName(i)} (${i.exists ? rowsText(i.rows!) : missing}) truncated`;
    case 'delete':
      return `rows of ${tableName(i)} deleted (${!i.exists ? missing : i.partial ? `those matching a WHERE, of ${formatCount(i.rows!)}` : `all ${formatCount(i.rows!)}`})`;
    case 'drop-column':
      return `column ${tableName(i)}.${i.column} (${i.exists ? `${formatCount(i.rows!)} non-null` : missing}) dropped`;
    case 'type-change':
      return `column ${tableName(i)}.${i.column} type changed${i.fromType ? ` from ${i.fromType}` : ''} to ${i.toType} (${i.exists ? `${formatCount(i.rows!)} non-null` : missing})`;
    case 'drop-schema':
      return `schema ${i.schema} (${i.exists ? `${i.tables!.length} tables, ${rowsText(i.rows!)}` : missing}) dropped with CASCADE`;
    case 'unknown':
      return `track ${i.track}${i.statement ? `, ${i.source}` : ''}: may destroy data the analyser cannot see (${i.reason}${i.statement ? `: ${i.statement}` : ''})`;
  }
}

/** Whether the plan destroys stored data, or may: the confirmation then names it. */
export function destroysData(items: readonly DataAtRisk[]): boolean {
  return items.some((i) => i.kind === 'unknown' || (i.exists === true && (i.rows ?? 0) > 0));
}

/**
 * 12408 -> "12,408", as toLocaleString('en-US') writes it, without it: its first call loads ICU's
 * number formatting, ~12 ms of every plan that shows a count (issue 12). Beyond the safe integers,
 * toLocaleString itself.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+$)/g, ',');
  return n < 0 ? `-${digits}` : digits;
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

// ---------------------------------------------------------------------------------------------
// The copy

/** One CREATE TABLE ... AS SELECT of the archive. */
export interface ArchiveCopy {
  from: { schema: string; table: string };
  /** The columns copied (the primary key and the column at risk); undefined: every column, every row. */
  columns?: string[];
  /** For a column dropped or retyped: that column (with `columns`, only the rows where it is not null are kept). */
  column?: string;
  /** The archive table's name in ARCHIVE_SCHEMA. */
  name: string;
}

/** PostgreSQL cuts identifiers at 63 bytes (NAMEDATALEN - 1). */
const MAX_IDENT_BYTES = 63;
const utf8 = new TextEncoder();

/** FNV-1a, 32 bits, in hex: a short stable suffix that keeps cut names apart. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** `<release>_<stamp>_<schema>_<table>[_<column>]`, cut to 63 bytes with a hash of the whole when longer. */
export function archiveTableName(release: string, stamp: string, schema: string, table: string, column?: string): string {
  const full = [release, stamp, schema, table, ...(column === undefined ? [] : [column])].join('_');
  if (utf8.encode(full).length <= MAX_IDENT_BYTES) return full;
  const suffix = `_${shortHash(full)}`;
  let cut = full;
  while (utf8.encode(cut).length > MAX_IDENT_BYTES - suffix.length) cut = cut.slice(0, -1);
  return cut + suffix;
}

/**
 * The copies for the items at risk: the whole table for a table dropped, truncated or deleted from
 * (and each table of a schema dropped with CASCADE); the primary key plus the column for a column
 * dropped or retyped (the whole table when there is no primary key). Nothing for what does not
 * exist or is unknown. One copy per table when a whole-table copy covers a column.
 */
export function planArchive(release: string, stamp: string, items: readonly DataAtRisk[]): ArchiveCopy[] {
  const whole = new Map<string, ArchiveCopy>();
  const columns: ArchiveCopy[] = [];
  const addWhole = (schema: string, table: string) => {
    const k = `${schema}.${table}`;
    if (!whole.has(k)) whole.set(k, { from: { schema, table }, name: archiveTableName(release, stamp, schema, table) });
  };
  for (const i of items) {
    if (!i.exists) continue;
    if (i.kind === 'drop-schema') for (const t of i.tables ?? []) addWhole(i.schema!, t.table);
    else if (i.kind === 'drop-column' || i.kind === 'type-change') {
      // Without a primary key there is nothing to match the values back by: every column is kept.
      columns.push({ from: { schema: i.schema!, table: i.table! }, ...(i.key ? { columns: [...i.key, i.column!] } : {}), column: i.column!, name: archiveTableName(release, stamp, i.schema!, i.table!, i.column) });
    } else if (i.kind !== 'unknown') addWhole(i.schema!, i.table!);
  }
  return [...whole.values(), ...columns.filter((c) => !whole.has(`${c.from.schema}.${c.from.table}`))];
}

/** How many copies one round trip of the archive makes (each a CREATE TABLE ... AS and a COMMENT). */
const COPY_BATCH = 100;

/** The rows one copy keeps: `FROM table [WHERE column IS NOT NULL]`. */
function copiedRows(copy: ArchiveCopy): string {
  const where = copy.columns && copy.column ? ` WHERE ${quoteIdent(copy.column)} IS NOT NULL` : '';
  return `FROM ${qualified(copy.from.schema, copy.from.table)}${where}`;
}

/** The statement that makes one copy. */
export function copyStatement(copy: ArchiveCopy): string {
  const select = copy.columns ? copy.columns.map(quoteIdent).join(', ') : '*';
  return `CREATE TABLE ${qualified(ARCHIVE_SCHEMA, copy.name)} AS SELECT ${select} ${copiedRows(copy)}`;
}

/**
 * Which copies would keep no row, read in the copy's own transaction (after the workloads stopped,
 * as the copies are): a table with no row, a column with no non-null value. Those get no archive
 * table: a copy of nothing keeps nothing, and 1,000 empty tables cost ~0.5 s to create.
 */
async function emptyNow(db: SqlClient, copies: readonly ArchiveCopy[]): Promise<Set<number>> {
  const empty = new Set(copies.keys());
  // First, in one statement, the tables that may hold a row: those whose main fork has a page (as
  // mayHoldRows: one without a page holds no row), and any not found, so that its copy fails as before.
  // Only their copies are looked into, row by row.
  const { rows: paged } = await db.query<{ name: string }>(
    `SELECT u.name FROM unnest($1::text[]) AS u(name) LEFT JOIN pg_class c ON c.oid = to_regclass(u.name)
      WHERE c.oid IS NULL OR NOT (${HEAP_TABLE}) OR pg_relation_size(c.oid) > 0`,
    [[...new Set(copies.map((c) => qualified(c.from.schema, c.from.table)))]],
  );
  const stored = new Set(paged.map((r) => r.name));
  const looked = [...copies.keys()].filter((k) => stored.has(qualified(copies[k]!.from.schema, copies[k]!.from.table)));
  for (let i = 0; i < looked.length; i += COUNT_BATCH) {
    const { rows } = await db.query<{ k: number }>(looked.slice(i, i + COUNT_BATCH).map((k) => `SELECT ${k} AS k WHERE EXISTS (SELECT 1 ${copiedRows(copies[k]!)})`).join(' UNION ALL '));
    for (const r of rows) empty.delete(Number(r.k));
  }
  return empty;
}

/** How to put one copy back, for the table's comment and the run's output. */
export function restoreStatement(copy: ArchiveCopy): string {
  const target = qualified(copy.from.schema, copy.from.table);
  const source = qualified(ARCHIVE_SCHEMA, copy.name);
  if (!copy.column) return `INSERT INTO ${target} SELECT * FROM ${source} ON CONFLICT DO NOTHING`;
  if (!copy.columns) return `-- ${copy.from.schema}.${copy.from.table} has no primary key: ${source} holds every column of every row; match them to the table's rows by hand to put ${copy.column} back`;
  const key = copy.columns.filter((c) => c !== copy.column);
  return `UPDATE ${target} AS t SET ${quoteIdent(copy.column!)} = a.${quoteIdent(copy.column!)} FROM ${source} AS a WHERE ${key.map((k) => `t.${quoteIdent(k)} = a.${quoteIdent(k)}`).join(' AND ')}`;
}

export interface ArchivedCopy extends ArchiveCopy {
  rows: number;
  restore: string;
  /** Nothing to keep (no row, or no non-null value, at the copy): no archive table was made. */
  empty?: true;
}

/** How the copy waits for locks, and what stops it waiting (the run's interrupts). */
export interface ArchiveLockWait {
  /** --lock-timeout and --lock-retries, as the downs get them; the rest from DEFAULT_LOCK_WAIT_POLICY. statement_timeout is the downs' only. */
  policy?: Partial<LockWaitPolicy>;
  signals?: ReadonlyArray<AbortSignal | undefined>;
  /** Each lock wait given up and the retry coming, for people. */
  onWait?(line: string): void;
}

/**
 * Makes the copies, in one transaction of its own in the release's database: all of them or none.
 * Called by the executor after the workloads are stopped (no row is written after the copy) and
 * before the first down. Does nothing when the plan has nothing to copy or --no-archive was given.
 *
 * Under the downs' lock_timeout (issue 13): a copy that waits for a table another session holds
 * gives up after it, so that what queues behind the copy's own locks (an ALTER waiting for the
 * ACCESS SHARE the copy holds on a table it read, and the SELECTs behind that ALTER) waits at most
 * that long; the transaction rolls back whole and is tried again after the downs' backoff, up to
 * --lock-retries times.
 */
export async function archiveAtRisk(
  deps: { connector: DatabaseConnector; log: Log },
  plan: { release: { name: string; version: string }; target: { version: string }; dataAtRisk: readonly DataAtRisk[]; archive: ArchivePlan },
  databaseUrl: string,
  emit: (e: { type: 'archived'; schema: string; copies: ArchivedCopy[] }) => void,
  lockWait: ArchiveLockWait = {},
): Promise<void> {
  if (!plan.archive.enabled || planArchive(plan.release.name, 'x', plan.dataAtRisk).length === 0) return;
  const given = Object.entries(lockWait.policy ?? {}).filter(([, v]) => v !== undefined);
  const policy: LockWaitPolicy = { ...DEFAULT_LOCK_WAIT_POLICY, ...Object.fromEntries(given), statementTimeoutMs: 0 };
  const session = await deps.connector.connect(databaseUrl);
  try {
    await session.query(sessionTimeoutsSql(policy));
    // The database's clock names the copies: the same clock as the rows' own timestamps.
    const [{ stamp }] = (await session.query<{ stamp: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') AS stamp")).rows as [{ stamp: string }];
    const copies = planArchive(plan.release.name, stamp, plan.dataAtRisk);
    let done: ArchivedCopy[] | undefined;
    for (let retry = 1; done === undefined; retry++) {
      try {
        done = await copyOnce(session, plan, copies);
      } catch (err) {
        await session.query('ROLLBACK').catch(() => undefined);
        if (policy.lockTimeoutMs === 0 || !isLockTimeout(err)) throw archiveFailed(err);
        const holder = await lockHolder(session, copies.map(copyStatement).join(';\n'), qualified(copies[0]!.from.schema, copies[0]!.from.table));
        const held = holder?.text ?? 'a lock held by another session';
        if (retry > policy.retries) {
          const waited = backoffSchedule(policy).reduce((a, b) => a + b, 0);
          const end = holder === undefined ? 'find the session holding it (pg_locks joined with pg_stat_activity), let it finish or end it' : `let pid ${holder.pid} finish, or end it ("SELECT pg_terminate_backend(${holder.pid})")`;
          throw new ArchiveError(`the copy of the data at risk into ${ARCHIVE_SCHEMA} gave up waiting for a lock after ${policy.retries + 1} tries (lock_timeout ${spoken(policy.lockTimeoutMs)} each, ${spoken(waited)} between them), so no down ran: ${held}`, {
            hint: `nothing was copied. ${end[0]!.toUpperCase()}${end.slice(1)}, then re-run; or wait longer with --lock-retries N (or --lock-timeout DURATION)`,
            cause: err,
          });
        }
        const wait = backoffMs(retry, policy);
        lockWait.onWait?.(`the copy of the data at risk waited for a lock: ${held}; gave up after lock_timeout ${spoken(policy.lockTimeoutMs)}, nothing of it stayed; retry ${retry} of ${policy.retries} in ${spoken(wait)}`);
        if (!(await waitUnless(wait, lockWait.signals ?? []))) {
          throw new InterruptedError(`interrupted before the copy of the data at risk was tried again (it waited for a lock: ${held}): nothing was copied, no down ran`, {
            hint: 'run the same command again',
          });
        }
      }
    }
    emit({ type: 'archived', schema: ARCHIVE_SCHEMA, copies: done });
  } catch (err) {
    if (err instanceof RollbackError) throw err;
    throw new ArchiveError(`the copy of the data at risk into ${ARCHIVE_SCHEMA} failed, so no down ran: ${err instanceof Error ? err.message : String(err)}`, {
      hint: 'check that the database answers, then re-run; or take your own backup and pass --no-archive',
      cause: err,
    });
  } finally {
    await session.close();
  }
}

/** One try of the copy: one transaction, committed whole; on a failure it is left for the caller to roll back. */
async function copyOnce(
  session: SqlClient,
  plan: { release: { name: string; version: string }; target: { version: string } },
  copies: readonly ArchiveCopy[],
): Promise<ArchivedCopy[]> {
  const done: ArchivedCopy[] = [];
  await session.query('BEGIN');
  // CREATE SCHEMA IF NOT EXISTS checks CREATE on the database before it looks: a schema made
  // beforehand by an administrator (the fix a user without that privilege is given) is used as it is.
  const exists = (await session.query<{ ok: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS ok', [ARCHIVE_SCHEMA])).rows[0]?.ok === true;
  if (!exists) await session.query(`CREATE SCHEMA ${quoteIdent(ARCHIVE_SCHEMA)}`);
  const empty = await emptyNow(session, copies);
  // The same statements as one copy at a time, COPY_BATCH copies to a round trip (1,000
  // tables: 2,000 round trips were about half of the copy's time).
  const kept = copies.filter((_, k) => !empty.has(k));
  for (let i = 0; i < kept.length; i += COPY_BATCH) {
    const batch = kept.slice(i, i + COPY_BATCH).map((copy) => {
      const restore = restoreStatement(copy);
      const note = `helm-schema-rollback: ${copy.columns ? `column ${copy.column} (with the primary key) of` : 'copy of'} ${copy.from.schema}.${copy.from.table} ` +
        `before release ${plan.release.name} rolled back from chart ${plan.release.version} to ${plan.target.version}; restore: ${restore}`;
      return { copy, restore, sql: `${copyStatement(copy)};\nCOMMENT ON TABLE ${qualified(ARCHIVE_SCHEMA, copy.name)} IS ${quoteLiteral(note)};` };
    });
    const result = await session.query(batch.map((b) => b.sql).join('\n'));
    // Two statements per copy: its CREATE TABLE ... AS (the rows copied), then its COMMENT.
    const counts = result.rowCounts ?? [result.rowCount];
    batch.forEach(({ copy, restore }, k) => done.push({ ...copy, rows: counts[2 * k] ?? 0, restore }));
  }
  for (const k of empty) done.push({ ...copies[k]!, rows: 0, restore: restoreStatement(copies[k]!), empty: true });
  await session.query('COMMIT');
  return done;
}

/** A failure of the copy other than a lock wait: nothing copied, no down ran. */
function archiveFailed(err: unknown): ArchiveError {
  return new ArchiveError(`the copy of the data at risk into ${ARCHIVE_SCHEMA} failed, so no down ran: ${err instanceof Error ? err.message : String(err)}`, {
    hint: `give the database user CREATE on the database (or create schema ${ARCHIVE_SCHEMA} for it) and make room, then re-run; or take your own backup and pass --no-archive`,
    cause: err,
  });
}

