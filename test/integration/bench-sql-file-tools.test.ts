/**
 * The native-downs bench's entries for dbmate, sql-migrate and node-pg-migrate (bench/sql-file-tools.ts)
 * against the real CLIs installed here (npm dbmate and node-pg-migrate, Debian's sql-migrate): the
 * database `migrateUp` leaves is the one the tool's own `up` leaves (every table's columns, keys and
 * indexes, and the version table's rows), the tool's status counts every version applied, and the
 * floor's SQL, run by psql as the bench runs it, leaves what the tool's own downs leave
 * (`expected`), which its status counts too. A bench whose set-up or floor drifted from the tool
 * would time something else than the tool's work.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MigrationFile } from '../../src/core/ports.js';
import { dbmate, nodePgMigrate, sqlMigrate, type SqlFileTool } from '../../bench/sql-file-tools.js';
import { makeTempDir } from '../harness/plugin.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { nodePgMigrateCli, schemaSnapshot, sqlMigrateCli, sqlMigrateInstalled, writeMigrations } from '../harness/migration-clis.js';
import { run } from '../harness/run.js';
import { dbmateCli, dbmateStatus } from './native-cases/dbmate.js';

/** Versions 1..LAST; the downs go back to TARGET. */
const LAST = 5;
const TARGET = 1;

/** The tool's own CLI: migrate every file up, count the applied versions, revert `n` of them. */
interface ToolCli {
  installed(): boolean;
  up(url: string, files: MigrationFile[]): Promise<void>;
  applied(url: string, files: MigrationFile[]): Promise<number>;
  down(url: string, files: MigrationFile[], n: number): Promise<void>;
}

const clis = new Map<SqlFileTool, ToolCli>([
  [dbmate, {
    installed: () => true,
    up: async (url, files) => void (await dbmateCli(url, files, 'up')),
    applied: async (url, files) => (await dbmateStatus(url, files)).applied,
    // `dbmate rollback` reverts exactly one migration.
    async down(url, files, n) {
      for (let i = 0; i < n; i++) await dbmateCli(url, files, 'rollback');
    },
  }],
  [sqlMigrate, {
    installed: sqlMigrateInstalled,
    up: async (url, files) => void (await sqlMigrateCli(url, writeMigrations(files)).up()),
    applied: async (url, files) => (await sqlMigrateCli(url, writeMigrations(files)).applied()).length,
    async down(url, files, n) {
      const r = await sqlMigrateCli(url, writeMigrations(files)).down(n);
      assert.equal(r.exitCode, 0, r.output);
    },
  }],
  [nodePgMigrate, {
    installed: () => true,
    up: async (url, files) => void (await nodePgMigrateCli(url, writeMigrations(files)).up()),
    // node-pg-migrate has no status: what `up --dry-run` would still run is what is not applied.
    applied: async (url, files) => files.length - (await nodePgMigrateCli(url, writeMigrations(files)).pending()).length,
    async down(url, files, n) {
      const r = await nodePgMigrateCli(url, writeMigrations(files)).call('down', String(n));
      assert.equal(r.exitCode, 0, r.output);
    },
  }],
]);

/** Runs a script as the bench does (psql -X -v ON_ERROR_STOP=1 -f). */
async function psql(url: string, sql: string): Promise<void> {
  const file = path.join(makeTempDir('hsr-bench-sql-'), 'script.sql');
  writeFileSync(file, sql);
  const r = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, url]);
  assert.equal(r.exitCode, 0, `psql exited ${r.exitCode}:\n${r.stdout}${r.stderr}`);
}

/** The version table's columns with their full types (schemaSnapshot leaves out lengths: varchar(128) vs varchar(255)). */
const columnTypes = (tool: SqlFileTool) =>
  `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull FROM pg_attribute a
    WHERE a.attrelid = 'public.${tool.versionTable}'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

describe('the native-downs bench entries match the real CLIs (dbmate, sql-migrate, node-pg-migrate)', function () {
  this.timeout(120_000);
  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      const dbs: FreshDatabase[] = [];
      before(() => startServers([major]));
      afterEach(async () => {
        await Promise.all(dbs.splice(0).map((db) => db.drop()));
      });

      for (const [tool, cli] of clis) {
        it(`${tool.tool}: migrateUp leaves what \`up\` leaves; the floor leaves what the tool's downs leave`, async function () {
          if (!cli.installed()) this.skip();
          const files = tool.files(LAST);
          const [theirs, ours] = [await freshDatabase(major), await freshDatabase(major)];
          dbs.push(theirs, ours);

          await cli.up(theirs.url, files);
          await psql(ours.url, tool.migrateUp(LAST));
          assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url));
          assert.deepEqual(await query(ours.url, columnTypes(tool)), await query(theirs.url, columnTypes(tool)));
          assert.deepEqual(await query(ours.url, tool.state), await query(theirs.url, tool.state));
          assert.equal(await cli.applied(ours.url, files), LAST);

          await cli.down(theirs.url, files, LAST - TARGET);
          await psql(ours.url, tool.floor(LAST, TARGET, ours.name));
          assert.deepEqual(await query(theirs.url, tool.state), tool.expected(TARGET));
          assert.deepEqual(await query(ours.url, tool.state), tool.expected(TARGET));
          assert.deepEqual(await schemaSnapshot(ours.url), await schemaSnapshot(theirs.url));
          assert.equal(await cli.applied(ours.url, files), TARGET);
        });
      }
    });
  }
});
