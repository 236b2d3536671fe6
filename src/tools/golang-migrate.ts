/**
 * golang-migrate (database/postgres driver, v4). Reads its bookkeeping as the tool does:
 * `SELECT version, dirty FROM "<schema>"."<table>"`, the schema defaulting to current_schema(), an
 * empty or missing table meaning "no version" (LIMIT 2 instead of the tool's LIMIT 1, to refuse a
 * hand-edited table with two rows instead of picking one at random).
 * Reference: shared/reference/migration-tools.md §1.
 */
import { crc32 } from 'node:zlib';
import { MigrationsError, UsageError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { parseMigrationFiles, type DownStep, type SourceFile } from './golang-migrate-files.js';
import { linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';

const name = 'golang-migrate';
const defaultTable = 'schema_migrations';
const tableShape = 'schema_migrations(version bigint not null primary key, dirty boolean not null)';

/** golang-migrate's database.NilVersion: stored only as (-1, dirty=true) after a failed down of the first migration. */
const NIL_VERSION = '-1';
/** The version column is a PostgreSQL bigint. */
const INT64_MAX = 9223372036854775807n;

function checkRevision(revision: string): string | undefined {
  if (!/^[0-9]+$/.test(revision)) {
    return `golang-migrate versions are non-negative integers (the number that starts the migration file names), not "${revision}"`;
  }
  if (revision.length > 1 && revision.startsWith('0')) {
    return `write golang-migrate version "${revision}" without leading zeros, as "${BigInt(revision)}": the tool stores the number, not the file name's digits`;
  }
  if (BigInt(revision) > INT64_MAX) {
    return `golang-migrate version ${revision} does not fit the tool's bigint version column (at most ${INT64_MAX})`;
  }
  return undefined;
}

/**
 * The schema golang-migrate uses for this table: the configured one, else SELECT CURRENT_SCHEMA()
 * (NULL there is golang-migrate's ErrNoSchema, a VersionTableError here). The lock key needs it too.
 */
export async function resolveSchema(db: SqlClient, ref: VersionTableRef): Promise<string> {
  if (ref.schema !== undefined) return ref.schema;
  const { rows } = await db.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema;
  if (schema === null || schema === undefined) {
    throw new VersionTableError(
      `cannot locate golang-migrate table ${ref.table}: the search_path names no existing schema ` +
        '(current_schema() is NULL; golang-migrate itself fails with "no schema")',
      { hint: "name the track's schema explicitly, or fix the search_path of the user in the database URL" },
    );
  }
  return schema;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  const table: VersionTableRef = { schema: await resolveSchema(db, ref), table: ref.table };
  let rows: Array<{ version: unknown; dirty: unknown }>;
  try {
    // LIMIT 2, not the tool's LIMIT 1: the tool keeps at most one row (TRUNCATE + INSERT), and a
    // second row would make "the current version" arbitrary, so it is reported rather than guessed.
    ({ rows } = await db.query<{ version: unknown; dirty: unknown }>(`SELECT version, dirty FROM ${qualifiedName(table)} LIMIT 2`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, table, err) ?? err;
  }
  const where = displayName(table);
  if (rows.length > 1) {
    throw new VersionTableError(`golang-migrate table ${where} holds more than one row; the tool keeps exactly one`, {
      hint: `the table was edited by hand: inspect it, then set the true version with "migrate force VERSION"`,
    });
  }
  const row = rows[0];
  if (row === undefined) return { tableExists: true, revisions: [], dirty: false };

  const version = typeof row.version === 'number' && Number.isSafeInteger(row.version) ? String(row.version) : row.version;
  if (typeof version !== 'string' || !/^-?[0-9]+$/.test(version)) {
    throw new VersionTableError(`golang-migrate table ${where} holds version ${JSON.stringify(row.version)}, not an integer`, {
      hint: `check the track's version table: golang-migrate creates ${tableShape}`,
    });
  }
  if (typeof row.dirty !== 'boolean') {
    throw new VersionTableError(`golang-migrate table ${where} holds dirty=${JSON.stringify(row.dirty)}, not a boolean`, {
      hint: `check the track's version table: golang-migrate creates ${tableShape}`,
    });
  }
  if (version === NIL_VERSION) return { tableExists: true, revisions: [], dirty: row.dirty };
  if (version.startsWith('-')) {
    throw new VersionTableError(`golang-migrate table ${where} holds version ${version}; the tool writes only versions >= 0 (or -1)`, {
      hint: `the table was edited by hand: inspect it, then set the true version with "migrate force VERSION"`,
    });
  }
  return { tableExists: true, revisions: [version], dirty: row.dirty };
}

/** Versions are numbers (uint64): "9" < "13", whatever the digits look like as text. */
function compareRevisions(a: string, b: string): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The versions of a migrations directory, as the tool indexes them; the head is the highest. */
function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  try {
    const parsed = parseMigrationFiles(files, 'migrations directory');
    return linearHistory(parsed.migrations.map((m) => m.version), parsed.ignored);
  } catch (err) {
    if (err instanceof UsageError) throw new MigrationsError(err.message, { hint: err.hint });
    throw err;
  }
}

/**
 * After a failed down from F golang-migrate leaves (previous of F, dirty) while PostgreSQL rolled the
 * file's one implicit transaction back: the schema is still at F, the smallest reverted revision
 * above what the table says ((-1, dirty): the first one). Forcing anything else makes the next run
 * skip F's down (or run it twice). When the plan does not list the revisions (the tool in the image
 * walked them), F is the version of the file the tool's error names ("in line 0: 000011_x.down.sql").
 */
/** A down file as golang-migrate's log and errors name it: "000011_agent_instance_tasks.down.sql". */
const DOWN_FILE = /\b([0-9]+)_[^\s/]*\.down\.[A-Za-z]+\b/;

function namesDownFile(line: string): boolean {
  return DOWN_FILE.test(line);
}

function dirtyRepair(state: TrackState, reverting: readonly string[], output: readonly string[] = [], table?: VersionTableRef): { version: string; command: string } | undefined {
  if (!state.dirty) return undefined;
  const at = state.revisions[0] === undefined ? -1n : BigInt(state.revisions[0]);
  const above = reverting.map((r) => BigInt(r)).filter((r) => r > at).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const named = [...output].reverse().map((line) => DOWN_FILE.exec(line)?.[1]).find((v) => v !== undefined);
  const version = above[0]?.toString() ?? (named !== undefined && BigInt(named) > at ? BigInt(named).toString() : undefined);
  if (version === undefined) return undefined;
  // The migrate CLI forces schema_migrations unless the URL names the track's own table.
  const custom = table !== undefined && (table.table !== defaultTable || table.schema !== undefined);
  const url = !custom ? 'URL' : table.schema !== undefined
    ? `'URL?x-migrations-table="${table.schema}"."${table.table}"&x-migrations-table-quoted=1'`
    : `'URL?x-migrations-table=${table.table}'`;
  return { version, command: `migrate -path DIR -database ${url} force ${version}` };
}

export const golangMigrate: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  order: { compare: compareRevisions },
  offers: {
    history: { read: readMigrations, about: { files: '`N_name.up.sql` / `.down.sql`', revision: '`N` without leading zeros', head: 'the highest N' } },
    dirty: { repair: dirtyRepair, namesDownFile },
  },
};

// ---------------------------------------------------------------------------------------------
// The advisory lock golang-migrate takes (database/util.go GenerateAdvisoryLockId, v4.15+).

const ADVISORY_LOCK_ID_SALT = 1486364155n;

/**
 * The key golang-migrate ≥ v4.15 passes to `pg_advisory_lock($1)`:
 * crc32(schema + "\0" + table + "\0" + databaseName) × 1486364155, mod 2^32 (an unsigned 32-bit
 * value, so pg_locks shows classid=0, objid=key, objsubid=1).
 *
 * `databaseName` is hashed exactly as given. Gotcha: the `migrate` CLI (and any program calling
 * `postgres.Open(url)`) uses the URL's path, WITH its leading slash ("/app"), while programs using
 * `postgres.WithInstance` with no DatabaseName get CURRENT_DATABASE() ("app"). The two give
 * different keys; see advisoryLockKeys.
 */
export function advisoryLockKey(databaseName: string, schema: string, table: string): number {
  return generateAdvisoryLockId(databaseName, schema, table);
}

/**
 * golang-migrate's database.GenerateAdvisoryLockId, verbatim: with additional names the hashed string
 * is `additionalNames... + "\0" + databaseName`. Kept general for the older key forms: v4.2–v4.14
 * hashed (databaseName, schema), v4.0–v4.1 databaseName alone.
 */
export function generateAdvisoryLockId(databaseName: string, ...additionalNames: string[]): number {
  const hashed = additionalNames.length > 0 ? [...additionalNames, databaseName].join('\0') : databaseName;
  const sum = BigInt(crc32(Buffer.from(hashed, 'utf8')));
  return Number((sum * ADVISORY_LOCK_ID_SALT) & 0xffffffffn);
}

/**
 * Both keys golang-migrate may use for one version table of database `currentDatabase` (as
 * CURRENT_DATABASE() names it): `library` for WithInstance callers (e.g. an app that migrates on
 * start), `cli` for the migrate CLI and postgres.Open(url) callers (path with its leading slash).
 * A plugin that must exclude both should take both.
 */
export function advisoryLockKeys(currentDatabase: string, schema: string, table: string): { library: number; cli: number } {
  return {
    library: advisoryLockKey(currentDatabase, schema, table),
    cli: advisoryLockKey(`/${currentDatabase}`, schema, table),
  };
}

// ---------------------------------------------------------------------------------------------
// Executing migrations as the database/postgres driver and migrate.go's runMigrations do.

/** A version table whose schema is known: the driver always qualifies it (migrationsSchemaName). */
export interface ResolvedVersionTable {
  schema: string;
  table: string;
}

/**
 * The driver's ensureVersionTable: look in information_schema first (so a user without CREATE can
 * still work with an existing table), create with the driver's DDL only when missing.
 * Returns whether it created the table.
 */
export async function ensureVersionTable(db: SqlClient, ref: ResolvedVersionTable): Promise<boolean> {
  const { rows } = await db.query<{ count: string | number }>(
    'SELECT COUNT(1) AS count FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2 LIMIT 1',
    [ref.schema, ref.table],
  );
  if (Number(rows[0]?.count ?? 0) === 1) return false;
  await db.query(`CREATE TABLE IF NOT EXISTS ${qualifiedName(ref)} (version bigint not null primary key, dirty boolean not null)`);
  return true;
}

/**
 * The driver's SetVersion: in one transaction, TRUNCATE then INSERT (version, dirty). version null
 * is NilVersion: clean, the INSERT is skipped (an empty table); dirty, (-1, true) is written (the
 * fix for golang-migrate issue #330, so a failed down of the first migration stays visible).
 */
export async function setVersion(db: SqlClient, ref: ResolvedVersionTable, version: string | null, dirty: boolean): Promise<void> {
  const table = qualifiedName(ref);
  await db.query('BEGIN');
  try {
    await db.query(`TRUNCATE ${table}`);
    if (version !== null || dirty) {
      await db.query(`INSERT INTO ${table} (version, dirty) VALUES ($1, $2)`, [version ?? NIL_VERSION, dirty]);
    }
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A migration file's SQL failed; the message reads like golang-migrate's, with line and column. */
export class MigrationBodyError extends Error {
  constructor(
    readonly file: string,
    readonly sqlState: string | undefined,
    readonly line: number | undefined,
    readonly column: number | undefined,
    cause: unknown,
  ) {
    const pg = (cause ?? {}) as { message?: string; detail?: string };
    const where = line === undefined ? '' : ` (line ${line}, column ${column})`;
    const detail = typeof pg.detail === 'string' && pg.detail !== '' ? `, ${pg.detail}` : '';
    super(`migration failed: ${pg.message ?? String(cause)}${where}${detail} in ${file}`, { cause });
    this.name = 'MigrationBodyError';
  }
}

/**
 * Runs one migration file as the driver's Run does without x-multi-statement: the whole text in ONE
 * query. With no parameters node-postgres uses the simple protocol, so PostgreSQL runs a multi-
 * statement text as one implicit transaction (all or nothing), and statements that refuse to run in
 * a transaction (CREATE INDEX CONCURRENTLY) fail unless alone in their file, exactly as with the
 * tool. No BEGIN is added: a file may carry its own BEGIN/COMMIT. Whitespace-only text runs nothing
 * (runStatement returns early). After a failure a ROLLBACK ends a transaction block the file itself
 * opened and left aborted (outside one it is a no-op with a warning); golang-migrate leaves that to
 * the end of its connection, which rolls back the same way.
 */
export async function runMigrationBody(db: SqlClient, file: SourceFile): Promise<void> {
  if (file.body.trim() === '') return;
  try {
    await db.query(file.body);
  } catch (err) {
    const state = sqlState(err);
    if (state === undefined) throw err; // lost connection and the like: not the file's fault
    await db.query('ROLLBACK').catch(() => undefined);
    const position = Number((err as { position?: unknown }).position);
    const at = Number.isInteger(position) && position > 0 ? lineAndColumn(file.body, position) : undefined;
    throw new MigrationBodyError(file.name, state, at?.line, at?.column, err);
  }
}

/** PostgreSQL's error position counts characters from 1; the driver reports line and column the same way. */
function lineAndColumn(text: string, position: number): { line: number; column: number } | undefined {
  const chars = [...text.replace(/\r\n/g, '\n')];
  if (position > chars.length) return undefined;
  const before = chars.slice(0, position - 1);
  const lastNewline = before.lastIndexOf('\n');
  return { line: before.filter((c) => c === '\n').length + 1, column: position - 1 - lastNewline };
}

/** Which part of a step failed, and so what the version table holds afterwards. */
export type StepPhase = 'mark-dirty' | 'body' | 'mark-clean';

export class MigrationStepError extends Error {
  constructor(
    readonly step: DownStep,
    readonly phase: StepPhase,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'MigrationStepError';
  }
  /**
   * What the table holds now: after a failed mark-dirty its transaction rolled back (the previous
   * clean version stays); after that, (to, dirty) was committed and stays.
   */
  get left(): { version: string | null; dirty: boolean } {
    return this.phase === 'mark-dirty' ? { version: this.step.from, dirty: false } : { version: this.step.to, dirty: true };
  }
}

/**
 * One down step exactly as migrate.go's runMigrations runs it: SetVersion(to, dirty=true), the
 * body (if the version has a down file), SetVersion(to, dirty=false). `to` is the PREVIOUS version,
 * so a failing body leaves (previous, dirty) behind, as the tool does.
 */
export async function runDownStep(db: SqlClient, ref: ResolvedVersionTable, step: DownStep): Promise<void> {
  let phase: StepPhase = 'mark-dirty';
  try {
    await setVersion(db, ref, step.to, true);
    phase = 'body';
    if (step.file !== undefined) await runMigrationBody(db, step.file);
    phase = 'mark-clean';
    await setVersion(db, ref, step.to, false);
  } catch (err) {
    throw new MigrationStepError(step, phase, err);
  }
}
