/**
 * The heads annotate finds, and the version tables the tool modules read, cross-checked with the real
 * tools: alembic (`alembic heads`, `alembic show LABEL@head`; Debian python3-alembic), dbmate (npm
 * `dbmate`, its own binary) and sql-migrate (Debian `sql-migrate`) migrating real PostgreSQL; goose
 * and node-pg-migrate read from tables made with their own DDL. A missing tool skips its checks with
 * the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { findHead } from '../../src/core/migrations.js';
import type { DatabaseSession, MigrationTool } from '../../src/core/ports.js';
import { alembic } from '../../src/tools/alembic.js';
import { dbmate } from '../../src/tools/dbmate.js';
import { goose } from '../../src/tools/goose.js';
import { nodePgMigrate } from '../../src/tools/node-pg-migrate.js';
import { sqlMigrate } from '../../src/tools/sql-migrate.js';
import { makeTempDir, repoRoot, run } from '../harness/plugin.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const fixtures = path.join(repoRoot, 'test', 'fixtures');
const SYSTEM_PYTHON = process.env['HSR_SYSTEM_PYTHON'] ?? '/usr/bin/python3';
const DBMATE = path.join(repoRoot, 'node_modules', '.bin', 'dbmate');
const connector = createPostgresConnector();

const files = (dir: string) => readdirSync(dir).map((name) => ({ name, body: readFileSync(path.join(dir, name), 'utf8') }));
const headOf = (tool: MigrationTool, dir: string, branch?: string) => findHead(tool, { origin: dir, history: tool.offers.history!.read(files(dir)) }, branch);
const works = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

async function ok(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, { env: { ...process.env, ...env }, timeoutMs: 60_000 });
  assert.equal(r.exitCode, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

describe('heads and version tables cross-checked with the real tools', function () {
  this.timeout(120_000);

  describe('alembic heads (no database)', function () {
    before(function () {
      if (!works(SYSTEM_PYTHON, ['-c', 'import alembic'])) {
        console.log(`      (skipped: no alembic for ${SYSTEM_PYTHON}; apt-get install python3-alembic)`);
        this.skip();
      }
    });
    const alembicCli = (fixture: string, ...args: string[]) => ok(SYSTEM_PYTHON, ['-m', 'alembic', '-c', path.join(fixtures, fixture, 'alembic.ini'), ...args]);

    // The e2e images' real alembic projects too (12-hex ids, the LlamaCloud-like fixture).
    for (const fixture of ['alembic', 'alembic-graph', 'images/llamacloud-0.1.47', 'images/llamacloud-0.1.48']) {
      it(`${fixture}: the heads, and each label's head, are alembic's`, async () => {
        const versions = path.join(fixtures, fixture, 'versions');
        const history = alembic.offers.history!.read(files(versions));
        const printed = (await alembicCli(fixture, 'heads')).trim().split('\n');
        const theirs = printed.map((l) => l.split(' ')[0]!).sort();
        assert.deepEqual(history.heads, theirs);
        // What discovery reads from `alembic heads` run in an image (branch labels and all).
        assert.deepEqual(alembic.offers.image!.heads!.parse([...printed, 'a line that is not a head']).sort(), theirs);
        for (const label of Object.keys(history.branches)) {
          const shown = await run(SYSTEM_PYTHON, ['-m', 'alembic', '-c', path.join(fixtures, fixture, 'alembic.ini'), 'show', `${label}@head`]);
          let ours: string | undefined;
          try {
            ours = headOf(alembic, versions, label);
          } catch {
            ours = undefined;
          }
          if (shown.exitCode === 0) assert.equal(ours, /^Rev: (\S+)/m.exec(shown.stdout)?.[1], `${label}@head`);
          else {
            assert.match(shown.stdout + shown.stderr, /Multiple head revisions/);
            assert.equal(ours, undefined, `alembic finds several heads for ${label}@head, annotate must refuse too`);
          }
        }
      });
    }
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      let session: DatabaseSession;
      before(async () => {
        await startServers([major]);
      });
      beforeEach(async () => {
        db = await freshDatabase(major);
        session = await connector.connect(db.url);
      });
      afterEach(async () => {
        await session.close();
        await db.drop();
      });

      it('dbmate: after up and after rollback, the table reads as dbmate status says, and the head is its last migration', async function () {
        if (!works(DBMATE, ['--version'])) {
          console.log('      (skipped: no dbmate binary; npm install)');
          return this.skip();
        }
        const dir = path.join(fixtures, 'dbmate');
        const url = `${db.url}?sslmode=disable`;
        const env = { DATABASE_URL: url, DBMATE_MIGRATIONS_DIR: dir, DBMATE_NO_DUMP_SCHEMA: 'true' };
        await ok(DBMATE, ['up'], env);
        const status = await ok(DBMATE, ['status'], env);
        const applied = [...status.matchAll(/^\[X\] (\d+)_/gm)].map((m) => m[1]!);
        const head = headOf(dbmate, dir);
        assert.equal(head, '20240301120000');
        assert.equal(applied.at(-1), head);
        assert.deepEqual((await dbmate.readState(session, { table: dbmate.defaultTable })).revisions, [head]);
        await ok(DBMATE, ['rollback'], env);
        const after = [...(await ok(DBMATE, ['status'], env)).matchAll(/^\[X\] (\d+)_/gm)].map((m) => m[1]!);
        assert.deepEqual((await dbmate.readState(session, { table: dbmate.defaultTable })).revisions, [after.at(-1)]);
        assert.equal(after.at(-1), '20240215093000');
      });

      it('sql-migrate: after up and after down, the table reads as sql-migrate status says; ids order as Migration.Less', async function () {
        if (!works('sql-migrate', ['--help']) && !works('which', ['sql-migrate'])) {
          console.log('      (skipped: no sql-migrate; apt-get install sql-migrate)');
          return this.skip();
        }
        const dir = path.join(fixtures, 'sql-migrate');
        const u = new URL(db.url);
        const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
        const datasource = `host=${u.hostname} port=${u.port} dbname=${db.name} user=${decodeURIComponent(u.username)} password=${quote(decodeURIComponent(u.password))} sslmode=disable`;
        const config = path.join(makeTempDir('hsr-sql-migrate-'), 'dbconfig.yml');
        writeFileSync(config, `test:\n  dialect: postgres\n  datasource: ${JSON.stringify(datasource)}\n  dir: ${JSON.stringify(dir)}\n`);
        const cli = (...args: string[]) => ok('sql-migrate', [...args, `-config=${config}`, '-env=test']);
        await cli('up');
        const appliedIds = (text: string) => [...text.matchAll(/^\|\s*(\S+\.sql)\s*\|\s*([^|]+?)\s*\|/gm)].filter((m) => m[2] !== 'no').map((m) => m[1]!);
        const status = await cli('status');
        const head = headOf(sqlMigrate, dir);
        assert.equal(head, 'add_notes.sql');
        assert.deepEqual(appliedIds(status), sqlMigrate.offers.history!.read(files(dir)).revisions, 'status lists the migrations in our order');
        assert.deepEqual((await sqlMigrate.readState(session, { table: sqlMigrate.defaultTable })).revisions, [head]);
        await cli('down', '-limit=2');
        const after = appliedIds(await cli('status'));
        assert.deepEqual(after, ['1_create_users.sql', '2_users_name.sql']);
        assert.deepEqual((await sqlMigrate.readState(session, { table: sqlMigrate.defaultTable })).revisions, ['2_users_name.sql']);
      });

      it('goose: reads goose_db_version as made by goose (identity DDL, version 0 row, legacy is_applied=false rows)', async () => {
        await session.query(`CREATE TABLE goose_db_version (id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NOT NULL DEFAULT now())`);
        await session.query('INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true)');
        assert.deepEqual(await goose.readState(session, { table: 'goose_db_version' }), { tableExists: true, revisions: [], dirty: false, applied: [] });
        await session.query('INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, true), (20240101120000, true)');
        assert.deepEqual((await goose.readState(session, { table: 'goose_db_version' })).revisions, ['20240101120000']);
        // goose <= 2.4.3 recorded a down by inserting (version, false).
        await session.query('INSERT INTO goose_db_version (version_id, is_applied) VALUES (20240101120000, false)');
        assert.deepEqual((await goose.readState(session, { table: 'goose_db_version' })).revisions, ['1']);
        assert.deepEqual(await goose.readState(session, { table: 'nope' }), { tableExists: false, revisions: [], dirty: false });
      });

      it('node-pg-migrate: reads the last run of pgmigrations as made by the tool', async () => {
        await session.query('CREATE TABLE "public"."pgmigrations" (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)');
        assert.deepEqual((await nodePgMigrate.readState(session, { table: 'pgmigrations' })).revisions, []);
        await session.query(`INSERT INTO pgmigrations (name, run_on) VALUES ('1700000000000_init', now() - interval '1 day'), ('1700000000001_tags', now())`);
        assert.deepEqual((await nodePgMigrate.readState(session, { table: 'pgmigrations', schema: 'public' })).revisions, ['1700000000001_tags']);
        await assert.rejects(dbmate.readState(session, { table: 'pgmigrations' }), /does not look like a dbmate version table/);
      });
    });
  }
});
