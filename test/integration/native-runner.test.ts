/**
 * The native runner's own work against real PostgreSQL, apart from any one tool (the conformance
 * suite covers each driver): advisory lock keys over the whole bigint range, as drivers name them
 * (node-pg-migrate's 7241865325823964 is above 2^32; a key may be negative), each held by another
 * session → LockedError naming that session, nothing changed.
 */
import assert from 'node:assert/strict';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { LockedError } from '../../src/core/errors.js';
import type { NativeDriver } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { golangMigrateCase as c } from './native-cases/golang-migrate.js';

const connector = createPostgresConnector();
const KEYS = ['7241865325823964', '-9223372036854775808', '42'];

/** golang-migrate's driver naming other keys: what the runner does with keys is the same for every tool. */
const withKeys: NativeDriver = {
  ...c.driver,
  async open(db, ref) {
    const table = await c.driver.open(db, ref);
    return { ...table, locks: KEYS.map((key) => ({ key, what: `the lock ${key}` })) };
  },
};

describe('native runner against real PostgreSQL: bigint lock keys', function () {
  this.timeout(60_000);
  const majors = testedMajors().slice(0, 1);
  before(async () => {
    await startServers(majors);
  });

  for (const major of majors) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      beforeEach(async () => {
        db = await freshDatabase(major);
        await c.migrateUp(db.url, c.files(), '4');
      });
      afterEach(async () => {
        await db.drop();
      });

      const run = () =>
        createNativeRunner({ connector, loadSource: async () => ({ origin: 'case/', files: c.files() }), driverFor: () => withKeys, lockTimeoutMs: 200 }).run(
          { track: 'main', tool: c.tool, table: { table: c.table }, current: ['4'], target: '2', revisions: ['4', '3'] },
          { databaseUrl: db.url, log: { debug: () => undefined }, onOutput: () => undefined },
        );

      for (const key of KEYS) {
        it(`gives up on key ${key} held by another session, naming that session; nothing changed`, async () => {
          const other = await connector.connect(db.url);
          try {
            const [{ pid }] = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_advisory_lock($1::bigint)', [key])).rows as [{ pid: number }];
            await assert.rejects(run(), (err: unknown) =>
              err instanceof LockedError && err.message.includes(`pg_advisory_lock(${key})`) && err.message.includes(`held by session pid ${pid}`));
          } finally {
            await other.close();
          }
          assert.deepEqual(await c.readRows(db.url), c.rowsAt('4'));
        });
      }

      it('takes them all and runs the downs when none is held', async () => {
        await run();
        assert.deepEqual(await c.readRows(db.url), c.rowsAt('2'));
      });
    });
  }
});
