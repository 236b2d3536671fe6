/**
 * `migrate up` for tests: applies golang-migrate up files with the tool's bookkeeping
 * (SetVersion(v, dirty) → body → SetVersion(v, clean) per file, migrate.go runMigrations), so the
 * native runner starts from exactly what an app migrating on start leaves. Kept in test/: the
 * plugin itself never runs ups.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SqlClient } from '../../src/core/ports.js';
import { parseMigrationFiles, type MigrationFiles } from '../../src/tools/golang-migrate-files.js';
import { ensureVersionTable, golangMigrate, resolveSchema, runMigrationBody, setVersion } from '../../src/tools/golang-migrate.js';

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
