/**
 * golang-migrate's conformance case: four versions numbered as `migrate create -seq` names them,
 * migrated up with the tool's own bookkeeping (the database/postgres driver's statements, as the
 * app that migrates on start runs them; no migrate CLI installs here).
 */
import pg from 'pg';
import type { MigrationFile } from '../../../src/core/ports.js';
import { parseMigrationFiles } from '../../../src/tools/golang-migrate-files.js';
import { golangMigrateNative, resolveSchema, setVersion } from '../../../src/tools/golang-migrate-native.js';
import { migrateUp } from '../../harness/golang-migrate-up.js';
import { query } from '../../harness/postgres.js';
import type { ConformanceCase } from './types.js';

const TABLE = 'schema_migrations';
const versions = ['1', '2', '3', '4'];

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export const golangMigrateCase: ConformanceCase = {
  tool: 'golang-migrate',
  driver: golangMigrateNative,
  table: TABLE,
  files({ failingDownOf } = {}): MigrationFile[] {
    return versions.flatMap((v, i) => {
      const name = `${v.padStart(6, '0')}_t_${i + 1}`;
      const down = v === failingDownOf
        ? `DROP TABLE t_${i + 1};\nDO $$ BEGIN RAISE EXCEPTION 'the down of ${v} fails on purpose'; END $$;\n`
        : `DROP TABLE t_${i + 1};\n`;
      return [
        { name: `${name}.up.sql`, body: `CREATE TABLE t_${i + 1} (id int PRIMARY KEY, note text);\n` },
        { name: `${name}.down.sql`, body: down },
      ];
    });
  },
  versions,
  async migrateUp(url, files, version) {
    await withClient(url, (client) => migrateUp(client, TABLE, parseMigrationFiles(files, 'golang-migrate case/'), version));
  },
  async readRows(url) {
    return query<{ version: string; dirty: boolean }>(url, `SELECT version::text AS version, dirty FROM ${TABLE}`);
  },
  rowsAt: (version) => (version === null ? [] : [{ version, dirty: false }]),
  marksDirty: true,
  /** `migrate force V`: SetVersion(V, clean), nothing run. */
  async force(url, version) {
    await withClient(url, async (client) => setVersion(client, { schema: await resolveSchema(client, { table: TABLE }), table: TABLE }, version, false));
  },
};
