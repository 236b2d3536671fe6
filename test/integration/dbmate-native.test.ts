/**
 * dbmate's native driver against real PostgreSQL, every tested major, proved against the real dbmate
 * CLI (npm `dbmate`): `dbmate up`, the driver rolls back to a target, `dbmate status` agrees,
 * `dbmate up` re-applies cleanly and the schema (tables, columns, indexes) is the one before the
 * rollback. The driver is called directly (open, planDowns, runDown), as the native runner will.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { NativeStepError } from '../../src/core/errors.js';
import type { MigrationFile, NativeTable } from '../../src/core/ports.js';
import { dbmateNative } from '../../src/tools/dbmate-native.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { DBMATE, dbmateCase, dbmateCli, dbmateStatus } from './native-cases/dbmate.js';

const table = 'schema_migrations';
const [v1, v2, v3, v4] = dbmateCase.versions as [string, string, string, string];

/** The schema as the catalogs describe it: every table's columns and every index, in the user's schemas. */
async function schemaOf(url: string) {
  const columns = await query<Record<string, unknown>>(url, `SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
    WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, column_name`);
  const indexes = await query<Record<string, unknown>>(url, "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3");
  return { columns, indexes };
}

async function rollBack(url: string, files: MigrationFile[], current: string, target: string | null, ref: { table: string; schema?: string } = { table }) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const opened: NativeTable = await dbmateNative.open(client, ref);
    for (const down of dbmateNative.planDowns(files, current, target).downs) await dbmateNative.runDown(client, opened, down);
    return opened;
  } finally {
    await client.end();
  }
}

/** The case's files plus one whose index must be built and dropped outside a transaction. */
const withConcurrentIndex = (): MigrationFile[] => [
  ...dbmateCase.files(),
  {
    name: '20240101000005_note_index.sql',
    body: '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_4_note ON t_4 (note);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY t_4_note;\n',
  },
];

describe('dbmate native driver (PostgreSQL, checked with the dbmate CLI)', function () {
  this.timeout(120_000);
  before(function () {
    if (spawnSync(DBMATE, ['--version'], { stdio: 'ignore' }).status !== 0) {
      console.log('      (skipped: no dbmate binary in node_modules/.bin; npm install)');
      this.skip();
    }
  });
  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      before(() => startServers([major]));
      beforeEach(async () => {
        db = await freshDatabase(major);
      });
      afterEach(() => db.drop());

      it('dbmate up → rollback to the 2nd → dbmate status agrees → dbmate up re-applies → the same schema as before', async () => {
        const files = withConcurrentIndex();
        await dbmateCli(db.url, files, 'up');
        await query(db.url, "INSERT INTO t_1 VALUES (1, 'kept')");
        const before = await schemaOf(db.url);
        assert.equal(before.indexes.filter((i) => i['indexname'] === 't_4_note').length, 1);

        const opened = await rollBack(db.url, files, '20240101000005', v2);
        assert.deepEqual(opened, { schema: 'public', table, locks: [] });
        assert.deepEqual(await dbmateStatus(db.url, files), { applied: 2, pending: 3 });
        assert.deepEqual(await dbmateCase.readRows(db.url), dbmateCase.rowsAt(v2));
        assert.deepEqual((await schemaOf(db.url)).indexes.map((i) => i['indexname']), ['schema_migrations_pkey', 't_1_pkey', 't_2_pkey']);

        await dbmateCli(db.url, files, 'up');
        assert.deepEqual(await dbmateStatus(db.url, files), { applied: 5, pending: 0 });
        assert.deepEqual(await schemaOf(db.url), before);
        assert.deepEqual(await query(db.url, 'SELECT id, note FROM t_1'), [{ id: 1, note: 'kept' }]);
      });

      it('down to nothing: dbmate status shows every migration pending; its table stays, empty', async () => {
        const files = dbmateCase.files();
        await dbmateCase.migrateUp(db.url, files, v4);
        await rollBack(db.url, files, v4, null);
        assert.deepEqual(await dbmateStatus(db.url, files), { applied: 0, pending: 4 });
        assert.deepEqual(await dbmateCase.readRows(db.url), []);
        assert.deepEqual((await schemaOf(db.url)).columns.map((c) => c['table_name']), [table]);
      });

      it('a failing down rolls back with its delete: dbmate still lists it applied, its table is still there', async () => {
        const files = dbmateCase.files({ failingDownOf: v3 });
        await dbmateCase.migrateUp(db.url, files, v4);
        await assert.rejects(rollBack(db.url, files, v4, v1), (err: unknown) => {
          assert.ok(err instanceof NativeStepError);
          assert.deepEqual([err.revision, err.table, err.schema], [v3, { version: v3, dirty: false }, 'from']);
          return true;
        });
        assert.deepEqual(await dbmateStatus(db.url, files), { applied: 3, pending: 1 });
        assert.ok((await schemaOf(db.url)).columns.some((c) => c['table_name'] === 't_3'));
      });

      it('refuses, changing nothing, a version dbmate would orphan (applied, no file here)', async () => {
        const files = dbmateCase.files();
        await dbmateCase.migrateUp(db.url, files, v4);
        // Applied by a release whose file this directory lacks, sorting between v3 and v4.
        await query(db.url, `INSERT INTO ${table} (version) VALUES ('20240101000003999')`);
        await assert.rejects(rollBack(db.url, files, v4, v2), (err: unknown) => err instanceof NativeStepError && err.schema === 'from' && /holds 20240101000004 then 20240101000003999/.test(err.message));
        assert.deepEqual((await dbmateCase.readRows(db.url)).length, 5);
        assert.ok((await schemaOf(db.url)).columns.some((c) => c['table_name'] === 't_4'));
      });

      it("uses the session's current_schema() for an unqualified table (dbmate's fallback), a schema given as is", async () => {
        await query(db.url, `CREATE SCHEMA app; ALTER DATABASE "${db.name}" SET search_path = app, public`);
        const files = dbmateCase.files();
        await dbmateCase.migrateUp(db.url, files, v2);
        assert.deepEqual(await query(db.url, "SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 'schema_migrations'"), [{ s: 'app' }]);
        const opened = await rollBack(db.url, files, v2, v1);
        assert.equal(opened.schema, 'app');
        assert.deepEqual(await dbmateStatus(db.url, files), { applied: 1, pending: 3 });
      });
    });
  }
});
