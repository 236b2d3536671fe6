/**
 * golang-migrate's native driver: how the plugin runs golang-migrate down files itself, exactly as
 * the database/postgres driver and migrate.go's runMigrations do (reference: shared/reference/
 * migration-tools.md §1). The one native runner (src/runners/native.ts) drives it: planDowns is
 * `migrate goto V` (or `down -all` for base) over the files, open resolves the table's schema and
 * names golang-migrate's advisory lock, runDown is one step (SetVersion(prev, dirty) → the file →
 * SetVersion(prev, clean)).
 */
import { crc32 } from 'node:zlib';
import { MigrationsError, NativeStepError, UsageError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, NativeDown, NativeDriver, NativeTable, NativeUp, SqlClient, VersionTableRef } from '../core/ports.js';
import { parseMigrationFiles, planGoto, type DownStep, type SourceFile } from './golang-migrate-files.js';
import { qualifiedName, sqlState } from './sql.js';

/** golang-migrate's database.NilVersion: stored only as (-1, dirty=true) after a failed down of the first migration. */
export const NIL_VERSION = '-1';

/**
 * The schema golang-migrate uses for this table: the configured one, else SELECT CURRENT_SCHEMA()
 * (NULL there is golang-migrate's ErrNoSchema, a VersionTableError here). The lock key needs it too.
 */
export async function resolveSchema(db: SqlClient, ref: VersionTableRef): Promise<string> {
  if (ref.schema !== undefined) return ref.schema;
  const { rows } = await db.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema;
  if (schema === null || schema === undefined) throw noSchema(ref);
  return schema;
}

function noSchema(ref: VersionTableRef): VersionTableError {
  return new VersionTableError(
    `cannot locate golang-migrate table ${ref.table}: the search_path names no existing schema ` +
      '(current_schema() is NULL; golang-migrate itself fails with "no schema")',
    { hint: "name the track's schema explicitly, or fix the search_path of the user in the database URL" },
  );
}

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
 *
 * Sent as ONE simple query (BEGIN; TRUNCATE; INSERT; COMMIT): the same statements and transaction
 * as the driver's, in one round trip instead of four, since a rollback of N files writes the table
 * 2N times (issue 12: native downs near a psql floor). The version is written as a literal, so it
 * is checked to be an integer first.
 */
export async function setVersion(db: SqlClient, ref: ResolvedVersionTable, version: string | null, dirty: boolean): Promise<void> {
  const table = qualifiedName(ref);
  const row = version ?? NIL_VERSION;
  if (!/^-?[0-9]+$/.test(row)) throw new Error(`golang-migrate version ${JSON.stringify(row)} is not an integer`);
  const insert = version !== null || dirty ? ` INSERT INTO ${table} (version, dirty) VALUES (${row}, ${dirty});` : '';
  try {
    await db.query(`BEGIN; TRUNCATE ${table};${insert} COMMIT;`);
  } catch (err) {
    // A failure inside the text leaves its transaction block aborted: end it, as the driver's tx.Rollback.
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

// ---------------------------------------------------------------------------------------------
// The driver the native runner drives.

/** `migrate goto V` over the files: golang-migrate's steps, each with its down file or none, holes named. */
function planDowns(files: readonly MigrationFile[], current: string | null, target: string | null, origin = 'the migrations'): { downs: NativeDown[]; ignored: string[] } {
  let parsed;
  try {
    parsed = parseMigrationFiles(files, origin);
  } catch (err) {
    if (err instanceof UsageError) throw new MigrationsError(err.message, { hint: err.hint });
    throw err;
  }
  const downs = planGoto(parsed, current, target).map((step): NativeDown => ({
    from: step.from,
    to: step.to,
    ...(step.file ? { file: step.file.name } : {}),
    ...(step.expectedFile ? { expectedFile: `file ${step.expectedFile}` } : {}),
    sql: step.file?.body ?? '',
    // The bookkeeping runs in transactions of its own around the file (only the file's text is
    // one implicit transaction), so a failure leaves golang-migrate's dirty flag.
    transactional: false,
    ...(step.missing ? { missing: step.missing } : {}),
  }));
  return { downs, ignored: parsed.ignored };
}

/**
 * The schema as the driver resolves it, and the lock key an app calling postgres.WithInstance with
 * no DatabaseName takes (CURRENT_DATABASE(), no slash), as kagent does: it is the app that migrates
 * on start that must be excluded. The migrate CLI (postgres.Open(url)) hashes the URL path WITH its
 * leading slash ("/app"), a different key (advisoryLockKeys().cli); the workloads that migrate are
 * stopped before any down anyway. One round trip for both names.
 */
async function open(db: SqlClient, ref: VersionTableRef): Promise<NativeTable> {
  const { rows } = await db.query<{ schema: string | null; db: string }>('SELECT current_schema() AS schema, current_database() AS db');
  const schema = ref.schema ?? rows[0]?.schema;
  if (schema === null || schema === undefined) throw noSchema(ref);
  const key = advisoryLockKey(rows[0]!.db, schema, ref.table);
  return { schema, table: ref.table, locks: [{ key: String(key), what: "golang-migrate's lock" }] };
}

/** One down step as runMigrations runs it; a failure says what the table holds and where the schema is. */
async function runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  await runDownStep(db, table, { from: down.from, to: down.to, ...(down.file !== undefined ? { file: { name: down.file, body: down.sql } } : {}) });
}

/**
 * After a down whose file rolled back whole (the runner knows: a lock wait timed out in a file
 * without transaction control of its own), the table says (previous, dirty) over a schema at
 * `from`: writes (from, clean) back, what `migrate force FROM` would write, so the step can run again.
 */
async function restoreBeforeStep(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  await setVersion(db, table, down.from, false);
}

/** `migrate goto V` upwards: every version after `current` up to `target` that has an up file (a version without one is stepped over, as the tool does). */
function planUps(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[] {
  const parsed = parseMigrationFiles(files, 'the migrations');
  const [after, last] = [current === null ? -1n : BigInt(current), BigInt(target)];
  return parsed.migrations
    .filter((m) => BigInt(m.version) > after && BigInt(m.version) <= last)
    .map((m) => ({ version: m.version, file: m.up?.name ?? `${m.identifier} (no up file)`, statements: m.up ? [m.up.body] : [], transactional: false }));
}

/** runMigrations for one up: the driver's ensureVersionTable, SetVersion(v, dirty), the file, SetVersion(v, clean). */
async function runUp(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void> {
  await ensureVersionTable(db, table);
  await setVersion(db, table, up.version, true);
  if (up.statements[0] !== undefined) await runMigrationBody(db, { name: up.file, body: up.statements[0] });
  await setVersion(db, table, up.version, false);
}

export const golangMigrateNative: NativeDriver = { planDowns, open, runDown, restoreBeforeStep, planUps, runUp };

/**
 * One down step exactly as migrate.go's runMigrations runs it: SetVersion(to, dirty=true), the
 * body (if the version has a down file), SetVersion(to, dirty=false). `to` is the PREVIOUS version,
 * so a failing body leaves (previous, dirty) behind, as the tool does. Throws NativeStepError:
 * - the first SetVersion failed: its transaction rolled back, the table still says (from, clean);
 * - the body failed: PostgreSQL rolled the file's one implicit transaction back (unless the file
 *   commits on its own), so the schema is at `from` while the table says (to, dirty);
 * - the last SetVersion failed: the file ran, the schema is at `to`, the table says (to, dirty).
 */
export async function runDownStep(db: SqlClient, ref: ResolvedVersionTable, step: DownStep): Promise<void> {
  try {
    await setVersion(db, ref, step.to, true);
  } catch (err) {
    throw new NativeStepError(step.from, { version: step.from, dirty: false }, 'from', err);
  }
  try {
    if (step.file !== undefined) await runMigrationBody(db, step.file);
  } catch (err) {
    throw new NativeStepError(step.from, { version: step.to, dirty: true }, 'from', err);
  }
  try {
    await setVersion(db, ref, step.to, false);
  } catch (err) {
    throw new NativeStepError(step.from, { version: step.to, dirty: true }, 'to', err);
  }
}
