/** Each tool's reading of a migrations directory (readMigrations) and of its version table rows. */
import assert from 'node:assert/strict';
import { MigrationsError, VersionTableError } from '../../src/core/errors.js';
import { findHead } from '../../src/core/migrations.js';
import type { MigrationTool, SqlClient } from '../../src/core/ports.js';
import { dbmate } from '../../src/tools/dbmate.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';
import { goose } from '../../src/tools/goose.js';
import { nodePgMigrate } from '../../src/tools/node-pg-migrate.js';
import { sqlMigrate } from '../../src/tools/sql-migrate.js';

const files = (...names: string[]) => names.map((name) => ({ name, body: '' }));
const head = (tool: MigrationTool, ...names: string[]) => findHead(tool, { origin: 'dir', history: tool.offers.history!.read(files(...names)) });
function rowsDb(rows: unknown[], seen: string[] = []): SqlClient {
  return {
    async query<R>(text: string) {
      seen.push(text);
      return { rows: rows as R[], rowCount: rows.length };
    },
  };
}

describe('tools: migration files and version tables', () => {
  it('golang-migrate: the highest version, without leading zeros; duplicates refused', () => {
    assert.equal(head(golangMigrate, '000009_a.up.sql', '000009_a.down.sql', '000013_b.up.sql', '000010_c.up.sql', 'README.md'), '13');
    assert.deepEqual(golangMigrate.offers.history!.read(files('1_a.up.sql', 'x.txt')).ignored, ['x.txt']);
    assert.throws(() => golangMigrate.offers.history!.read(files('1_a.up.sql', '01_b.up.sql')), MigrationsError);
    assert.equal(head(golangMigrate), 'base');
  });

  describe('goose', () => {
    it('orders versions as numbers across .sql and .go files, skipping _test.go', () => {
      assert.equal(head(goose, '00001_init.sql', '00002_seed.go', '20240101120000_big.sql', '9_x_test.go', 'goose.go'), '20240101120000');
      assert.equal(head(goose, '9_a.sql', '10_b.sql'), '10');
      assert.throws(() => goose.offers.history!.read(files('1_a.sql', '001_b.go')), /two goose migrations for version 1/);
      assert.throws(() => goose.offers.history!.read(files('0_a.sql')), MigrationsError);
      assert.equal(goose.order!.compare!('9', '10'), -1);
    });
    it('reads the version as EnsureDBVersion does: newest row first, skipping versions whose newest row is not applied', async () => {
      const seen: string[] = [];
      const rows = [
        { version_id: '3', is_applied: false },
        { version_id: '3', is_applied: true },
        { version_id: '2', is_applied: true },
        { version_id: '0', is_applied: true },
      ];
      assert.deepEqual(await goose.readState(rowsDb(rows, seen), { table: 'goose_db_version' }), { tableExists: true, revisions: ['2'], dirty: false, applied: ['2'] });
      assert.match(seen[0]!, /FROM "goose_db_version" ORDER BY id DESC/);
      assert.deepEqual((await goose.readState(rowsDb([{ version_id: '0', is_applied: true }]), { table: 't' })).revisions, []);
      await assert.rejects(goose.readState(rowsDb([{ version_id: 3, is_applied: 'yes' }]), { table: 't' }), VersionTableError);
    });
    it('checks revisions like golang-migrate', () => {
      assert.equal(goose.checkRevision('20240101120000'), undefined);
      assert.match(goose.checkRevision('007')!, /without leading zeros/);
    });
  });

  describe('dbmate', () => {
    it('takes the version digits as written, in file-name order', () => {
      assert.equal(head(dbmate, '20151129054053_create_users.sql', '20200101000000_add_tags.sql', 'notes.md', 'x_y.sql'), '20200101000000');
      assert.deepEqual(dbmate.offers.history!.read(files('001_a.sql', 'x_y.sql')).ignored, ['x_y.sql']);
      assert.equal(head(dbmate, '001_a.sql', '002_b.sql'), '002');
    });
    it('reads the greatest version', async () => {
      const seen: string[] = [];
      assert.deepEqual(await dbmate.readState(rowsDb([{ version: '20200101000000' }], seen), { table: 'schema_migrations' }), { tableExists: true, revisions: ['20200101000000'], dirty: false, applied: ['20200101000000'] });
      assert.match(seen[0]!, /ORDER BY version DESC$/);
      assert.deepEqual((await dbmate.readState(rowsDb([]), { table: 'schema_migrations' })).revisions, []);
    });
  });

  describe('sql-migrate', () => {
    it('orders ids as Migration.Less: numbered first, by number, then by id', () => {
      assert.equal(head(sqlMigrate, '1_init.sql', '10_ten.sql', '2_two.sql', 'README.md'), '10_ten.sql');
      assert.equal(head(sqlMigrate, '1_init.sql', 'zzz.sql'), 'zzz.sql');
      assert.deepEqual(sqlMigrate.offers.history!.read(files('b.sql', '3_c.sql', 'a.sql', '03_b.sql')).revisions, ['03_b.sql', '3_c.sql', 'a.sql', 'b.sql']);
    });
    it('reads the last applied id in that order', async () => {
      const rows = [{ id: '10_ten.sql' }, { id: '1_init.sql' }, { id: '2_two.sql' }];
      assert.deepEqual((await sqlMigrate.readState(rowsDb(rows), { table: 'gorp_migrations' })).revisions, ['10_ten.sql']);
      assert.match(sqlMigrate.checkRevision('3')!, /file names/);
    });
  });

  describe('node-pg-migrate', () => {
    it('names migrations without their extension, ordered by numeric prefix', () => {
      assert.equal(head(nodePgMigrate, '1700000000000_init.js', '1700000000001_tags.sql', '.eslintrc.js', '999_old.ts'), '1700000000001_tags');
      assert.equal(head(nodePgMigrate, '20240101120000000_utc.js', '1700000000000_ts.js'), '20240101120000000_utc');
      assert.match(nodePgMigrate.checkRevision('1_a.js')!, /without their extension/);
    });
    it('reads the last migration run', async () => {
      const seen: string[] = [];
      assert.deepEqual((await nodePgMigrate.readState(rowsDb([{ name: '1700000000001_tags' }], seen), { table: 'pgmigrations' })).revisions, ['1700000000001_tags']);
      assert.match(seen[0]!, /ORDER BY run_on DESC, id DESC$/);
    });
  });
});
