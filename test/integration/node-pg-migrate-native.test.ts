/**
 * node-pg-migrate's native driver on every tested PostgreSQL major, against the real CLI (npm
 * node-pg-migrate 9): the tool migrates up, the driver rolls back to a target, and then the tool
 * agrees (`up --dry-run` lists exactly the reverted migrations: it has no status command), its own
 * `down N` from the same start leaves the same rows and schema, and its `up` re-applies cleanly to
 * the schema from before. Also its advisory lock, as the CLI takes it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { NativeStepError } from '../../src/core/errors.js';
import type { DatabaseSession, MigrationFile, VersionTableRef } from '../../src/core/ports.js';
import { nodePgMigrateNative } from '../../src/tools/node-pg-migrate-native.js';
import { repoRoot } from '../harness/binaries.js';
import { nodePgMigrateCli, schemaSnapshot, writeMigrations } from '../harness/migration-clis.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();
const fixture = path.join(repoRoot, 'test', 'fixtures', 'node-pg-migrate');
const fixtureFiles = (): MigrationFile[] => readdirSync(fixture).map((name) => ({ name, body: readFileSync(path.join(fixture, name), 'utf8') }));
const withFile = (files: MigrationFile[], name: string, body: string) => files.map((f) => (f.name === name ? { name, body } : f));
const ALL = ['1_create-users', '2_users-name', '10_tags', '20240101000000000_notes'];
const TABLE: VersionTableRef = { table: 'pgmigrations' };

describe('node-pg-migrate native driver against real PostgreSQL and the real node-pg-migrate', function () {
  this.timeout(120_000);
  before(async () => {
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

      /** The driver from `current` to `target`, as the native runner drives it. Returns the error of a failed down. */
      async function rollBack(url: string, files: MigrationFile[], current: string, target: string | null, ref: VersionTableRef = TABLE) {
        const session = await connect(url);
        const table = await nodePgMigrateNative.open(session, ref);
        for (const down of nodePgMigrateNative.planDowns(files, current, target).downs) {
          try {
            await nodePgMigrateNative.runDown(session, table, down);
          } catch (err) {
            return err as NativeStepError;
          }
        }
        return undefined;
      }

      /** The rows as the tool reads them (getRunMigrations: ORDER BY run_on, id). */
      const runNames = async (url: string, ref = '"public"."pgmigrations"') =>
        (await (await connect(url)).query<{ name: string }>(`SELECT name FROM ${ref} ORDER BY run_on, id`)).rows.map((r) => r.name);

      /** The same rollback by the driver and by the tool's own `down N` (with `toolFlags`), from the same start. */
      async function sameAsTheTool(files: MigrationFile[], target: string | null, toolFlags: string[] = []) {
        const dir = writeMigrations(files);
        const [ours, theirs] = [await fresh(), await fresh()];
        const [oursCli, theirsCli] = [nodePgMigrateCli(ours.url, dir), nodePgMigrateCli(theirs.url, dir)];
        await oursCli.up();
        await theirsCli.up();
        const before = await schemaSnapshot(ours.url);
        const error = await rollBack(ours.url, files, ALL.at(-1)!, target);
        const steps = ALL.length - (target === null ? 0 : ALL.indexOf(target) + 1);
        const toolRun = await theirsCli.call('down', String(steps), ...toolFlags);
        return { ours, oursCli, theirs, theirsCli, before, error, toolRun };
      }

      it('rolls back to a target as `node-pg-migrate down N` does; up --dry-run lists the reverted ones; up re-applies to the same schema', async () => {
        const { ours, oursCli, theirs, before, error, toolRun } = await sameAsTheTool(fixtureFiles(), '2_users-name');
        assert.equal(error, undefined);
        assert.equal(toolRun.exitCode, 0, toolRun.output);
        assert.deepEqual(await runNames(ours.url), ['1_create-users', '2_users-name']);
        assert.deepEqual(await runNames(ours.url), await runNames(theirs.url));
        assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url), 'the schema after the driver / after the tool');
        assert.deepEqual(await oursCli.pending(), ['10_tags', '20240101000000000_notes']);
        await oursCli.up();
        assert.deepEqual(await oursCli.pending(), []);
        assert.deepEqual(await schemaSnapshot(ours.url), before, 'the schema after up again is the schema before the rollback');
      });

      it('rolls back to base, leaving the empty table as the tool does', async () => {
        const { ours, oursCli, theirs, error, toolRun } = await sameAsTheTool(fixtureFiles(), null);
        assert.equal(error, undefined);
        assert.equal(toolRun.exitCode, 0, toolRun.output);
        assert.deepEqual(await runNames(ours.url), []);
        assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url));
        assert.deepEqual(await oursCli.pending(), ALL);
      });

      it('a failing down leaves the earlier downs done and its own undone, as `down N --no-single-transaction` does (the default single transaction would undo all)', async () => {
        const files = withFile(fixtureFiles(), '10_tags.sql', `${readFileSync(path.join(fixture, '10_tags.sql'), 'utf8')};\nDO $$ BEGIN RAISE EXCEPTION 'down of 10 fails'; END $$;\n`);
        const perMigration = await sameAsTheTool(files, '1_create-users', ['--no-single-transaction']);
        const { ours, theirs, error, toolRun } = perMigration;
        assert.notEqual(toolRun.exitCode, 0);
        assert.match(toolRun.output, /down of 10 fails/);
        assert.ok(error instanceof NativeStepError);
        assert.deepEqual([error.revision, error.schema, error.table], ['10_tags', 'from', { version: '10_tags', dirty: false }]);
        assert.deepEqual(await runNames(ours.url), ['1_create-users', '2_users-name', '10_tags']);
        assert.deepEqual(await runNames(ours.url), await runNames(theirs.url));
        assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url));

        // What the plugin does not mirror, and why (README, native runner): the default `down N` is one
        // transaction, so its failure also undoes the notes down that had finished.
        const single = await fresh();
        const cli = nodePgMigrateCli(single.url, writeMigrations(files));
        await cli.up();
        assert.notEqual((await cli.call('down', '3')).exitCode, 0);
        assert.deepEqual(await runNames(single.url), ALL);
      });

      it("takes the tool's lock: while a session holds the key open() names, the CLI refuses to run", async () => {
        const db = await fresh();
        const cli = nodePgMigrateCli(db.url, writeMigrations(fixtureFiles()));
        const holder = await connect(db.url);
        const table = await nodePgMigrateNative.open(holder, TABLE);
        assert.equal(table.locks.length, 1);
        await holder.query('SELECT pg_advisory_lock($1::bigint)', [table.locks[0]!.key]);
        const refused = await cli.call('up');
        assert.notEqual(refused.exitCode, 0);
        assert.match(refused.output, /Another migration is already running/);
        await holder.query('SELECT pg_advisory_unlock($1::bigint)', [table.locks[0]!.key]);
        await cli.up();
        assert.deepEqual(await runNames(db.url), ALL);
      });

      it('uses --migrations-schema and --migrations-table as the tool does', async () => {
        const db = await fresh();
        await (await connect(db.url)).query('CREATE SCHEMA app');
        const cli = nodePgMigrateCli(db.url, writeMigrations(fixtureFiles()), { schema: 'app', table: 'app_migrations' });
        await cli.up();
        const error = await rollBack(db.url, fixtureFiles(), ALL.at(-1)!, '1_create-users', { schema: 'app', table: 'app_migrations' });
        assert.equal(error, undefined);
        assert.deepEqual(await runNames(db.url, 'app.app_migrations'), ['1_create-users']);
        assert.deepEqual(await cli.pending(), ALL.slice(1));
      });

      it('refuses a down that is not the last run (the tool reverts by run order), changing nothing', async () => {
        const db = await fresh();
        const cli = nodePgMigrateCli(db.url, writeMigrations(fixtureFiles()));
        await cli.up();
        const session = await connect(db.url);
        const table = await nodePgMigrateNative.open(session, TABLE);
        const stale = nodePgMigrateNative.planDowns(fixtureFiles(), '10_tags', null).downs[0]!;
        const before = await schemaSnapshot(db.url);
        await assert.rejects(nodePgMigrateNative.runDown(session, table, stale), (err: unknown) => {
          assert.ok(err instanceof NativeStepError);
          assert.deepEqual([err.schema, err.table.version], ['from', '20240101000000000_notes']);
          assert.match(err.message, /node-pg-migrate would now revert 20240101000000000_notes, not 10_tags/);
          return true;
        });
        assert.deepEqual(await schemaSnapshot(db.url), before);
        assert.deepEqual(await runNames(db.url), ALL);
      });
    });
  }
});
