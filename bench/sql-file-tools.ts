/**
 * The SQL-file migration tools as the benches need them, one entry each: a migrations directory of
 * N versions (each one small table), the database as the app leaves it after its ups (the version
 * table written with the tool's bookkeeping), and the floor of its downs: the down bodies with
 * exactly the tool's bookkeeping statements around them, for one psql session
 * (/work/shared/reference/migration-tools.md has each tool's statements).
 *
 * golang-migrate, goose, dbmate, sql-migrate and node-pg-migrate: every SQL-file tool with a native
 * driver (their statements: migration-tools.md and each tool's source, cited at its entry).
 */
import { advisoryLockKey } from '../src/tools/golang-migrate-native.js';
// The tool module first: node-pg-migrate-native.ts and node-pg-migrate.ts import each other, and
// only the tool's module can be the first of the two to load (the driver's module, first, fails
// with "Cannot access 'nodePgMigrateNative' before initialization").
import '../src/tools/node-pg-migrate.js';
import { PG_MIGRATE_LOCK_ID } from '../src/tools/node-pg-migrate-native.js';

/** Version v's table: what its up creates and its down drops. */
const table = (v: number) => `bench_${String(v).padStart(6, '0')}`;
const upBody = (v: number) => `CREATE TABLE ${table(v)} (id bigint PRIMARY KEY, note text);\n`;
const downBody = (v: number) => `DROP TABLE ${table(v)};\n`;
/** Version v's number as the file names start with it (000042). */
const padded = (v: number) => String(v).padStart(6, '0');

export interface SqlFileTool {
  /** The annotation's tool name. */
  tool: string;
  /** Its version table's default name (schema public). */
  versionTable: string;
  /** Version v as the version table records it and the chart's track annotation names it. */
  revision(v: number): string;
  /** The migrations directory of the newer release (one track, `core`): versions 1..last, 1 without a down. */
  files(last: number): Array<{ name: string; body: string }>;
  /** SQL leaving the database as the app leaves it at `last`: the version table and each up with the tool's bookkeeping. */
  migrateUp(last: number): string;
  /** The floor: down bodies last..target+1 with exactly the tool's bookkeeping statements, in one session. */
  floor(last: number, target: number, database: string): string;
  /** The version table's rows after the downs, as the tool leaves them, as `state` reads them. */
  expected(target: number): unknown[];
  /** Reads the version table's rows (schema public), for `expected`. */
  state: string;
}

export const golangMigrate: SqlFileTool = {
  tool: 'golang-migrate',
  versionTable: 'schema_migrations',
  revision: (v) => String(v),
  files(last) {
    const out: Array<{ name: string; body: string }> = [];
    for (let v = 1; v <= last; v++) {
      const stem = `${String(v).padStart(6, '0')}_${table(v)}`;
      out.push({ name: `${stem}.up.sql`, body: upBody(v) });
      if (v > 1) out.push({ name: `${stem}.down.sql`, body: downBody(v) });
    }
    return out;
  },
  migrateUp(last) {
    const t = '"public"."schema_migrations"';
    const sql = [`CREATE TABLE IF NOT EXISTS ${t} (version bigint not null primary key, dirty boolean not null);`];
    for (let v = 1; v <= last; v++) sql.push(setVersion(t, v, true), upBody(v), setVersion(t, v, false));
    return sql.join('\n');
  },
  floor(last, target, database) {
    // migrate.go: lock, then per down step to prev: SetVersion(prev, dirty), body, SetVersion(prev, clean); unlock.
    const t = '"public"."schema_migrations"';
    const key = advisoryLockKey(database, 'public', 'schema_migrations');
    const sql = [`SELECT pg_advisory_lock(${key});`];
    for (let v = last; v > target; v--) sql.push(setVersion(t, v - 1, true), downBody(v), setVersion(t, v - 1, false));
    sql.push(`SELECT pg_advisory_unlock(${key});`);
    return sql.join('\n');
  },
  expected: (target) => [{ version: String(target), dirty: false }],
  state: 'SELECT version::text, dirty FROM "public"."schema_migrations"',
};

/** golang-migrate's SetVersion: TRUNCATE and INSERT in one transaction. */
function setVersion(t: string, v: number, dirty: boolean): string {
  return `BEGIN; TRUNCATE ${t}; INSERT INTO ${t} (version, dirty) VALUES (${v}, ${dirty}); COMMIT;`;
}

/**
 * goose (the CLI, v3): one file per version with both directions; `goose down-to V` runs each Down in
 * one transaction with `DELETE FROM goose_db_version WHERE version_id=$1`, newest first, no lock
 * (migration-tools.md §2). The table as goose ≥ v3.22 creates it, with its version-0 row.
 */
export const goose: SqlFileTool = {
  tool: 'goose',
  versionTable: 'goose_db_version',
  revision: (v) => String(v),
  files(last) {
    return Array.from({ length: last }, (_, i) => i + 1).map((v) => ({
      name: `${String(v).padStart(6, '0')}_${table(v)}.sql`,
      body: `-- +goose Up\n${upBody(v)}-- +goose Down\n${downBody(v)}`,
    }));
  },
  migrateUp(last) {
    const t = '"public"."goose_db_version"';
    const sql = [
      `CREATE TABLE ${t} (id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NOT NULL DEFAULT now());`,
      `INSERT INTO ${t} (version_id, is_applied) VALUES (0, true);`,
    ];
    for (let v = 1; v <= last; v++) sql.push(`BEGIN; ${upBody(v).trim()} INSERT INTO ${t} (version_id, is_applied) VALUES (${v}, true); COMMIT;`);
    return sql.join('\n');
  },
  floor(last, target) {
    const t = '"public"."goose_db_version"';
    const sql: string[] = [];
    for (let v = last; v > target; v--) sql.push(`BEGIN; ${downBody(v).trim()} DELETE FROM ${t} WHERE version_id=${v}; COMMIT;`);
    return sql.join('\n');
  },
  expected: (target) => Array.from({ length: target + 1 }, (_, v) => ({ version: String(v), is_applied: true })),
  state: 'SELECT version_id::text AS version, is_applied FROM "public"."goose_db_version" ORDER BY id',
};

/**
 * dbmate (v2, pkg/dbmate/db.go Migrate/Rollback, pkg/driver/postgres): one file per version,
 * `DIGITS_name.sql` with a `-- migrate:up` and a `-- migrate:down` block; the version is the leading
 * digits as written. `dbmate rollback` reverts one file: its down block and `delete from
 * <schema>.<table> where version = $1` in one transaction; no lock (migration-tools.md §3). The
 * table-name lookups DeleteMigration runs before its delete (`select current_schema()`, `select
 * quote_ident(...)`) are not bookkeeping and are left out of the floor, which keeps it the cheaper.
 */
export const dbmate: SqlFileTool = {
  tool: 'dbmate',
  versionTable: 'schema_migrations',
  revision: padded,
  files(last) {
    return Array.from({ length: last }, (_, i) => i + 1).map((v) => ({
      name: `${padded(v)}_${table(v)}.sql`,
      body: `-- migrate:up\n${upBody(v)}\n-- migrate:down\n${downBody(v)}`,
    }));
  },
  migrateUp(last) {
    // CreateMigrationsTable as dbmate 2.36 writes it (varchar, no length: checked with the CLI), then per
    // file: its up block and InsertMigration in one transaction.
    const t = 'public.schema_migrations';
    const sql = [`create table if not exists ${t} (version varchar primary key);`];
    for (let v = 1; v <= last; v++) sql.push(`BEGIN; ${upBody(v).trim()} insert into ${t} (version) values ('${padded(v)}'); COMMIT;`);
    return sql.join('\n');
  },
  floor(last, target) {
    const t = 'public.schema_migrations';
    const sql: string[] = [];
    for (let v = last; v > target; v--) sql.push(`BEGIN; ${downBody(v).trim()} delete from ${t} where version = '${padded(v)}'; COMMIT;`);
    return sql.join('\n');
  },
  expected: (target) => Array.from({ length: target }, (_, i) => ({ version: padded(i + 1) })),
  state: 'SELECT version FROM "public"."schema_migrations" ORDER BY version',
};

/**
 * sql-migrate (rubenv/sql-migrate migrate.go applyMigrations, gorp): one file per version with
 * `-- +migrate Up` / `-- +migrate Down` sections; a migration's id is its file name. `sql-migrate
 * down -limit N` reverts each migration in its own transaction: its Down statements, then gorp's
 * `delete from "gorp_migrations" where "id"=$1;` (the table unqualified, as the tool writes it); no
 * lock. The table as gorp's CreateTablesIfNotExists creates it for MigrationRecord (Debian's
 * sql-migrate: id and applied_at, no checksum column).
 */
export const sqlMigrate: SqlFileTool = {
  tool: 'sql-migrate',
  versionTable: 'gorp_migrations',
  revision: (v) => `${padded(v)}_${table(v)}.sql`,
  files(last) {
    return Array.from({ length: last }, (_, i) => i + 1).map((v) => ({
      name: sqlMigrate.revision(v),
      body: `-- +migrate Up\n${upBody(v)}\n-- +migrate Down\n${downBody(v)}`,
    }));
  },
  migrateUp(last) {
    const t = '"gorp_migrations"';
    const sql = [`create table if not exists ${t} ("id" text not null primary key, "applied_at" timestamp with time zone) ;`];
    for (let v = 1; v <= last; v++) sql.push(`BEGIN; ${upBody(v).trim()} insert into ${t} ("id","applied_at") values ('${sqlMigrate.revision(v)}', now()); COMMIT;`);
    return sql.join('\n');
  },
  floor(last, target) {
    const sql: string[] = [];
    for (let v = last; v > target; v--) sql.push(`BEGIN; ${downBody(v).trim()} delete from "gorp_migrations" where "id"='${sqlMigrate.revision(v)}'; COMMIT;`);
    return sql.join('\n');
  },
  expected: (target) => Array.from({ length: target }, (_, i) => ({ id: sqlMigrate.revision(i + 1) })),
  state: 'SELECT id FROM "public"."gorp_migrations" ORDER BY id',
};

/**
 * node-pg-migrate 9 (src/runner.ts, src/migration.ts, src/sqlMigration.ts), SQL migrations: one
 * `.sql` file per version with `-- Up Migration` / `-- Down Migration`; a migration is named by its
 * file name without the extension. `node-pg-migrate down N` as the CLI runs it by default: its lock
 * (`SELECT pg_try_advisory_lock(7241865325823964)`), then all N downs in ONE transaction
 * (single-transaction, the default), each its down SQL and `DELETE FROM "public"."pgmigrations"
 * WHERE name='<name>';`, then the unlock (migration-tools.md §5). The plugin commits each down on
 * its own (as `--no-single-transaction` does): this floor is the cheaper of the two.
 */
export const nodePgMigrate: SqlFileTool = {
  tool: 'node-pg-migrate',
  versionTable: 'pgmigrations',
  revision: (v) => `${padded(v)}_${table(v)}`,
  files(last) {
    return Array.from({ length: last }, (_, i) => i + 1).map((v) => ({
      name: `${nodePgMigrate.revision(v)}.sql`,
      body: `-- Up Migration\n${upBody(v)}\n-- Down Migration\n${downBody(v)}`,
    }));
  },
  migrateUp(last) {
    // ensureMigrationsTable, then `node-pg-migrate up`: every up and its markAsRun in one transaction.
    const t = '"public"."pgmigrations"';
    const sql = [`CREATE TABLE ${t} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);`, 'BEGIN;'];
    for (let v = 1; v <= last; v++) sql.push(`${upBody(v).trim()} INSERT INTO ${t} (name, run_on) VALUES ('${nodePgMigrate.revision(v)}', NOW());`);
    sql.push('COMMIT;');
    return sql.join('\n');
  },
  floor(last, target) {
    const t = '"public"."pgmigrations"';
    const sql = [`SELECT pg_try_advisory_lock(${PG_MIGRATE_LOCK_ID}) AS "lockObtained";`, 'BEGIN;'];
    for (let v = last; v > target; v--) sql.push(`${downBody(v).trim()} DELETE FROM ${t} WHERE name='${nodePgMigrate.revision(v)}';`);
    sql.push('COMMIT;', `SELECT pg_advisory_unlock(${PG_MIGRATE_LOCK_ID}) AS "lockReleased";`);
    return sql.join('\n');
  },
  expected: (target) => Array.from({ length: target }, (_, i) => ({ name: nodePgMigrate.revision(i + 1) })),
  state: 'SELECT name FROM "public"."pgmigrations" ORDER BY run_on, id',
};

export const TOOLS: Record<string, SqlFileTool> = { 'golang-migrate': golangMigrate, goose, dbmate, 'sql-migrate': sqlMigrate, 'node-pg-migrate': nodePgMigrate };

