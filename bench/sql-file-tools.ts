/**
 * The SQL-file migration tools as the benches need them, one entry each: a migrations directory of
 * N versions (each one small table), the database as the app leaves it after its ups (the version
 * table written with the tool's bookkeeping), and the floor of its downs: the down bodies with
 * exactly the tool's bookkeeping statements around them, for one psql session
 * (/work/shared/reference/migration-tools.md has each tool's statements).
 *
 * golang-migrate only today: the native runner refuses other tools until their drivers land
 * (goose, dbmate, sql-migrate, node-pg-migrate are being written). Adding one is one entry here.
 */
import { advisoryLockKey } from '../src/tools/golang-migrate-native.js';

/** Version v's table: what its up creates and its down drops. */
const table = (v: number) => `bench_${String(v).padStart(6, '0')}`;
const upBody = (v: number) => `CREATE TABLE ${table(v)} (id bigint PRIMARY KEY, note text);\n`;
const downBody = (v: number) => `DROP TABLE ${table(v)};\n`;

export interface SqlFileTool {
  /** The annotation's tool name. */
  tool: string;
  /** Its version table's default name (schema public). */
  versionTable: string;
  /** The migrations directory of the newer release (one track, `core`): versions 1..last, 1 without a down. */
  files(last: number): Array<{ name: string; body: string }>;
  /** SQL leaving the database as the app leaves it at `last`: the version table and each up with the tool's bookkeeping. */
  migrateUp(last: number): string;
  /** The floor: down bodies last..target+1 with exactly the tool's bookkeeping statements, in one session. */
  floor(last: number, target: number, database: string): string;
  /** The version table's rows after the downs, as the tool leaves them. */
  expected(target: number): unknown[];
}

export const golangMigrate: SqlFileTool = {
  tool: 'golang-migrate',
  versionTable: 'schema_migrations',
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
};

/** golang-migrate's SetVersion: TRUNCATE and INSERT in one transaction. */
function setVersion(t: string, v: number, dirty: boolean): string {
  return `BEGIN; TRUNCATE ${t}; INSERT INTO ${t} (version, dirty) VALUES (${v}, ${dirty}); COMMIT;`;
}

export const TOOLS: Record<string, SqlFileTool> = { 'golang-migrate': golangMigrate };

