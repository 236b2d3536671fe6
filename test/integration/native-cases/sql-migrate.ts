/**
 * sql-migrate's conformance case: four files in its format, migrated up by Debian's sql-migrate
 * where it is installed (`up -limit N`), else with gorp's own statements (the table's DDL as
 * CreateTablesIfNotExists writes it, each Up in a transaction with its insert), and gorp_migrations
 * read in the tool's byId order.
 */
import pg from 'pg';
import type { MigrationFile } from '../../../src/core/ports.js';
import { parseSqlMigrateFile, sqlMigrateNative } from '../../../src/tools/sql-migrate-native.js';
import { compareSqlMigrateIds } from '../../../src/tools/sql-migrate.js';
import { sqlMigrateCli, sqlMigrateInstalled, writeMigrations } from '../../harness/migration-clis.js';
import type { ConformanceCase } from './types.js';

const versions = [1, 2, 3, 4].map((n) => `${n}_create_t_${n}.sql`);

function files(options: { failingDownOf?: string } = {}): MigrationFile[] {
  return versions.map((name, i) => {
    const failing = options.failingDownOf === name ? `DO $$ BEGIN RAISE EXCEPTION 'down of ${name} fails'; END $$;\n` : '';
    return { name, body: `-- +migrate Up\nCREATE TABLE t_${i + 1} (id int);\n\n-- +migrate Down\nDROP TABLE t_${i + 1};\n${failing}` };
  });
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** What sql-migrate up does without the CLI: gorp's DDL, then each Up and its insert in one transaction. */
async function upWithGorpStatements(url: string, wanted: MigrationFile[]): Promise<void> {
  await withClient(url, async (client) => {
    await client.query('create table if not exists "gorp_migrations" ("id" text not null primary key, "applied_at" timestamp with time zone) ;');
    for (const file of wanted) {
      await client.query('BEGIN');
      for (const statement of parseSqlMigrateFile(file.body).up) await client.query(statement);
      await client.query('insert into "gorp_migrations" ("id","applied_at") values ($1,$2);', [file.name, new Date()]);
      await client.query('COMMIT');
    }
  });
}

export const sqlMigrateCase: ConformanceCase = {
  tool: 'sql-migrate',
  driver: sqlMigrateNative,
  table: 'gorp_migrations',
  files,
  versions,
  async migrateUp(url, migrationFiles, version) {
    const ordered = [...migrationFiles].sort((a, b) => compareSqlMigrateIds(a.name, b.name));
    const count = ordered.findIndex((f) => f.name === version) + 1;
    if (count === 0) throw new Error(`no sql-migrate file ${version}`);
    if (sqlMigrateInstalled()) await sqlMigrateCli(url, writeMigrations(migrationFiles)).up(count);
    else await upWithGorpStatements(url, ordered.slice(0, count));
  },
  async readRows(url) {
    const ids = await withClient(url, async (client) => (await client.query<{ id: string }>('SELECT id FROM "gorp_migrations"')).rows.map((r) => r.id));
    return ids.sort(compareSqlMigrateIds).map((id) => ({ id }));
  },
  rowsAt(version) {
    return version === null ? [] : versions.slice(0, versions.indexOf(version) + 1).map((id) => ({ id }));
  },
  marksDirty: false,
};

export default sqlMigrateCase;
