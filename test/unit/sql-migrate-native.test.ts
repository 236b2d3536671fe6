/**
 * sql-migrate's native driver without a database: the parser against sql-migrate's own
 * sqlparse_test.go cases (TestSemicolons, TestSplitStatements, TestIntentionallyBadStatements,
 * TestJustComment), and planDowns' order and refusals.
 */
import assert from 'node:assert/strict';
import { MigrationsError, RefusedError } from '../../src/core/errors.js';
import { downStatements, endsWithSemicolon, parseSqlMigrateFile, sqlMigrateNative } from '../../src/tools/sql-migrate-native.js';

// sqlparse_test.go, verbatim.
const functxt = `-- +migrate Up
CREATE TABLE IF NOT EXISTS histories (
  id                BIGSERIAL  PRIMARY KEY,
  current_value     varchar(2000) NOT NULL,
  created_at      timestamp with time zone  NOT NULL
);

-- +migrate StatementBegin
CREATE OR REPLACE FUNCTION histories_partition_creation( DATE, DATE )
returns void AS $$
DECLARE
  create_query text;
BEGIN
  FOR create_query IN SELECT
      'CREATE TABLE IF NOT EXISTS histories_'
      || TO_CHAR( d, 'YYYY_MM' )
      || ' ( CHECK( created_at >= timestamp '''
      || TO_CHAR( d, 'YYYY-MM-DD 00:00:00' )
      || ''' AND created_at < timestamp '''
      || TO_CHAR( d + INTERVAL '1 month', 'YYYY-MM-DD 00:00:00' )
      || ''' ) ) inherits ( histories );'
    FROM generate_series( $1, $2, '1 month' ) AS d
  LOOP
    EXECUTE create_query;
  END LOOP;  -- LOOP END
END;         -- FUNCTION END
$$
language plpgsql;
-- +migrate StatementEnd

-- +migrate Down
drop function histories_partition_creation(DATE, DATE);
drop TABLE histories;
`;

const multitxt = `-- +migrate Up
CREATE TABLE post (
    id int NOT NULL,
    title text,
    body text,
    PRIMARY KEY(id)
);

-- +migrate Down
DROP TABLE post;

-- +migrate Up
CREATE TABLE fancier_post (
    id int NOT NULL,
    title text,
    body text,
    created_on timestamp without time zone,
    PRIMARY KEY(id)
);

-- +migrate Down
DROP TABLE fancier_post;
`;

const upDown = (up: string, down: string) => `-- +migrate Up\n${up}\n-- +migrate Down\n${down}\n`;
const intentionallyBad = [
  // first statement missing terminator
  upDown('CREATE TABLE post (\n    id int NOT NULL\n)\n', 'DROP TABLE post;'),
  // second half of first statement missing terminator
  upDown("CREATE TABLE post (id int);\n\nSELECT 'No ending semicolon'\n", 'DROP TABLE post;'),
  // second statement missing terminator
  `-- +migrate Up\nCREATE TABLE post (id int);\n\n-- +migrate Down\nDROP TABLE post\n\n-- +migrate Up\nCREATE TABLE fancier_post (id int);\n`,
  // trailing text after explicit StatementEnd
  `-- +migrate Up\n-- +migrate StatementBegin\nCREATE TABLE post (id int);\n-- +migrate StatementBegin\nSELECT 'no semicolon'\n\n-- +migrate Down\nDROP TABLE post;\n`,
];
const justAComment = upDown('CREATE TABLE post (\n    id int NOT NULL\n)\n', '-- no migration here');

const file = (name: string, down = `DROP TABLE t_${name.replace(/\W/g, '_')};`, extra = '') => ({
  name,
  body: `-- +migrate Up\nCREATE TABLE t_${name.replace(/\W/g, '_')} (id int);\n\n-- +migrate Down${extra}\n${down}\n`,
});

describe('sql-migrate native driver: parsing', () => {
  it('finds a statement-ending semicolon as sqlparse.endsWithSemicolon does (TestSemicolons)', () => {
    const cases: Array<[string, boolean]> = [
      ['END;', true],
      ['END; -- comment', true],
      ['END   ; -- comment', true],
      ['END -- comment', false],
      ['END -- comment ;', false],
      ['END " ; " -- comment', false],
    ];
    for (const [line, expected] of cases) assert.equal(endsWithSemicolon(line), expected, line);
  });

  it('splits statements, a StatementBegin/End block being one (TestSplitStatements)', () => {
    const func = parseSqlMigrateFile(functxt);
    assert.equal(func.up.length, 2);
    // The blank line before `-- +migrate Down` stays in the buffer: the tool's first down statement starts with it.
    assert.deepEqual(func.down, ['\ndrop function histories_partition_creation(DATE, DATE);\n', 'drop TABLE histories;\n']);
    assert.match(func.up[1]!, /^\nCREATE OR REPLACE FUNCTION[\s\S]*EXECUTE create_query;[\s\S]*language plpgsql;\n$/);
    const multi = parseSqlMigrateFile(multitxt);
    assert.equal(multi.up.length, 2);
    assert.deepEqual(multi.down, ['\nDROP TABLE post;\n', '\nDROP TABLE fancier_post;\n']);
  });

  it('refuses what sqlparse refuses (TestIntentionallyBadStatements, TestJustComment), in its words', () => {
    for (const bad of [...intentionallyBad, justAComment]) {
      assert.throws(() => parseSqlMigrateFile(bad), /ERROR: The last statement must be ended by a semicolon or '-- \+migrate StatementEnd' marker/, bad);
    }
    assert.throws(() => parseSqlMigrateFile('CREATE TABLE x (id int);\n'), /no Up\/Down annotations found/);
    assert.throws(() => parseSqlMigrateFile('-- +migrate Down\n-- +migrate StatementBegin\nSELECT 1;\n'), /StatementBegin' with no matching/);
    assert.throws(() => parseSqlMigrateFile('-- +migrate \n'), /incomplete migration command/);
  });

  it('accepts a Down section of comments only (nothing to run) and reads notransaction per direction', () => {
    const parsed = parseSqlMigrateFile('-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY i ON t (id);\n-- +migrate Down\n-- nothing to downgrade!\n');
    assert.deepEqual(parsed.down, []);
    assert.equal(parsed.upNoTransaction, true);
    assert.equal(parsed.downNoTransaction, false);
    assert.equal(parseSqlMigrateFile('-- +migrate Up\n-- +migrate Down notransaction\nDROP INDEX CONCURRENTLY i;\n').downNoTransaction, true);
  });

  it('reads CRLF files as bufio.Scanner does', () => {
    assert.deepEqual(parseSqlMigrateFile('-- +migrate Up\r\nSELECT 1;\r\n-- +migrate Down\r\nDROP TABLE a;\r\n').down, ['DROP TABLE a;\n']);
  });
});

describe('sql-migrate native driver: planDowns', () => {
  const dir = [file('1_create_users.sql'), file('2_users_name.sql'), file('10_create_tags.sql'), file('add_notes.sql'), { name: 'README.md', body: 'x' }];

  it('orders by Migration.Less (numbers as numbers, unnumbered last) and walks back to the target, newest first', () => {
    const { downs, ignored } = sqlMigrateNative.planDowns(dir, 'add_notes.sql', '1_create_users.sql');
    assert.deepEqual(
      downs.map((d) => [d.from, d.to, d.file, d.transactional]),
      [
        ['add_notes.sql', '10_create_tags.sql', 'add_notes.sql', true],
        ['10_create_tags.sql', '2_users_name.sql', '10_create_tags.sql', true],
        ['2_users_name.sql', '1_create_users.sql', '2_users_name.sql', true],
      ],
    );
    assert.deepEqual(ignored, ['README.md']);
    assert.deepEqual(sqlMigrateNative.planDowns(dir, '2_users_name.sql', null).downs.map((d) => d.to), ['1_create_users.sql', null]);
    assert.deepEqual(sqlMigrateNative.planDowns(dir, '2_users_name.sql', '2_users_name.sql').downs, []);
    assert.deepEqual(sqlMigrateNative.planDowns(dir, null, null).downs, []);
  });

  it('gives the down as written, and runDown splits it into the statements the tool runs (trimmed as applyMigrations trims them)', () => {
    const [down] = sqlMigrateNative.planDowns([{ name: '1_f.sql', body: functxt }], '1_f.sql', null).downs;
    assert.equal(down!.sql, 'drop function histories_partition_creation(DATE, DATE);\ndrop TABLE histories;\n');
    assert.deepEqual(downStatements(down!), ['drop function histories_partition_creation(DATE, DATE)', 'drop TABLE histories']);
    const block = '-- +migrate Up\nSELECT 1;\n-- +migrate Down notransaction\n-- +migrate StatementBegin\nDO $$ BEGIN PERFORM 1; END $$;\n-- +migrate StatementEnd\n-- a comment\nDROP INDEX CONCURRENTLY i;\n';
    const [nt] = sqlMigrateNative.planDowns([{ name: '1_b.sql', body: block }], '1_b.sql', null).downs;
    assert.equal(nt!.transactional, false);
    assert.deepEqual(downStatements(nt!), ['DO $$ BEGIN PERFORM 1; END $$', 'DROP INDEX CONCURRENTLY i']);
  });

  it('joins several Down sections, in file order (multitxt)', () => {
    const [down] = sqlMigrateNative.planDowns([{ name: '1_m.sql', body: multitxt }], '1_m.sql', null).downs;
    // The same statements the tool runs, up to the blank lines it carries in front of them.
    const trimmed = (list: string[]) => list.map((x) => x.trim().replace(/;$/, ''));
    assert.deepEqual(trimmed(downStatements(down!)), trimmed(parseSqlMigrateFile(multitxt).down));
    assert.deepEqual(trimmed(downStatements(down!)), ['DROP TABLE post', 'DROP TABLE fancier_post']);
  });

  it("refuses an applied id with no file in the tool's words, a target with no file, and a target ahead", () => {
    assert.throws(() => sqlMigrateNative.planDowns(dir, '11_gone.sql', null), (err: unknown) => {
      assert.ok(err instanceof RefusedError);
      assert.match(err.message, /Unable to create migration plan because of 11_gone\.sql: unknown migration in database/);
      assert.match(err.hint ?? '', /down files of the release that applied 11_gone\.sql/);
      return true;
    });
    assert.throws(() => sqlMigrateNative.planDowns(dir, 'add_notes.sql', '3_nope.sql'), /target 3_nope\.sql is not among the migration files/);
    assert.throws(() => sqlMigrateNative.planDowns(dir, '2_users_name.sql', '10_create_tags.sql'), /comes after the applied 2_users_name\.sql/);
  });

  it('refuses every file the tool cannot parse, even outside the range (FindMigrations parses them all first)', () => {
    const broken = { name: '0_broken.sql', body: '-- +migrate Up\nCREATE TABLE x (id int)\n-- +migrate Down\nDROP TABLE x;\n' };
    assert.throws(() => sqlMigrateNative.planDowns([...dir, broken], 'add_notes.sql', '10_create_tags.sql'), (err: unknown) => {
      assert.ok(err instanceof MigrationsError);
      assert.match(err.message, /sql-migrate cannot parse 0_broken\.sql: ERROR: The last statement must be ended/);
      return true;
    });
  });
});
