/**
 * dbmate's parser and the rollback loop's plan, without a database. The parser cases are dbmate's
 * own (pkg/dbmate/migration_test.go TestParseMigrationContents).
 */
import assert from 'node:assert/strict';
import { MigrationsError, RefusedError } from '../../src/core/errors.js';
import type { MigrationFile } from '../../src/core/ports.js';
import { DBMATE_PARSE_ERRORS, dbmateNative, parseDbmateMigration } from '../../src/tools/dbmate-native.js';

const file = (name: string, body: string): MigrationFile => ({ name, body });
const migration = (version: string, down = `drop table t_${version};\n`) => file(`${version}_t.sql`, `-- migrate:up\ncreate table t_${version} (id int);\n\n-- migrate:down\n${down}`);
const shape = (downs: ReadonlyArray<{ from: string; to: string | null; file?: string }>) => downs.map((d) => [d.from, d.to, d.file ?? null]);

describe('tools/dbmate-native parseDbmateMigration (dbmate migration.go)', () => {
  it('the typical use case: up and down blocks with their directive lines, transactional', () => {
    const [s] = parseDbmateMigration('-- migrate:up\ncreate table users (id serial, name text);\n-- migrate:down\ndrop table users;');
    assert.deepEqual(s, { up: '-- migrate:up\ncreate table users (id serial, name text);\n', down: '-- migrate:down\ndrop table users;', upTransaction: true, downTransaction: true });
  });

  it("does not require a space between '--' and 'migrate'; allows leading comments and blank lines", () => {
    const [s] = parseDbmateMigration('\n--migrate:up\ncreate table users (id serial, name text);\n\n--migrate:down\ndrop table users;\n');
    assert.equal(s!.up, '--migrate:up\ncreate table users (id serial, name text);\n\n');
    assert.equal(s!.down, '--migrate:down\ndrop table users;\n');
    const [t] = parseDbmateMigration('\n-- This migration creates the users table.\n\n-- migrate:up\ncreate table users (id int);\n\n-- migrate:down\ndrop table users;\n');
    assert.equal(t!.down, '-- migrate:down\ndrop table users;\n');
  });

  it('reads transaction:false per block, each section on its own', () => {
    const sections = parseDbmateMigration(
      "-- migrate:up transaction:false\nALTER TYPE colors ADD VALUE 'orange' AFTER 'red';\n-- migrate:down transaction:false\nSELECT 1;\n" +
        "-- migrate:up transaction:true\nSELECT 2;\n-- migrate:down transaction:true\nSELECT 2;\n-- migrate:up transaction:false\nSELECT 3;\n-- migrate:down\nSELECT 3;\n",
    );
    assert.deepEqual(sections.map((s) => [s.upTransaction, s.downTransaction]), [[false, false], [true, true], [false, true]]);
    assert.equal(sections[0]!.down, '-- migrate:down transaction:false\nSELECT 1;\n');
  });

  it('Windows CR/LF line endings', () => {
    const [s] = parseDbmateMigration('-- migrate:up transaction:true\r\ncreate table users (id int);\r\n-- migrate:down transaction:false\r\ndrop table users;\r\n');
    assert.equal(s!.down, '-- migrate:down transaction:false\r\ndrop table users;\r\n');
    assert.equal(s!.downTransaction, false);
  });

  it('an empty down block is allowed', () => {
    assert.equal(parseDbmateMigration('-- migrate:up\ncreate table a (id int);\n-- migrate:down\n')[0]!.down, '-- migrate:down\n');
  });

  it("refuses what dbmate refuses, with dbmate's words", () => {
    const cases: Array<[string, string]> = [
      ['\nALTER TABLE users\nADD COLUMN status status_type;\n', DBMATE_PARSE_ERRORS.missingUp],
      ['-- migrate:down\ndrop table users;\n', DBMATE_PARSE_ERRORS.missingUp],
      ['-- migrate:up\ncreate table users (id int);\n', DBMATE_PARSE_ERRORS.missingDown],
      // dbmate's "require up before down": the statement before the first up is what it reports.
      ['-- migrate:down\ndrop table users;\n-- migrate:up\ncreate table users (id int);\n', DBMATE_PARSE_ERRORS.unexpectedStatement],
      ['-- migrate:down\n-- migrate:up\ncreate table users (id int);\n', DBMATE_PARSE_ERRORS.missingDown],
      ["-- create status_type\nCREATE TYPE s AS ENUM ('a');\n\n-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n", DBMATE_PARSE_ERRORS.unexpectedStatement],
      ['-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n-- migrate:down\nSELECT 2;\n', DBMATE_PARSE_ERRORS.missingDown],
      ['-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n-- migrate:down\nSELECT 2;\n', DBMATE_PARSE_ERRORS.missingUp],
      ['-- migrate:upx\nSELECT 1;\n-- migrate:down\nSELECT 1;\n', DBMATE_PARSE_ERRORS.missingUp],
    ];
    for (const [contents, message] of cases) assert.throws(() => parseDbmateMigration(contents), { message }, contents);
  });
});

describe('tools/dbmate-native planDowns (dbmate rollback, looped to the target)', () => {
  const dir = [migration('20240101000000'), migration('20240215093000'), migration('20240301120000'), file('README.md', '')];

  it('reverts the latest applied in file-name order, one by one, down to the target or to nothing', () => {
    const plan = dbmateNative.planDowns(dir, '20240301120000', '20240101000000');
    assert.deepEqual(shape(plan.downs), [
      ['20240301120000', '20240215093000', '20240301120000_t.sql'],
      ['20240215093000', '20240101000000', '20240215093000_t.sql'],
    ]);
    assert.deepEqual(plan.ignored, ['README.md']);
    assert.deepEqual(shape(dbmateNative.planDowns(dir, '20240301120000', null).downs).map(([f, t]) => [f, t]), [
      ['20240301120000', '20240215093000'],
      ['20240215093000', '20240101000000'],
      ['20240101000000', null],
    ]);
    assert.deepEqual(dbmateNative.planDowns(dir, '20240215093000', '20240215093000').downs, []);
  });

  it('runs the down block as dbmate does: the block text, its transaction option', () => {
    const [down] = dbmateNative.planDowns([migration('1'), file('2_idx.sql', '-- migrate:up\nSELECT 1;\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY i;\n')], '2', '1').downs;
    assert.deepEqual([down!.sql, down!.transactional], ['-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY i;\n', false]);
  });

  it('keeps versions as written ("001" is not "1") and names files as dbmate does (no underscore needed)', () => {
    const plan = dbmateNative.planDowns([file('001.sql', '-- migrate:up\n-- migrate:down\n'), file('002create.sql', '-- migrate:up\n-- migrate:down\n')], '002', null);
    assert.deepEqual(shape(plan.downs), [['002', '001', '002create.sql'], ['001', null, '001.sql']]);
    assert.throws(() => dbmateNative.planDowns(dir, '1', null), RefusedError);
  });

  it("refuses an applied version without a file: dbmate would roll back an older file and leave that row (its silent orphan)", () => {
    assert.throws(
      () => dbmateNative.planDowns(dir.slice(0, 2), '20240301120000', '20240101000000'),
      (e: unknown) => e instanceof RefusedError && /20240301120000 has no file.*leave 20240301120000's row behind/.test(e.message),
    );
  });

  it('refuses a target without a file, an up, two files for one version, a parse error and multi-section files', () => {
    assert.throws(() => dbmateNative.planDowns(dir, '20240301120000', '20240201000000'), (e: unknown) => e instanceof RefusedError && /target version 20240201000000/.test(e.message));
    assert.throws(() => dbmateNative.planDowns(dir, '20240101000000', '20240301120000'), (e: unknown) => e instanceof RefusedError && /upgrade/.test(e.message));
    assert.throws(() => dbmateNative.planDowns(dir, null, '20240101000000'), RefusedError);
    assert.throws(() => dbmateNative.planDowns([...dir, file('20240301120000_u.sql', '')], '20240301120000', null), (e: unknown) => e instanceof MigrationsError && /two dbmate migrations for version 20240301120000/.test(e.message));
    assert.throws(
      () => dbmateNative.planDowns([migration('1'), file('2_bad.sql', '-- migrate:up\nSELECT 1;\n')], '2', '1'),
      (e: unknown) => e instanceof MigrationsError && e.message === `2_bad.sql: ${DBMATE_PARSE_ERRORS.missingDown}`,
    );
    const multi = file('2_multi.sql', '-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n-- migrate:down\nSELECT 2;\n');
    assert.throws(() => dbmateNative.planDowns([migration('1'), multi], '2', '1'), (e: unknown) => e instanceof RefusedError && /2 up\/down sections.*#820/.test(e.message));
    // Files below the target are not parsed, as dbmate parses only the file it rolls back.
    assert.equal(dbmateNative.planDowns([file('1_broken.sql', 'nonsense'), migration('2')], '2', '1').downs.length, 1);
  });
});
