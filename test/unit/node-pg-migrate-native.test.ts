/**
 * node-pg-migrate's native driver without a database: the down part of a SQL migration against
 * node-pg-migrate's own test/sqlMigration.spec.ts cases (getActions), names, order and refusals.
 */
import assert from 'node:assert/strict';
import { MigrationsError, RefusedError } from '../../src/core/errors.js';
import { migrationName, nodePgMigrateDownSql, nodePgMigrateNative, PG_MIGRATE_LOCK_ID } from '../../src/tools/node-pg-migrate-native.js';

const sqlFile = (name: string) => ({ name, body: `-- Up Migration\nCREATE TABLE t (id int);\n-- Down Migration\nDROP TABLE t;\n` });

describe('node-pg-migrate native driver: the down part of a SQL migration (sqlMigration.spec.ts)', () => {
  const up = '\n-- Up Migration\nSELECT 1 FROM something\n';
  const down = '\n-- Down Migration\nSELECT 2 FROM something\n';

  it('without comments, or with an up comment only: the down is disabled', () => {
    assert.equal(nodePgMigrateDownSql('SELECT 1 FROM something'), undefined);
    assert.equal(nodePgMigrateDownSql(up), undefined);
  });

  it('with both comments, in either order', () => {
    assert.equal(nodePgMigrateDownSql(`${up}${down}`), down);
    assert.equal(nodePgMigrateDownSql(`${down}${up}`), down);
  });

  it('with both comments with some chars added', () => {
    const fancyDown = '\n  -- -- -- Down    migration to bring DB down\nSELECT 2 FROM something\n';
    assert.equal(nodePgMigrateDownSql(`\n -- - up Migration to do Up migration\nSELECT 1 FROM something\n${fancyDown}`), fancyDown);
  });
});

describe('node-pg-migrate native driver: planDowns', () => {
  const dir = [sqlFile('1_a.sql'), sqlFile('2_b.sql'), sqlFile('10_c.SQL'), sqlFile('20240101000000000_d.sql'), { name: '.eslintrc', body: '' }];

  it('names migrations by base name without extension, orders by numeric prefix (17 digits a UTC date), newest first', () => {
    assert.equal(migrationName('1700000000000_add-tags.sql'), '1700000000000_add-tags');
    assert.equal(migrationName('1_a.up.sql'), '1_a.up');
    const { downs, ignored } = nodePgMigrateNative.planDowns(dir, '20240101000000000_d', '1_a');
    assert.deepEqual(
      downs.map((d) => [d.from, d.to, d.file, d.transactional]),
      [
        ['20240101000000000_d', '10_c', '20240101000000000_d.sql', true],
        ['10_c', '2_b', '10_c.SQL', true],
        ['2_b', '1_a', '2_b.sql', true],
      ],
    );
    assert.equal(downs[0]!.sql, '-- Down Migration\nDROP TABLE t;\n');
    assert.deepEqual(ignored, ['.eslintrc']);
    assert.deepEqual(nodePgMigrateNative.planDowns(dir, '2_b', null).downs.map((d) => d.to), ['1_a', null]);
  });

  it('refuses a JS/TS migration in the range with a pointer to the job runner, and runs SQL ones above older JS ones', () => {
    const mixed = [{ name: '1_init.js', body: 'exports.up = () => {};' }, { name: '2_seed.ts', body: '' }, sqlFile('3_c.sql')];
    assert.deepEqual(nodePgMigrateNative.planDowns(mixed, '3_c', '2_seed').downs.map((d) => d.from), ['3_c']);
    assert.throws(() => nodePgMigrateNative.planDowns(mixed, '3_c', null), (err: unknown) => {
      assert.ok(err instanceof RefusedError);
      assert.match(err.message, /2_seed\.ts, 1_init\.js are JavaScript\/TypeScript migrations; the native runner runs only SQL migrations/);
      assert.match(err.hint ?? '', /--runner job/);
      return true;
    });
  });

  it("refuses an applied name with no file in the tool's words", () => {
    assert.throws(() => nodePgMigrateNative.planDowns(dir, '30_gone', null), (err: unknown) => {
      assert.ok(err instanceof RefusedError);
      assert.match(err.message, /Definitions of migrations 30_gone have been deleted\./);
      return true;
    });
    assert.throws(() => nodePgMigrateNative.planDowns(dir, '10_c', '3_nope'), /target 3_nope is not among the migration files/);
  });

  it('refuses a down the tool disables, a file it cannot list or load, and two files for one name', () => {
    const noDown = [{ name: '1_a.sql', body: '-- Up Migration\nCREATE TABLE t (id int);\n' }];
    assert.throws(() => nodePgMigrateNative.planDowns(noDown, '1_a', null), (err: unknown) => {
      assert.ok(err instanceof MigrationsError);
      assert.match(err.message, /User has disabled down migration on file: 1_a/);
      return true;
    });
    assert.throws(() => nodePgMigrateNative.planDowns([...dir, { name: 'README.md', body: '' }], '2_b', null), /Cannot determine numeric prefix for "README\.md"/);
    assert.throws(() => nodePgMigrateNative.planDowns([...dir, { name: '5_notes.md', body: '' }], '2_b', null), /cannot load 5_notes\.md/);
    assert.throws(() => nodePgMigrateNative.planDowns([...dir, { name: '2_b.js', body: '' }], '2_b', null), /2_b\.(js|sql) and 2_b\.(js|sql) are both migration 2_b/);
  });

  it("names node-pg-migrate's advisory lock and the schema the tool uses (public, not the search_path)", async () => {
    const noQueries = { query: () => Promise.reject(new Error('open() must not query')) };
    assert.deepEqual(await nodePgMigrateNative.open(noQueries, { table: 'pgmigrations' }).then((t) => [t.schema, t.table, t.locks.map((l) => l.key)]), [
      'public',
      'pgmigrations',
      [PG_MIGRATE_LOCK_ID],
    ]);
    assert.equal((await nodePgMigrateNative.open(noQueries, { schema: 'app', table: 'mig' })).schema, 'app');
  });
});
