/**
 * node-pg-migrate's conformance case: four SQL migrations in its format, migrated up by the npm
 * CLI (`node-pg-migrate up N`, which takes its lock and writes pgmigrations itself), and the table
 * read as the tool reads it (ORDER BY run_on, id; run_on and id left out).
 */
import pg from 'pg';
import type { MigrationFile } from '../../../src/core/ports.js';
import { nodePgMigrateNative } from '../../../src/tools/node-pg-migrate-native.js';
import { compareNodePgMigrateFiles } from '../../../src/tools/node-pg-migrate.js';
import { nodePgMigrateCli, writeMigrations } from '../../harness/migration-clis.js';
import type { ConformanceCase } from './types.js';

const versions = [1, 2, 3, 4].map((n) => `${n}_create-t-${n}`);

function files(options: { failingDownOf?: string } = {}): MigrationFile[] {
  return versions.map((name, i) => {
    const failing = options.failingDownOf === name ? `DO $$ BEGIN RAISE EXCEPTION 'down of ${name} fails'; END $$;\n` : '';
    return { name: `${name}.sql`, body: `-- Up Migration\nCREATE TABLE t_${i + 1} (id int);\n\n-- Down Migration\nDROP TABLE t_${i + 1};\n${failing}` };
  });
}

export const nodePgMigrateCase: ConformanceCase = {
  tool: 'node-pg-migrate',
  driver: nodePgMigrateNative,
  table: 'pgmigrations',
  files,
  versions,
  async migrateUp(url, migrationFiles, version) {
    const ordered = migrationFiles.map((f) => f.name).filter((n) => !n.startsWith('.')).sort(compareNodePgMigrateFiles);
    const count = ordered.findIndex((n) => n.replace(/\.[^.]*$/, '') === version) + 1;
    if (count === 0) throw new Error(`no node-pg-migrate file for ${version}`);
    await nodePgMigrateCli(url, writeMigrations(migrationFiles)).up(count);
  },
  async readRows(url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<{ name: string }>('SELECT name FROM "public"."pgmigrations" ORDER BY run_on, id')).rows.map((r) => ({ name: r.name }));
    } finally {
      await client.end();
    }
  },
  rowsAt(version) {
    return version === null ? [] : versions.slice(0, versions.indexOf(version) + 1).map((name) => ({ name }));
  },
  marksDirty: false,
};

export default nodePgMigrateCase;
