/**
 * node-pg-migrate's native driver, for SQL migrations only, following node-pg-migrate 9
 * (src/runner.ts, src/migration.ts, src/sqlMigration.ts, src/migrationLoader.ts; checked against
 * the npm CLI in test/integration/node-pg-migrate-native.test.ts):
 * - files: every file of the directory not starting with a dot, ordered by compareMigrationFileNames
 *   (every name needs a numeric prefix, or the tool stops listing them); a migration is named by its
 *   file's base name without the extension (`1700000000000_add-tags`);
 * - `.sql` files (any case) load with the legacy SQL loader: the down part is the text from the
 *   `-- Down Migration` line (that line included) to the `-- Up Migration` line or the end; a file
 *   without one has its down disabled ("User has disabled down migration"). `.js`, `.ts`, `.cjs`,
 *   `.mjs`, `.cts`, `.mts` are code: refused here, they run only with the app's code (job runner);
 * - one down: `pgm.sql(downSql)` (a `;` appended when the text does not end with one), then
 *   `DELETE FROM "<schema>"."<table>" WHERE name='<name>';`, the schema being `--migrations-schema`,
 *   else the first `--schema`, else `public` (never the search_path);
 * - transactions: the tool runs all the downs of one `down N` in ONE transaction (single-transaction
 *   default). The plugin runs one transaction per migration, as `node-pg-migrate down` (N = 1)
 *   repeated, or `down N --no-single-transaction`, does: the native runner records each down as a
 *   step, stops between downs on an interrupt and reports the track at the last finished down, which
 *   a transaction spanning its calls would silently undo. A failing down therefore leaves the table
 *   at that down's revision (the earlier downs committed), exactly as the tool does in those modes.
 * - lock: `pg_try_advisory_lock(7241865325823964)` (PG_MIGRATE_LOCK_ID), held by every
 *   `node-pg-migrate up/down` and every app calling runner() for its whole run.
 * Reference: shared/reference/migration-tools.md §5.
 */
import { MigrationsError, RefusedError } from '../core/errors.js';
import type { MigrationFile, NativeDown, NativeDriver, NativeTable, NativeUp, SqlClient, VersionTableRef } from '../core/ports.js';
import { linearUps, runUpStatements } from './native-ups.js';
import { checkCurrent, linearDowns } from './native-downs.js';
import { runSqlFileStep } from './sql-file-steps.js';
import { compareNodePgMigrateFiles } from './node-pg-migrate.js';
import { qualifiedName, quoteLiteral } from './sql.js';

/** runner.ts PG_MIGRATE_LOCK_ID: "random but well-known identifier shared by all instances". */
export const PG_MIGRATE_LOCK_ID = '7241865325823964';

/** migrationLoader.ts getDefaultStrategies: the extensions loaded as code (jiti), not as SQL. */
const CODE_EXTENSIONS = ['.js', '.ts', '.cjs', '.mjs', '.cts', '.mts'];

/** sqlMigration.ts createMigrationCommentRegex. */
const markerRegex = (direction: 'up' | 'down') => new RegExp(`^\\s*--[\\s-]*${direction}\\s+migration`, 'im');

/** sqlMigration.ts getActions: the down SQL of a `.sql` migration, or undefined when its down is disabled. */
export function nodePgMigrateDownSql(content: string): string | undefined {
  const upStart = content.search(markerRegex('up'));
  const downStart = content.search(markerRegex('down'));
  if (downStart < 0) return undefined;
  return content.slice(downStart, upStart < downStart ? undefined : upStart);
}

/** path.extname, as the tool takes it for the migration's name and its loader. */
function extname(file: string): string {
  const dot = file.lastIndexOf('.');
  return dot <= 0 ? '' : file.slice(dot);
}

/** Migration's name: basename(path, extname(path)). */
export function migrationName(file: string): string {
  return file.slice(0, file.length - extname(file).length);
}

function planDowns(files: readonly MigrationFile[], current: string | null, target: string | null): { downs: NativeDown[]; ignored: string[] } {
  const ignored = files.filter((f) => f.name.startsWith('.')).map((f) => f.name);
  const used = files.filter((f) => !f.name.startsWith('.'));
  for (const f of used) {
    // getNumericPrefix throws while sorting: the tool lists no migration at all then.
    if (!/^\d/.test(f.name)) {
      throw new MigrationsError(`node-pg-migrate: Cannot determine numeric prefix for "${f.name}"`, {
        hint: 'node-pg-migrate reads every file of its migrations directory: move it out, or name it like the others (a number first)',
      });
    }
    // Any other extension goes to the code loader, which fails on it: the tool loads every file first.
    const ext = extname(f.name).toLowerCase();
    if (ext !== '.sql' && !CODE_EXTENSIONS.includes(ext)) {
      throw new MigrationsError(`node-pg-migrate cannot load ${f.name}: only .sql and JavaScript/TypeScript files are migrations`, {
        hint: 'move the file out of the migrations directory (node-pg-migrate itself fails to load it)',
      });
    }
  }
  const sorted = [...used].sort((a, b) => compareNodePgMigrateFiles(a.name, b.name));
  const byName = new Map<string, MigrationFile>();
  for (const f of sorted) {
    const name = migrationName(f.name);
    const other = byName.get(name);
    if (other !== undefined) {
      throw new MigrationsError(`node-pg-migrate: ${other.name} and ${f.name} are both migration ${name}`, {
        hint: 'keep one file per migration name: the tool records the name without its extension, so the two share one row',
      });
    }
    byName.set(name, f);
  }
  const steps = linearDowns([...byName.keys()], current, target, {
    tool: 'node-pg-migrate',
    currentUnknown: (name) => `node-pg-migrate: Definitions of migrations ${name} have been deleted.`,
  });
  const code = steps.map((s) => byName.get(s.from)!.name).filter((file) => CODE_EXTENSIONS.includes(extname(file).toLowerCase()));
  if (code.length > 0) {
    throw new RefusedError(
      [`node-pg-migrate: ${code.join(', ')} ${code.length === 1 ? 'is a JavaScript/TypeScript migration' : 'are JavaScript/TypeScript migrations'}; the native runner runs only SQL migrations`],
      "run this track with --runner job: a code migration's down runs only with the app's code (and its node_modules), in the app's image",
    );
  }
  const downs = steps.map(({ from, to }): NativeDown => {
    const file = byName.get(from)!;
    const sql = nodePgMigrateDownSql(file.body);
    if (sql === undefined) {
      throw new MigrationsError(`node-pg-migrate: User has disabled down migration on file: ${from} (${file.name} has no "-- Down Migration" section)`, {
        hint: 'add a "-- Down Migration" section to the file (node-pg-migrate down refuses it too), or roll this migration back by hand',
      });
    }
    return { from, to, file: file.name, sql, transactional: true };
  });
  return { downs, ignored };
}

/** getMigrationTableSchema: --migrations-schema, else the first --schema, else "public", whatever the search_path says. */
async function open(_db: SqlClient, ref: VersionTableRef): Promise<NativeTable> {
  return {
    schema: ref.schema ?? 'public',
    table: ref.table,
    locks: [{ key: PG_MIGRATE_LOCK_ID, what: `node-pg-migrate's migration lock (pg_try_advisory_lock(${PG_MIGRATE_LOCK_ID}), held by node-pg-migrate up/down and apps that migrate on start)` }],
  };
}

/** What `node-pg-migrate down` reverts now: the last run name (getRunMigrations: ORDER BY run_on, id). */
async function lastRun(db: SqlClient, table: NativeTable): Promise<string | null> {
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${qualifiedName(table)} ORDER BY run_on DESC, id DESC LIMIT 1`);
  return rows[0]?.name ?? null;
}

async function runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  // operations/sql.ts: a statement not ending with ";" gets one.
  const body = down.sql.endsWith(';') ? down.sql : `${down.sql};`;
  await runSqlFileStep(db, {
    from: down.from,
    statements: [body],
    transactional: down.transactional,
    // Migration._getMarkAsRun writes the name into the text ('${name}'); bound here, the same row for
    // every name the tool can write (one with a quote breaks the tool's statement, not this one).
    bookkeeping: `DELETE FROM ${qualifiedName(table)} WHERE name=${quoteLiteral(down.from)};`,
    check: async (session) => checkCurrent(down, await lastRun(session, table), 'node-pg-migrate'),
  });
}

/** sqlMigration.ts getActions: the up SQL of a `.sql` migration, from its up marker to its down marker (or the end). */
export function nodePgMigrateUpSql(content: string): string {
  const upStart = Math.max(0, content.search(markerRegex('up')));
  const downStart = content.search(markerRegex('down'));
  return content.slice(upStart, downStart > upStart ? downStart : undefined);
}

/** `node-pg-migrate up` to `target`: SQL migrations in the tool's order, each in its transaction. */
function planUps(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[] {
  const used = files.filter((f) => !f.name.startsWith('.')).sort((a, b) => compareNodePgMigrateFiles(a.name, b.name));
  const byName = new Map(used.map((f) => [migrationName(f.name), f]));
  return linearUps([...byName.keys()], current, target, 'node-pg-migrate').map((name) => {
    const file = byName.get(name)!;
    if (CODE_EXTENSIONS.includes(extname(file.name).toLowerCase())) throw new RefusedError([`node-pg-migrate: ${file.name} is a JavaScript/TypeScript migration; only SQL ups run here`]);
    const sql = nodePgMigrateUpSql(file.body);
    return { version: name, file: file.name, statements: [sql.trimEnd().endsWith(';') ? sql : `${sql};`], transactional: true };
  });
}

/** runner.ts ensureMigrationsTable (SERIAL id, name, run_on), then Migration's markAsRun. */
async function runUp(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void> {
  const name = qualifiedName(table);
  await db.query(`CREATE TABLE IF NOT EXISTS ${name} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`);
  await runUpStatements(db, up, { text: `INSERT INTO ${name} (name, run_on) VALUES ($1, NOW());`, params: [up.version] });
}

export const nodePgMigrateNative: NativeDriver = { planDowns, open, runDown, planUps, runUp };
