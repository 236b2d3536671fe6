/**
 * sql-migrate's native driver: runs the down part of its migration files as the tool does
 * (rubenv/sql-migrate migrate.go applyMigrations and sqlparse/sqlparse.go; checked against
 * Debian's sql-migrate 0.0~git20191213 in test/integration/sql-migrate-native.test.ts):
 * - files: every `*.sql` of the directory (FileMigrationSource), ordered by Migration.Less (byId);
 *   every one is parsed, and one the tool cannot parse stops the tool before anything runs;
 * - `-- +migrate Up` / `-- +migrate Down` sections (several of each are allowed), statements split
 *   at a line whose last word ends with `;`, `StatementBegin`/`StatementEnd` around bodies with
 *   inner semicolons, `-- ` comment lines dropped, `notransaction` on the Down line;
 * - one down: BEGIN, each statement as its own Exec (its trailing newline, space and `;` trimmed),
 *   `delete from "gorp_migrations" where "id"=$1;` (gorp's Delete), COMMIT; with notransaction
 *   the same without BEGIN/COMMIT;
 * - `sql-migrate down -limit 1` reverts the last applied migration in byId order; the plugin
 *   repeats that down to the target, one transaction per migration as the tool runs them.
 * - no lock: neither the CLI nor the library takes one.
 * Reference: shared/reference/migration-tools.md §0, and the sources above.
 */
import { MigrationsError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, NativeDown, NativeDriver, NativeTable, NativeUp, SqlClient, VersionTableRef } from '../core/ports.js';
import { linearUps, runUpStatements } from './native-ups.js';
import { checkCurrent, linearDowns } from './native-downs.js';
import { runSqlFileStep } from './sql-file-steps.js';
import { compareSqlMigrateIds } from './sql-migrate.js';
import { qualifiedName, quoteIdent, quoteLiteral } from './sql.js';

const COMMAND_PREFIX = '-- +migrate ';
const NO_TRANSACTION = 'notransaction';

/** A migration file as sqlparse.ParseMigration reads it, plus the down sections' lines as written. */
export interface ParsedSqlMigrateFile {
  up: string[];
  down: string[];
  upNoTransaction: boolean;
  downNoTransaction: boolean;
  /** Every line of the Down sections (their marker lines left out), for the plan's reading and for runDown. */
  downText: string;
}

/** sqlparse's errors, in its words. */
const NO_TERMINATOR = "The last statement must be ended by a semicolon or '-- +migrate StatementEnd' marker.";

/** sqlparse.endsWithSemicolon: the last whitespace-separated word before a `--` word ends with `;`. */
export function endsWithSemicolon(line: string): boolean {
  let prev = '';
  for (const word of line.split(/\s+/).filter((w) => w !== '')) {
    if (word.startsWith('--')) break;
    prev = word;
  }
  return prev.endsWith(';');
}

/**
 * sqlparse.ParseMigration, line for line (LineSeparator unset, as the CLI leaves it). Throws an
 * Error with the tool's message when the tool would refuse the file.
 */
export function parseSqlMigrateFile(body: string): ParsedSqlMigrateFile {
  const parsed: ParsedSqlMigrateFile = { up: [], down: [], upNoTransaction: false, downNoTransaction: false, downText: '' };
  let buf = '';
  let statementEnded = false;
  let ignoreSemicolons = false;
  let direction: 'none' | 'up' | 'down' = 'none';
  const downLines: string[] = [];

  for (const line of scanLines(body)) {
    // Comments are dropped, except the tool's own `-- +` annotations.
    if (line.startsWith('-- ') && !line.startsWith('-- +')) {
      if (direction === 'down') downLines.push(line);
      continue;
    }
    let marker = false;
    if (line.startsWith(COMMAND_PREFIX)) {
      const fields = line.slice(COMMAND_PREFIX.length).split(/\s+/).filter((f) => f !== '');
      if (fields.length === 0) throw new Error('ERROR: incomplete migration command');
      const [command, ...options] = fields as [string, ...string[]];
      if (command === 'Up' || command === 'Down') {
        if (buf.trim() !== '') throw new Error(`ERROR: ${NO_TERMINATOR}`);
        direction = command === 'Up' ? 'up' : 'down';
        if (options.includes(NO_TRANSACTION)) {
          if (command === 'Up') parsed.upNoTransaction = true;
          else parsed.downNoTransaction = true;
        }
        marker = true;
      } else if (command === 'StatementBegin') {
        if (direction !== 'none') ignoreSemicolons = true;
      } else if (command === 'StatementEnd') {
        if (direction !== 'none') {
          statementEnded = ignoreSemicolons;
          ignoreSemicolons = false;
        }
      }
    }
    if (direction === 'none') continue;
    if (direction === 'down' && !marker) downLines.push(line);
    if (!line.startsWith('-- +')) buf += `${line}\n`;
    if ((!ignoreSemicolons && endsWithSemicolon(line)) || statementEnded) {
      statementEnded = false;
      (direction === 'up' ? parsed.up : parsed.down).push(buf);
      buf = '';
    }
  }
  if (ignoreSemicolons) throw new Error("ERROR: saw '-- +migrate StatementBegin' with no matching '-- +migrate StatementEnd'");
  if (direction === 'none') throw new Error('ERROR: no Up/Down annotations found, so no statements were executed.');
  // A section may end in comments only ("-- nothing to downgrade!").
  if (buf.trim() !== '' && !buf.startsWith('-- +')) throw new Error(`ERROR: ${NO_TERMINATOR}`);
  parsed.downText = downLines.length === 0 ? '' : `${downLines.join('\n')}\n`;
  return parsed;
}

/** bufio.Scanner with ScanLines: split at \n, a trailing \r dropped, no empty line after a final \n. */
function scanLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** applyMigrations trims each statement before Exec (for Oracle's sake; PostgreSQL does not mind). */
function trimStatement(statement: string): string {
  let s = statement;
  for (const suffix of ['\n', ' ', ';']) if (s.endsWith(suffix)) s = s.slice(0, -suffix.length);
  return s;
}

/** The statements runDown sends for a down, split again from the text planDowns gave (the same parser, the same result). */
export function downStatements(down: NativeDown): string[] {
  const header = `${COMMAND_PREFIX}Down${down.transactional ? '' : ` ${NO_TRANSACTION}`}`;
  return parseSqlMigrateFile(`${header}\n${down.sql}`).down.map(trimStatement);
}

function planDowns(files: readonly MigrationFile[], current: string | null, target: string | null): { downs: NativeDown[]; ignored: string[] } {
  const ignored = files.filter((f) => !f.name.endsWith('.sql')).map((f) => f.name);
  const parsed = new Map<string, ParsedSqlMigrateFile>();
  for (const file of files.filter((f) => f.name.endsWith('.sql'))) {
    try {
      parsed.set(file.name, parseSqlMigrateFile(file.body));
    } catch (err) {
      // FindMigrations parses every file first: the tool itself runs nothing while one is broken.
      throw new MigrationsError(`sql-migrate cannot parse ${file.name}: ${(err as Error).message}`, {
        hint: 'fix the file as sql-migrate requires (sql-migrate up/down fail on it too): end each statement with ";" or wrap it in -- +migrate StatementBegin / StatementEnd',
      });
    }
  }
  const ids = [...parsed.keys()].sort(compareSqlMigrateIds);
  const steps = linearDowns(ids, current, target, {
    tool: 'sql-migrate',
    currentUnknown: (id) => `sql-migrate: Unable to create migration plan because of ${id}: unknown migration in database (no file ${id} among the migrations)`,
  });
  const downs = steps.map(({ from, to }): NativeDown => {
    const file = parsed.get(from)!;
    return { from, to, file: from, sql: file.downText, transactional: !file.downNoTransaction };
  });
  return { downs, ignored };
}

/**
 * Where the table is: the configured schema (dbconfig.yml `schema`), else where the session's
 * search_path finds the unqualified name, as the tool's unqualified queries do; a table that does
 * not exist is placed where CREATE would put it (current_schema()).
 */
async function open(db: SqlClient, ref: VersionTableRef): Promise<NativeTable> {
  if (ref.schema !== undefined) return { schema: ref.schema, table: ref.table, locks: [] };
  const { rows } = await db.query<{ schema: string | null }>(
    `SELECT COALESCE(
       (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)),
       current_schema()) AS schema`,
    [quoteIdent(ref.table)],
  );
  const schema = rows[0]?.schema;
  if (schema === null || schema === undefined) {
    throw new VersionTableError(`cannot locate sql-migrate table ${ref.table}: the search_path names no existing schema`, {
      hint: "name the track's schema (sql-migrate's dbconfig.yml `schema`), or fix the search_path of the user in the database URL",
    });
  }
  return { schema, table: ref.table, locks: [] };
}

/** The migration `sql-migrate down -limit 1` would revert now: the last applied id in byId order. */
async function lastApplied(db: SqlClient, table: NativeTable): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${qualifiedName(table)}`);
  const ids = rows.map((r) => r.id).sort(compareSqlMigrateIds);
  return ids[ids.length - 1] ?? null;
}

async function runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  await runSqlFileStep(db, {
    from: down.from,
    statements: downStatements(down),
    transactional: down.transactional,
    // gorp's Delete for MigrationRecord{Id}: `delete from <table> where "id"=$1;`
    bookkeeping: `delete from ${qualifiedName(table)} where "id"=${quoteLiteral(down.from)};`,
    check: async (session) => checkCurrent(down, await lastApplied(session, table), 'sql-migrate'),
  });
}

/** `sql-migrate up` to `target`: the files in byId order, their Up statements trimmed as applyMigrations trims them. */
function planUps(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[] {
  const sql = files.filter((f) => f.name.endsWith('.sql'));
  const byId = new Map(sql.map((f) => [f.name, f]));
  return linearUps([...byId.keys()].sort(compareSqlMigrateIds), current, target, 'sql-migrate').map((id) => {
    const parsed = parseSqlMigrateFile(byId.get(id)!.body);
    return { version: id, file: id, statements: parsed.up.map(trimStatement), transactional: !parsed.upNoTransaction };
  });
}

/** gorp's CreateTablesIfNotExists for MigrationRecord, then each Up with its insert. */
async function runUp(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void> {
  const name = qualifiedName(table);
  await db.query(`create table if not exists ${name} ("id" text not null primary key, "applied_at" timestamp with time zone) ;`);
  await runUpStatements(db, up, { text: `insert into ${name} ("id","applied_at") values ($1,$2);`, params: [up.version, new Date()] });
}

export const sqlMigrateNative: NativeDriver = { planDowns, open, runDown, planUps, runUp };
