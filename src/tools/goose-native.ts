/**
 * goose's native driver: the plugin runs a goose migrations directory's Down sections itself, with
 * goose's own bookkeeping, exactly as `goose down-to V` does (pressly/goose v3: migrate.go
 * collectMigrationsFS, down.go DownTo, migration.go run, migration_sql.go runSQLMigration,
 * internal/dialect/dialectquery/postgres.go, lock/). Reference: shared/reference/migration-tools.md §2.
 *
 * - Files: every `*.sql` must be named `<int64 > 0>_<anything>.sql` (goose fails the whole directory
 *   otherwise: "could not parse SQL migration file"); `*.go` files with a version are Go migrations;
 *   a version twice is goose's "duplicate version" panic. Other names are skipped.
 * - down-to V: while goose's current version (its newest applied row by id) is above V, run its
 *   Down and DELETE its rows. So: every version above V, newest first; the version-0 row stays.
 * - One down: by default one transaction holding the Down statements (each its own query, split by
 *   goose's parser) and `DELETE FROM <table> WHERE version_id=$1`; with `-- +goose NO TRANSACTION`
 *   each statement commits on its own, then the DELETE. No Down section: nothing runs, the row
 *   still goes (goose logs "EMPTY").
 * - Refused, with a pointer to the job runner: Go migrations (only the app's own binary has their
 *   code) and Down lines that `-- +goose ENVSUB ON` would fill from goose's environment.
 * - The table is never altered: both goose layouts (id serial before v3.22, identity since) read alike.
 */
import { MigrationsError, RefusedError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, NativeDown, NativeDriver, NativeTable, NativeUp, SqlClient, VersionTableRef } from '../core/ports.js';
import { runUpStatements } from './native-ups.js';
import { GooseParseError, parseGooseSql } from './goose-sql.js';
import { runSqlFileStep, tableMismatch } from './sql-file-steps.js';
import { qualifiedName, quoteIdent, quoteLiteral } from './sql.js';

const INT64_MAX = 9223372036854775807n;
const JOB_RUNNER = 'use --runner job: the app image runs goose (or its own binary, which embeds its migrations) with everything goose needs';

/**
 * The advisory locks an app embedding goose takes when it passes lock.NewPostgresSessionLocker()
 * to goose.NewProvider (goose's CLI takes none): pg_try_advisory_lock(lock.DefaultLockID). goose has
 * shipped two default keys: crc32("goose") today, crc64-ECMA("goose") in earlier v3 releases.
 */
export const GOOSE_LOCKS: NativeTable['locks'] = [
  { key: '4097083626', what: "goose's session locker (lock.DefaultLockID, crc32 of \"goose\")" },
  { key: '5887940537704921958', what: "goose's session locker in earlier v3 releases (crc64 of \"goose\")" },
];

/** A goose down as planned: NativeDown plus the statements goose's parser split it into. */
export interface GooseDown extends NativeDown {
  statements: readonly string[];
}

interface GooseFile {
  version: bigint;
  file: MigrationFile;
  kind: 'sql' | 'go';
}

/** collectMigrationsFS: the directory's migrations by version, ascending; names goose skips apart. */
export function collectGooseFiles(files: readonly MigrationFile[]): { migrations: GooseFile[]; ignored: string[] } {
  const byVersion = new Map<bigint, GooseFile>();
  const ignored: string[] = [];
  for (const file of files) {
    const kind = file.name.endsWith('.sql') ? 'sql' : file.name.endsWith('.go') && !file.name.endsWith('_test.go') ? 'go' : undefined;
    const version = kind === undefined ? undefined : numericComponent(file.name);
    if (kind === undefined || version === undefined) {
      if (kind === 'sql') {
        throw new MigrationsError(`could not parse SQL migration file "${file.name}": goose needs <version>_<name>.sql with a version between 1 and ${INT64_MAX}`, {
          hint: 'goose refuses the whole directory for this file: rename it, or move it out of the migrations directory',
        });
      }
      ignored.push(file.name); // goose skips .go files without a version, _test.go files and anything else
      continue;
    }
    const other = byVersion.get(version);
    if (other !== undefined) {
      throw new MigrationsError(`goose: duplicate version ${version} detected: ${other.file.name} and ${file.name}`, { hint: 'goose refuses this directory too; renumber one of them' });
    }
    byVersion.set(version, { version, file, kind });
  }
  const migrations = [...byVersion.values()].sort((a, b) => (a.version < b.version ? -1 : 1));
  return { migrations, ignored: ignored.sort() };
}

/** NumericComponent: strconv.ParseInt of the text before the first "_", which must be > 0. */
function numericComponent(name: string): bigint | undefined {
  const idx = name.indexOf('_');
  const digits = idx < 0 ? '' : name.slice(0, idx);
  if (!/^[+-]?[0-9]+$/.test(digits)) return undefined;
  const n = BigInt(digits);
  return n < 1n || n > INT64_MAX ? undefined : n;
}

const canonical = (v: string | null): bigint => (v === null ? 0n : BigInt(v));

function planDowns(files: readonly MigrationFile[], current: string | null, target: string | null): { downs: GooseDown[]; ignored: string[] } {
  const { migrations, ignored } = collectGooseFiles(files);
  const [cur, tgt] = [canonical(current), canonical(target)];
  if (cur === tgt) return { downs: [], ignored };
  if (tgt > cur) throw new RefusedError([`goose version ${tgt} is newer than the database's ${cur}: that is an upgrade, not a rollback`]);
  const known = migrations.length === 0 ? 'none' : `${migrations[0]!.version}..${migrations.at(-1)!.version} (${migrations.length} versions)`;
  if (!migrations.some((m) => m.version === cur)) {
    throw new RefusedError(
      [`database version ${cur} has no file among these goose migrations (goose: "migration file not found for current version (${cur})"); known: ${known}`],
      'the database is ahead of these files, or they are not the ones that migrated it: give the migrations of the release that is running now (--source)',
    );
  }
  if (tgt !== 0n && !migrations.some((m) => m.version === tgt)) {
    throw new RefusedError(
      [`target version ${tgt} is not among these goose migrations (known: ${known}); goose down-to would stop at the next lower version, not at ${tgt}`],
      "check the target chart version's revision for this track, or give the migrations that contain it (--source)",
    );
  }
  const reverted = migrations.filter((m) => m.version > tgt && m.version <= cur).reverse();
  const problems: string[] = [];
  const downs = reverted.map((m): GooseDown => {
    const below = migrations.filter((o) => o.version < m.version).at(-1);
    const step = { from: m.version.toString(), to: below === undefined ? null : below.version.toString(), file: m.file.name };
    if (m.kind === 'go') {
      problems.push(`${m.file.name} is a Go migration: only a binary that registers it (goose.AddMigrationContext) can run its down`);
      return { ...step, sql: '', transactional: true, statements: [] };
    }
    const parsed = parseDown(m.file);
    if (parsed.substituted.length > 0) {
      problems.push(`${m.file.name}: its Down uses -- +goose ENVSUB ON with variables goose fills from its own environment (${parsed.substituted[0]!.trim()})`);
    }
    // No Down section at all: goose deletes the row running nothing, like golang-migrate's missing
    // down file, so the runner refuses it the same way unless --allow-missing-downs. An explicit,
    // empty Down section is a choice the author made and runs as written.
    if (!DOWN_ANNOTATION.test(m.file.body)) {
      const { file: _file, ...withoutFile } = step;
      return { ...withoutFile, expectedFile: `-- +goose Down section in ${m.file.name}`, sql: '', transactional: parsed.useTx, statements: [] };
    }
    return { ...step, sql: parsed.statements.join('\n'), transactional: parsed.useTx, statements: parsed.statements };
  });
  if (problems.length > 0) throw new RefusedError(problems, JOB_RUNNER);
  return { downs, ignored };
}

/** goose's annotation line for the Down section (parser.go: `-- +goose Down`, any case). */
const DOWN_ANNOTATION = /^--\s*\+goose\s+down\b/im;

function parseDown(file: MigrationFile) {
  try {
    return parseGooseSql(file.body, 'down');
  } catch (err) {
    if (!(err instanceof GooseParseError)) throw err;
    throw new MigrationsError(`${file.name}: ${err.message}`, { hint: 'goose cannot run this file either: fix its annotations' });
  }
}

/**
 * goose puts the table name into its SQL as given, so an unqualified name resolves through the
 * session's search_path: to the schema that holds it, else (goose would create it) current_schema().
 */
async function open(db: SqlClient, ref: VersionTableRef): Promise<NativeTable> {
  if (ref.schema !== undefined) return { schema: ref.schema, table: ref.table, locks: GOOSE_LOCKS };
  const { rows } = await db.query<{ schema: string | null }>(
    `SELECT COALESCE((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)), current_schema()) AS schema`,
    [quoteIdent(ref.table)],
  );
  const schema = rows[0]?.schema;
  if (schema === null || schema === undefined) {
    throw new VersionTableError(`cannot locate goose table ${ref.table}: it is not on the search_path and the search_path names no existing schema`, {
      hint: "name the track's schema explicitly, or fix the search_path of the user in the database URL",
    });
  }
  return { schema, table: ref.table, locks: GOOSE_LOCKS };
}

async function runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  const statements = (down as Partial<GooseDown>).statements;
  if (statements === undefined) throw new Error(`goose down of ${down.from}: runDown needs the NativeDown planDowns returned (its statements)`);
  const name = qualifiedName(table);
  await runSqlFileStep(db, {
    from: down.from,
    statements,
    transactional: down.transactional,
    bookkeeping: `DELETE FROM ${name} WHERE version_id=${quoteLiteral(down.from)}`,
    check: async (session) => {
      // The newest rows decide (currentVersion stops at the first applied version it meets): a
      // few are read, the whole table only when they do not settle it (legacy (version, false)
      // rows). Reading it all for every step made 1,000 downs read 500,000 rows.
      const newest = (limit?: number) =>
        session.query<{ version_id: string; is_applied: boolean }>(`SELECT version_id::text AS version_id, is_applied FROM ${name} ORDER BY id DESC${limit === undefined ? '' : ` LIMIT ${limit}`}`);
      let { rows } = await newest(NEWEST_ROWS);
      const whole = rows.length < NEWEST_ROWS;
      let now = currentVersion(rows, whole);
      let next = currentVersion(rows.filter((r) => r.version_id !== down.from), whole);
      if (now === undefined || next === undefined) {
        ({ rows } = await newest());
        now = currentVersion(rows)!;
        next = currentVersion(rows.filter((r) => r.version_id !== down.from))!;
      }
      if (now !== down.from || next !== (down.to ?? '0')) {
        throw tableMismatch(
          down.from,
          now === '0' ? null : now,
          `goose table ${table.schema}.${table.table} is at ${now} with ${next} below it; the plan reverts ${down.from} to ${down.to ?? '0'} ` +
            '(rows applied out of order, or a version without a file): plan again, or roll back with goose itself',
        );
      }
    },
  });
}

/** How many of the newest rows a down's check reads first. */
const NEWEST_ROWS = 16;

/**
 * EnsureDBVersion: rows newest first (id DESC); the first version whose newest row is applied; '0'
 * when none. Given only the newest rows (`whole` false), undefined when they do not settle it.
 */
export function currentVersion(rows: ReadonlyArray<{ version_id: string; is_applied: boolean }>, whole = true): string | undefined {
  const skipped = new Set<string>();
  for (const row of rows) {
    if (skipped.has(row.version_id)) continue;
    if (row.is_applied) return row.version_id;
    skipped.add(row.version_id);
  }
  return whole ? '0' : undefined;
}

/** goose's CREATE TABLE for PostgreSQL: identity since v3.22.0 (PR #694), serial before. */
export const GOOSE_TABLE_DDL = {
  identity: (t: string) => `CREATE TABLE ${t} (
    id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp NOT NULL DEFAULT now()
  )`,
  serial: (t: string) => `CREATE TABLE ${t} (
    id serial NOT NULL,
    version_id bigint NOT NULL,
    is_applied boolean NOT NULL,
    tstamp timestamp NULL default now(),
    PRIMARY KEY(id)
  )`,
} as const;

/** `goose up-to V`: the SQL migrations after `current` up to `target`, their Up statements as goose's parser splits them. */
function planUps(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[] {
  const [after, last] = [canonical(current), BigInt(target)];
  return collectGooseFiles(files).migrations
    .filter((m) => m.version > after && m.version <= last)
    .map((m) => {
      if (m.kind === 'go') throw new RefusedError([`${m.file.name} is a Go migration: only a binary that registers it can run its up`], JOB_RUNNER);
      const { statements, useTx } = parseGooseSql(m.file.body, 'up');
      return { version: m.version.toString(), file: m.file.name, statements, transactional: useTx };
    });
}

/**
 * migrate.go createVersionTable (the table and its version-0 row in one transaction) when the table
 * is missing, then runSQLMigration: the statements and INSERT (version_id, is_applied) VALUES ($1, true).
 */
async function runUp(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void> {
  const name = qualifiedName(table);
  const { rows } = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
  if (!rows[0]?.t) {
    await db.query('BEGIN');
    await db.query(GOOSE_TABLE_DDL.identity(name));
    await db.query(`INSERT INTO ${name} (version_id, is_applied) VALUES ($1, $2)`, [0, true]);
    await db.query('COMMIT');
  }
  await runUpStatements(db, up, { text: `INSERT INTO ${name} (version_id, is_applied) VALUES ($1, $2)`, params: [up.version, true] });
}

export const gooseNative: NativeDriver = { planDowns, open, runDown, planUps, runUp };
