/**
 * golang-migrate (database/postgres driver, v4). Reads its bookkeeping as the tool does:
 * `SELECT version, dirty FROM "<schema>"."<table>"`, the schema defaulting to current_schema(), an
 * empty or missing table meaning "no version" (LIMIT 2 instead of the tool's LIMIT 1, to refuse a
 * hand-edited table with two rows instead of picking one at random).
 * Reference: shared/reference/migration-tools.md §1.
 */
import { MigrationsError, UsageError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { parseMigrationFiles } from './golang-migrate-files.js';
import { NIL_VERSION, golangMigrateNative, resolveSchema } from './golang-migrate-native.js';
import { linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';

const name = 'golang-migrate';
const defaultTable = 'schema_migrations';
const tableShape = 'schema_migrations(version bigint not null primary key, dirty boolean not null)';

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
    native: golangMigrateNative,
    history: { read: readMigrations, about: { files: '`N_name.up.sql` / `.down.sql`', revision: '`N` without leading zeros', head: 'the highest N' } },
    dirty: { repair: dirtyRepair, namesDownFile },
  },
};
