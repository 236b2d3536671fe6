/**
 * sql-migrate's native driver on every tested PostgreSQL major, against the real sql-migrate
 * (Debian's /usr/bin/sql-migrate; its checks skip with a message when it is absent): the tool
 * migrates up, the driver rolls back to a target, and then `sql-migrate status` agrees, the tool's
 * own `down -limit N` from the same start leaves the same rows and schema (also when a down fails,
 * in a transaction or not), and `sql-migrate up` re-applies cleanly to the schema from before.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { NativeStepError } from '../../src/core/errors.js';
import type { DatabaseSession, MigrationFile, NativeTable, VersionTableRef } from '../../src/core/ports.js';
import { sqlMigrateNative } from '../../src/tools/sql-migrate-native.js';
import { repoRoot } from '../harness/binaries.js';
import { schemaSnapshot, sqlMigrateCli, sqlMigrateInstalled, writeMigrations } from '../harness/migration-clis.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();
const fixture = path.join(repoRoot, 'test', 'fixtures', 'sql-migrate-native');
const fixtureFiles = (): MigrationFile[] => readdirSync(fixture).map((name) => ({ name, body: readFileSync(path.join(fixture, name), 'utf8') }));
const withFile = (files: MigrationFile[], name: string, body: string) => files.map((f) => (f.name === name ? { name, body } : f));
const ALL = ['1_create_users.sql', '2_users_name.sql', '3_tags.sql', '10_tags_label_index.sql', 'add_notes.sql'];

describe('sql-migrate native driver against real PostgreSQL and the real sql-migrate', function () {
  this.timeout(120_000);
  before(async function () {
    if (!sqlMigrateInstalled()) this.skip();
    await startServers(testedMajors());
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      const dbs: FreshDatabase[] = [];
      const sessions: DatabaseSession[] = [];
      const fresh = async () => {
        const db = await freshDatabase(major);
        dbs.push(db);
        return db;
      };
      const connect = async (url: string) => {
        const s = await connector.connect(url);
        sessions.push(s);
        return s;
      };
      afterEach(async () => {
        await Promise.all(sessions.splice(0).map((s) => s.close()));
        await Promise.all(dbs.splice(0).map((d) => d.drop()));
      });

      /** The driver from `current` to `target`, as the native runner drives it: open, then each down in order. Returns the error of a failed down. */
      async function rollBack(url: string, files: MigrationFile[], current: string, target: string | null, ref: VersionTableRef = { table: 'gorp_migrations' }) {
        const session = await connect(url);
        const table = await sqlMigrateNative.open(session, ref);
        for (const down of sqlMigrateNative.planDowns(files, current, target).downs) {
          try {
            await sqlMigrateNative.runDown(session, table, down);
          } catch (err) {
            return { table, error: err as NativeStepError };
          }
        }
        return { table, error: undefined };
      }

      /**
       * The same rollback twice from the same start: by the driver in one database, by the tool's own
       * `down -limit N` in another. Both must leave the same rows (status) and the same schema.
       */
      async function sameAsTheTool(files: MigrationFile[], target: string | null) {
        const dir = writeMigrations(files);
        const [ours, theirs] = [await fresh(), await fresh()];
        const [oursCli, theirsCli] = [sqlMigrateCli(ours.url, dir), sqlMigrateCli(theirs.url, dir)];
        await oursCli.up();
        await theirsCli.up();
        const before = await schemaSnapshot(ours.url);
        const { error } = await rollBack(ours.url, files, ALL.at(-1)!, target);
        const steps = ALL.length - (target === null ? 0 : ALL.indexOf(target) + 1);
        const toolRun = await theirsCli.down(steps);
        assert.deepEqual(await oursCli.applied(), await theirsCli.applied(), 'sql-migrate status after the driver / after the tool');
        assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url), 'the schema after the driver / after the tool');
        return { ours, oursCli, before, error, toolRun };
      }

      it('rolls back to a target as `sql-migrate down` does; status agrees; up re-applies to the same schema', async () => {
        const { ours, oursCli, before, error, toolRun } = await sameAsTheTool(fixtureFiles(), '2_users_name.sql');
        assert.equal(error, undefined);
        assert.equal(toolRun.exitCode, 0, toolRun.output);
        assert.deepEqual(await oursCli.applied(), ['1_create_users.sql', '2_users_name.sql']);
        const upAgain = await oursCli.up();
        assert.match(upAgain.stdout, /Applied 3 migrations/);
        assert.deepEqual(await schemaSnapshot(ours.url), before, 'the schema after up again is the schema before the rollback');
      });

      it('rolls back to base: the table stays, empty, as the tool leaves it', async () => {
        const { oursCli, error } = await sameAsTheTool(fixtureFiles(), null);
        assert.equal(error, undefined);
        assert.deepEqual(await oursCli.applied(), []);
      });

      it('a failing down in a transaction leaves its migration applied and its statements undone, as the tool does', async () => {
        const files = withFile(fixtureFiles(), '3_tags.sql', readFileSync(path.join(fixture, '3_tags.sql'), 'utf8') + "DO $$ BEGIN RAISE EXCEPTION 'down of 3 fails'; END $$;\n");
        const { ours, oursCli, error, toolRun } = await sameAsTheTool(files, '1_create_users.sql');
        assert.notEqual(toolRun.exitCode, 0);
        assert.match(toolRun.output, /down of 3 fails handling 3_tags\.sql/);
        assert.ok(error instanceof NativeStepError);
        assert.equal(error.revision, '3_tags.sql');
        assert.deepEqual(error.table, { version: '3_tags.sql', dirty: false });
        assert.equal(error.schema, 'from');
        assert.match(error.message, /down of 3 fails/);
        assert.deepEqual(await oursCli.applied(), ['1_create_users.sql', '2_users_name.sql', '3_tags.sql']);
        assert.ok((await schemaSnapshot(ours.url)).functions.some((f) => f.startsWith('public.tag_count(')), 'DROP FUNCTION was rolled back');
      });

      it('a failing notransaction down keeps what ran before the failure and the row, as the tool does', async () => {
        const body = '-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY tags_label ON tags (label);\n\n-- +migrate Down notransaction\nDROP INDEX CONCURRENTLY tags_label;\nDROP TABLE no_such_table;\n';
        const files = withFile(fixtureFiles(), '10_tags_label_index.sql', body);
        const { ours, oursCli, error, toolRun } = await sameAsTheTool(files, '3_tags.sql');
        assert.notEqual(toolRun.exitCode, 0);
        assert.ok(error instanceof NativeStepError);
        assert.deepEqual([error.revision, error.schema, error.statementsRun], ['10_tags_label_index.sql', 'partial', 1]);
        assert.deepEqual(error.table, { version: '10_tags_label_index.sql', dirty: false });
        assert.deepEqual((await oursCli.applied()).at(-1), '10_tags_label_index.sql');
        assert.ok(!(await schemaSnapshot(ours.url)).indexes.some((i) => / tags_label /.test(i)), 'the index dropped before the failure stays dropped');
      });

      it("uses the configured schema and table (dbconfig.yml's schema and table)", async () => {
        const db = await fresh();
        await (await connect(db.url)).query('CREATE SCHEMA app');
        const dir = writeMigrations(fixtureFiles());
        const cli = sqlMigrateCli(db.url, dir, { schema: 'app', table: 'app_migrations' });
        await cli.up();
        const { table, error } = await rollBack(db.url, fixtureFiles(), 'add_notes.sql', '3_tags.sql', { schema: 'app', table: 'app_migrations' });
        assert.equal(error, undefined);
        assert.deepEqual([table.schema, table.table, table.locks], ['app', 'app_migrations', []]);
        assert.deepEqual(await cli.applied(), ['1_create_users.sql', '2_users_name.sql', '3_tags.sql']);
      });

      it('finds the unqualified table where the search_path finds it, as the tool\'s queries do', async () => {
        const db = await fresh();
        const session = await connect(db.url);
        assert.equal((await sqlMigrateNative.open(session, { table: 'gorp_migrations' })).schema, 'public', 'missing: where CREATE would put it');
        await session.query('CREATE SCHEMA app; CREATE TABLE app.gorp_migrations (id text PRIMARY KEY, applied_at timestamptz)');
        assert.equal((await sqlMigrateNative.open(session, { table: 'gorp_migrations' })).schema, 'public');
        await session.query('SET search_path = app, public');
        assert.equal((await sqlMigrateNative.open(session, { table: 'gorp_migrations' })).schema, 'app');
      });

      it('refuses a down that is no longer the one the tool would revert, changing nothing', async () => {
        const db = await fresh();
        const cli = sqlMigrateCli(db.url, writeMigrations(fixtureFiles()));
        await cli.up();
        const session = await connect(db.url);
        const table: NativeTable = await sqlMigrateNative.open(session, { table: 'gorp_migrations' });
        const [first] = sqlMigrateNative.planDowns(fixtureFiles(), 'add_notes.sql', null).downs;
        const stale = sqlMigrateNative.planDowns(fixtureFiles(), '10_tags_label_index.sql', null).downs[0]!;
        const before = await schemaSnapshot(db.url);
        await assert.rejects(sqlMigrateNative.runDown(session, table, stale), (err: unknown) => {
          assert.ok(err instanceof NativeStepError);
          assert.deepEqual([err.schema, err.table.version], ['from', 'add_notes.sql']);
          assert.match(err.message, /sql-migrate would now revert add_notes\.sql, not 10_tags_label_index\.sql/);
          return true;
        });
        assert.deepEqual(await schemaSnapshot(db.url), before);
        await sqlMigrateNative.runDown(session, table, first!);
        assert.deepEqual((await cli.applied()).at(-1), '10_tags_label_index.sql');
      });
    });
  }
});
