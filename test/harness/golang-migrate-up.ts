/**
 * `migrate up` for tests: applies golang-migrate up files with the tool's bookkeeping
 * (SetVersion(v, dirty) → body → SetVersion(v, clean) per file, migrate.go runMigrations), so the
 * native runner starts from exactly what an app migrating on start leaves. Kept in test/: the
 * plugin itself never runs ups.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { SqlClient } from '../../src/core/ports.js';
import { parseMigrationFiles, type MigrationFiles } from '../../src/tools/golang-migrate-files.js';
import { makeTempDir } from './plugin.js';
import { query } from './postgres.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';
import { ensureVersionTable, resolveSchema, runMigrationBody, setVersion } from '../../src/tools/golang-migrate-native.js';

/** Reads one track directory of golang-migrate files. */
export function readTrack(dir: string): MigrationFiles {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => ({ name: e.name, body: readFileSync(path.join(dir, e.name), 'utf8') }));
  return parseMigrationFiles(files, `${dir}/`);
}

/** Applies the up files after the table's current version, up to and including `to` (all when omitted). */
export async function migrateUp(db: SqlClient, table: string, files: MigrationFiles, to?: string): Promise<void> {
  const ref = { schema: await resolveSchema(db, { table }), table };
  await ensureVersionTable(db, ref);
  const state = await golangMigrate.readState(db, ref);
  if (state.dirty) throw new Error(`${table} is dirty`);
  const current = state.revisions[0] === undefined ? -1n : BigInt(state.revisions[0]);
  const last = to === undefined ? undefined : BigInt(to);
  for (const migration of files.migrations) {
    const v = BigInt(migration.version);
    if (v <= current || (last !== undefined && v > last)) continue;
    await setVersion(db, ref, migration.version, true);
    if (migration.up !== undefined) await runMigrationBody(db, migration.up);
    await setVersion(db, ref, migration.version, false);
  }
}

/** The kagent fixture's migrations (test/fixtures/migrations/kagent: core 1..13, vector 1..3). */
export const KAGENT_SOURCE = path.join(import.meta.dirname, '..', 'fixtures', 'migrations', 'kagent');

/**
 * A copy of the kagent 0.9.0 down files with 000011's down broken (drops a table, then fails), as a
 * release could ship them; `failure` is the failing statement.
 */
export function brokenKagentSource(failure = 'SELECT 1 / 0;'): string {
  return kagentSourceWithDown('core/000011_agent_instance_tasks.down.sql', `DROP TABLE agent_instance_tasks;\n${failure}\n`);
}

/** A copy of the kagent 0.9.0 down files with one file (TRACK/NAME) replaced by `body`. */
export function kagentSourceWithDown(file: string, body: string): string {
  const dir = path.join(makeTempDir('hsr-broken-'), 'kagent');
  cpSync(KAGENT_SOURCE, dir, { recursive: true });
  writeFileSync(path.join(dir, file), body);
  return dir;
}

/** What the kagent controller of 0.9.0 leaves when it migrates on start (core 13, vector 3), plus user data. */
export async function migrateKagent09(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await migrateUp(client, 'schema_migrations', readTrack(path.join(KAGENT_SOURCE, 'core')));
    await migrateUp(client, 'vector_schema_migrations', readTrack(path.join(KAGENT_SOURCE, 'vector')));
    await client.query(`INSERT INTO agents (id, name) VALUES ('a1', 'helper'), ('a2', 'planner');
      INSERT INTO sessions (id, agent_id, user_id) VALUES ('s1', 'a1', 'u1'), ('s2', 'a2', 'u2');`);
  } finally {
    await client.end();
  }
}

/** The kagent tracks' golang-migrate tables: [core rows, vector rows]. */
export const kagentVersionRows = (url: string) =>
  Promise.all(['schema_migrations', 'vector_schema_migrations'].map((t) => query<{ version: string; dirty: boolean }>(url, `SELECT version, dirty FROM ${t}`)));
