/**
 * goose's native driver against real PostgreSQL, every tested major, called directly (open,
 * planDowns, runDown): the table migrated up with goose's own bookkeeping (test/harness/goose-up.ts,
 * both of goose's table layouts), then rolled back, then the rows, the schema and the failure modes
 * checked against what goose's source says it leaves.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { NativeStepError } from '../../src/core/errors.js';
import type { MigrationFile, NativeTable } from '../../src/core/ports.js';
import { gooseNative } from '../../src/tools/goose-native.js';
import { gooseUp } from '../harness/goose-up.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { gooseCase } from './native-cases/goose.js';

const table = 'goose_db_version';
const tables = (url: string) => query<{ t: string }>(url, "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_name LIKE 't\\_%' ORDER BY 1").then((r) => r.map((x) => x.t));

/** Plans current → target from the files and runs each down on one session, as the native runner will. */
async function rollBack(url: string, files: MigrationFile[], current: string, target: string | null, ref: { table: string; schema?: string } = { table }) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const opened: NativeTable = await gooseNative.open(client, ref);
    for (const down of gooseNative.planDowns(files, current, target).downs) await gooseNative.runDown(client, opened, down);
    return opened;
  } finally {
    await client.end();
  }
}

describe('goose native driver (PostgreSQL)', function () {
  this.timeout(60_000);
  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      before(() => startServers([major]));
      beforeEach(async () => {
        db = await freshDatabase(major);
      });
      afterEach(() => db.drop());

      for (const layout of ['identity', 'serial'] as const) {
        it(`down-to 2 from 4 (${layout} table): 4 and 3 reverted newest first, their rows deleted, the version-0 row and the table's layout kept`, async () => {
          const files = gooseCase.files();
          await gooseUp(db.url, files, '4', { layout });
          const columns = () => query(db.url, `SELECT column_name, data_type, column_default, is_identity FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`);
          const before = await columns();
          const opened = await rollBack(db.url, files, '4', '2');
          assert.deepEqual(opened, {
            schema: 'public',
            table,
            locks: [
              { key: '4097083626', what: "goose's session locker (lock.DefaultLockID, crc32 of \"goose\")" },
              { key: '5887940537704921958', what: "goose's session locker in earlier v3 releases (crc64 of \"goose\")" },
            ],
          });
          assert.deepEqual(await gooseCase.readRows(db.url), gooseCase.rowsAt('2'));
          assert.deepEqual(await tables(db.url), ['public.t_1', 'public.t_2']);
          assert.deepEqual(await columns(), before);
        });
      }

      it('down to base: every version reverted, only goose\'s version-0 row stays', async () => {
        const files = gooseCase.files();
        await gooseUp(db.url, files, '4');
        await rollBack(db.url, files, '4', null);
        assert.deepEqual(await gooseCase.readRows(db.url), gooseCase.rowsAt(null));
        assert.deepEqual(await tables(db.url), []);
      });

      it('a failing down rolls its transaction back: the table still lists it, its table is still there, the earlier down stays done', async () => {
        const files = gooseCase.files({ failingDownOf: '3' });
        await gooseUp(db.url, files, '4');
        await assert.rejects(rollBack(db.url, files, '4', '2'), (err: unknown) => {
          assert.ok(err instanceof NativeStepError);
          assert.deepEqual([err.revision, err.table, err.schema], ['3', { version: '3', dirty: false }, 'from']);
          assert.match(err.message, /division by zero/);
          return true;
        });
        assert.deepEqual(await gooseCase.readRows(db.url), gooseCase.rowsAt('3'));
        assert.deepEqual(await tables(db.url), ['public.t_1', 'public.t_2', 'public.t_3']);
      });

      it('NO TRANSACTION: statements commit one by one (DROP INDEX CONCURRENTLY runs); a failure says how many ran and leaves the row', async () => {
        const files = [
          ...gooseCase.files().slice(0, 2),
          { name: '00003_index.sql', body: '-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY t_2_note ON t_2 (note);\n-- +goose Down\nDROP INDEX CONCURRENTLY t_2_note;\n' },
          { name: '00004_two.sql', body: '-- +goose Up\n-- +goose NO TRANSACTION\nCREATE TABLE t_4 (id int);\n-- +goose Down\nDROP TABLE t_4;\nSELECT 1 / 0;\n' },
        ];
        await gooseUp(db.url, files, '4');
        await assert.rejects(rollBack(db.url, files, '4', '3'), (err: unknown) => {
          assert.ok(err instanceof NativeStepError);
          assert.deepEqual([err.revision, err.table, err.schema, err.statementsRun], ['4', { version: '4', dirty: false }, 'partial', 1]);
          return true;
        });
        assert.deepEqual(await tables(db.url), ['public.t_1', 'public.t_2'], 't_4 was dropped by the statement that committed');
        assert.deepEqual((await gooseCase.readRows(db.url)).at(-1), { version_id: '4', is_applied: true });
        // goose's own repair is to make the down pass; here the row is removed by hand, then 3 rolls back outside a transaction.
        await query(db.url, `DELETE FROM ${table} WHERE version_id = 4`);
        await rollBack(db.url, files, '3', '2');
        assert.deepEqual(await query(db.url, "SELECT indexname FROM pg_indexes WHERE tablename = 't_2' AND indexname = 't_2_note'"), []);
        assert.deepEqual(await gooseCase.readRows(db.url), gooseCase.rowsAt('2'));
      });

      it('a version without a Down section runs nothing and its row still goes, as goose does', async () => {
        const files = [...gooseCase.files().slice(0, 2), { name: '00003_keep.sql', body: '-- +goose Up\nCREATE TABLE t_3 (id int);\n' }];
        await gooseUp(db.url, files, '3');
        await rollBack(db.url, files, '3', '2');
        assert.deepEqual(await gooseCase.readRows(db.url), gooseCase.rowsAt('2'));
        assert.deepEqual(await tables(db.url), ['public.t_1', 'public.t_2', 'public.t_3']);
      });

      it('finds an unqualified table through search_path, as goose does; a schema given is used as is', async () => {
        await query(db.url, `CREATE SCHEMA app; ALTER DATABASE "${db.name}" SET search_path = app, public`);
        const files = gooseCase.files();
        await gooseUp(db.url, files, '4');
        assert.deepEqual(await tables(db.url), ['app.t_1', 'app.t_2', 'app.t_3', 'app.t_4']);
        const opened = await rollBack(db.url, files, '4', '3');
        assert.equal(opened.schema, 'app');
        assert.deepEqual(await query(db.url, 'SELECT version_id::text AS v FROM app.goose_db_version ORDER BY id'), [{ v: '0' }, { v: '1' }, { v: '2' }, { v: '3' }]);
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          assert.equal((await gooseNative.open(client, { schema: 'elsewhere', table })).schema, 'elsewhere');
        } finally {
          await client.end();
        }
      });

      it('refuses, changing nothing, when the table is not where the plan says (rows applied out of order)', async () => {
        const files = gooseCase.files();
        await gooseUp(db.url, files, '4');
        // goose up -allow-missing: 2 re-applied last, so goose's current version is 2, not 4.
        await query(db.url, `DELETE FROM ${table} WHERE version_id = 2; INSERT INTO ${table} (version_id, is_applied) VALUES (2, true)`);
        await assert.rejects(rollBack(db.url, files, '4', '3'), (err: unknown) => err instanceof NativeStepError && err.schema === 'from' && err.table.version === '2' && /is at 2/.test(err.message));
        assert.deepEqual(await tables(db.url), ['public.t_1', 'public.t_2', 'public.t_3', 'public.t_4']);
      });
    });
  }
});
