/**
 * goose's parser and down-to plan, without a database. The parser cases are goose's own
 * (internal/sqlparser/parser_test.go: TestSemicolons, TestSplitStatements, TestParsingErrors,
 * Test_extractAnnotation, testdata/valid-up/test04 and envsub/test01, bodies shortened).
 */
import assert from 'node:assert/strict';
import { MigrationsError, RefusedError } from '../../src/core/errors.js';
import type { MigrationFile } from '../../src/core/ports.js';
import { currentVersion, gooseNative, type GooseDown } from '../../src/tools/goose-native.js';
import { endsWithSemicolon, GooseParseError, parseGooseSql } from '../../src/tools/goose-sql.js';

const multilineSQL = `-- +goose Up
CREATE TABLE post (
		id int NOT NULL,
		title text,
		body text,
		PRIMARY KEY(id)
);                  -- 1st stmt

-- comment
SELECT 2;           -- 2nd stmt
SELECT 3; SELECT 3; -- 3rd stmt
SELECT 4;           -- 4th stmt

-- +goose Down
-- comment
DROP TABLE post;    -- 1st stmt
`;

const functxt = `-- +goose Up
CREATE TABLE IF NOT EXISTS histories (
	id                BIGSERIAL  PRIMARY KEY,
	current_value     varchar(2000) NOT NULL,
	created_at      timestamp with time zone  NOT NULL
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION histories_partition_creation( DATE, DATE )
returns void AS $$
DECLARE
	create_query text;
BEGIN
	FOR create_query IN SELECT 'x'
	LOOP
		EXECUTE create_query;
	END LOOP;  -- LOOP END
END;         -- FUNCTION END
$$
language plpgsql;
-- +goose StatementEnd

-- +goose Down
drop function histories_partition_creation(DATE, DATE);
drop TABLE histories;
`;

const plpgsqlSyntax = `
-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ language 'plpgsql';
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER update_properties_updated_at BEFORE UPDATE ON properties FOR EACH ROW EXECUTE PROCEDURE  update_updated_at_column();
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP TRIGGER update_properties_updated_at
-- +goose StatementEnd
-- +goose StatementBegin
DROP FUNCTION update_updated_at_column()
-- +goose StatementEnd
`;

const emptySQL = `-- +goose Up
-- This is just a comment`;
const emptySQL2 = `

-- comment
-- +goose Up

-- comment
-- +goose Down

`;
const copyFromStdin = `
-- +goose Up
-- +goose StatementBegin
COPY public.django_content_type (id, app_label, model) FROM stdin;
1\tadmin\tlogentry
\\.
-- +goose StatementEnd
`;

const counts = (sql: string) => [parseGooseSql(sql, 'up').statements.length, parseGooseSql(sql, 'down').statements.length];
const file = (name: string, body: string): MigrationFile => ({ name, body });
const sqlFile = (v: number, down = `DROP TABLE t_${v};`, extra = '') => file(`${String(v).padStart(5, '0')}_t${v}.sql`, `${extra}-- +goose Up\nCREATE TABLE t_${v} (id int);\n\n-- +goose Down\n${down}\n`);
const shape = (downs: readonly GooseDown[] | readonly { from: string; to: string | null; file?: string }[]) => downs.map((d) => [d.from, d.to, d.file ?? null]);

describe('tools/goose-sql (goose internal/sqlparser)', () => {
  it("endsWithSemicolon: goose's TestSemicolons (the last word before a `--` word ends with ;)", () => {
    for (const [line, want] of [
      ['END;', true],
      ['END; -- comment', true],
      ['END   ; -- comment', true],
      ['END -- comment', false],
      ['END -- comment ;', false],
      ['END " ; " -- comment', false],
      ["SELECT '-- not a comment';", true],
    ] as const) {
      assert.equal(endsWithSemicolon(line), want, line);
    }
  });

  it("splits as goose's TestSplitStatements counts (up, down)", () => {
    assert.deepEqual(counts(multilineSQL), [4, 1]);
    assert.deepEqual(counts(emptySQL), [0, 0]);
    assert.deepEqual(counts(emptySQL2), [0, 0]);
    assert.deepEqual(counts(functxt), [2, 2]);
    assert.deepEqual(counts(copyFromStdin), [1, 0]);
    assert.deepEqual(counts(plpgsqlSyntax), [2, 2]);
  });

  it('keeps statements exactly as goose hands them to ExecContext: trimmed, inner comments kept, a StatementBegin block whole', () => {
    assert.deepEqual(parseGooseSql(multilineSQL, 'up').statements.slice(1), ['SELECT 2;           -- 2nd stmt', 'SELECT 3; SELECT 3; -- 3rd stmt', 'SELECT 4;           -- 4th stmt']);
    assert.deepEqual(parseGooseSql(multilineSQL, 'down').statements, ['DROP TABLE post;    -- 1st stmt']);
    const [, fn] = parseGooseSql(functxt, 'up').statements;
    assert.ok(fn!.startsWith('CREATE OR REPLACE FUNCTION') && fn!.endsWith('language plpgsql;') && fn!.includes('END LOOP;  -- LOOP END'));
    assert.deepEqual(parseGooseSql(plpgsqlSyntax, 'down').statements, ['DROP TRIGGER update_properties_updated_at', 'DROP FUNCTION update_updated_at_column()']);
  });

  it('testdata/valid-up/test04: lines starting with "--" inside a statement stay in it (PEM blocks in a string)', () => {
    const input = [
      '-- +goose Up',
      '',
      'CREATE TABLE ssh_keys (',
      '    id integer NOT NULL,',
      '    "publicKey" text',
      ');',
      '',
      '-- +goose StatementBegin',
      `INSERT INTO ssh_keys (id, "publicKey") VALUES (1, '-----BEGIN RSA PUBLIC KEY-----`,
      'AAAA;',
      '-----END RSA PUBLIC KEY-----',
      `');`,
      '-- +goose StatementEnd',
      '',
      `INSERT INTO ssh_keys (id, "publicKey") VALUES (2, '-----BEGIN OPENSSH PRIVATE KEY-----`,
      'BBBB',
      '-----END OPENSSH PRIVATE KEY-----',
      `');`,
      '',
      '-- +goose Down',
      '',
    ].join('\n');
    const { statements } = parseGooseSql(input, 'up');
    assert.equal(statements.length, 3);
    assert.equal(statements[1], `INSERT INTO ssh_keys (id, "publicKey") VALUES (1, '-----BEGIN RSA PUBLIC KEY-----\nAAAA;\n-----END RSA PUBLIC KEY-----\n');`);
    assert.equal(statements[2], `INSERT INTO ssh_keys (id, "publicKey") VALUES (2, '-----BEGIN OPENSSH PRIVATE KEY-----\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n');`);
  });

  it("refuses what goose refuses (TestParsingErrors, Test_extractAnnotation), with goose's words", () => {
    const cases: Array<[string, RegExp]> = [
      ['-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nSELECT 2;\n', /must start with '-- \+goose Up' annotation, stateMachine=2/],
      ['-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n', /missing '-- \+goose StatementEnd'/],
      ['\n-- +goose Up\nALTER TABLE post\n\n-- +goose Down\n', /unexpected unfinished SQL query: "ALTER TABLE post": missing semicolon\?/],
      ['\nCREATE TABLE post (id int);\n', /unexpected state 0 on line "CREATE TABLE post \(id int\);"/],
      ['\n-- just a comment\n', /must start with '-- \+goose Up'/],
      ['-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n-- +goose Up\nSELECT 3;\n', /duplicate '-- \+goose Up' annotations/],
      ['-- +goose Down\nDROP TABLE fancier_post;\n', /must start with '-- \+goose Up'/],
      ['-- +goose Up\n-- +goose unsupported\n', /"unsupported" not supported: invalid annotation/],
      ['-- +goose Up\n-- +goose\n', /empty annotation/],
      [' -- +goose Up\n', /contains leading whitespace/],
      ['-- +goose +goose Up\n', /multiple '\+goose' annotations/],
    ];
    for (const [sql, message] of cases) assert.throws(() => parseGooseSql(sql, 'up'), (err: unknown) => err instanceof GooseParseError && message.test(err.message), sql);
    // The down direction does not see an unfinished up statement: goose checks it only when parsing up.
    assert.deepEqual(parseGooseSql('-- +goose Up\nALTER TABLE post\n-- +goose Down\nDROP TABLE post;\n', 'down').statements, ['DROP TABLE post;']);
  });

  it('reads annotations case-insensitively, NO TRANSACTION for the whole file, CRLF line endings', () => {
    const sql = '-- +goose   UP \t\r\nCREATE TABLE a (id int);\r\n-- +goose no transaction\r\n-- +goose down\r\nDROP TABLE a;\r\n';
    assert.deepEqual(parseGooseSql(sql, 'down'), { statements: ['DROP TABLE a;'], useTx: false, substituted: [] });
    assert.equal(parseGooseSql(sql, 'up').useTx, false);
  });

  it('envsub/test01: reports the lines goose would fill from its environment, only in the direction parsed and only while ENVSUB is ON', () => {
    const sql = '-- +goose ENVSUB ON\n-- +goose Up\nCREATE TABLE ${GOOSE_ENV_REGION}post (id int);\n-- +goose Down\n-- comment\nDROP TABLE ${GOOSE_ENV_REGION}post;    -- 1st stmt\n';
    assert.deepEqual(parseGooseSql(sql, 'down').substituted, ['DROP TABLE ${GOOSE_ENV_REGION}post;    -- 1st stmt']);
    const off = '-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose ENVSUB ON\nDROP TABLE x;\n-- +goose ENVSUB OFF\nSELECT $$a$$;\n';
    assert.deepEqual(parseGooseSql(off, 'down').substituted, []);
  });
});

describe('tools/goose-native planDowns (goose down-to V)', () => {
  const dir = [sqlFile(1), sqlFile(2), sqlFile(3), sqlFile(4)];

  it('reverts every version above the target, newest first, each to the next lower file; base keeps goose\'s version 0 (to: null)', () => {
    assert.deepEqual(shape(gooseNative.planDowns(dir, '4', '2').downs), [['4', '3', '00004_t4.sql'], ['3', '2', '00003_t3.sql']]);
    assert.deepEqual(shape(gooseNative.planDowns(dir, '4', null).downs).map(([f, t]) => [f, t]), [['4', '3'], ['3', '2'], ['2', '1'], ['1', null]]);
    assert.deepEqual(shape(gooseNative.planDowns(dir, '4', '0').downs).length, 4);
    assert.deepEqual(gooseNative.planDowns(dir, '3', '3').downs, []);
    const [down] = gooseNative.planDowns(dir, '2', '1').downs as GooseDown[];
    assert.deepEqual([down!.sql, down!.statements, down!.transactional], ['DROP TABLE t_2;', ['DROP TABLE t_2;'], true]);
  });

  it('orders by version number, not by name (9 before 10), and skips what goose skips', () => {
    const files = [file('10_b.sql', '-- +goose Up\n-- +goose Down\nSELECT 10;\n'), file('9_a.sql', '-- +goose Up\n-- +goose Down\nSELECT 9;\n'), file('README.md', ''), file('helpers.go', ''), file('1_x_test.go', '')];
    const plan = gooseNative.planDowns(files, '10', null);
    assert.deepEqual(shape(plan.downs), [['10', '9', '10_b.sql'], ['9', null, '9_a.sql']]);
    assert.deepEqual(plan.ignored, ['1_x_test.go', 'README.md', 'helpers.go']);
  });

  it('a version with no Down section is planned as one without a down (goose deletes its row running nothing: "EMPTY"), so the runner refuses it like a missing down file', () => {
    const files = [sqlFile(1), file('00002_no_down.sql', '-- +goose Up\nCREATE TABLE t_2 (id int);\n')];
    const [down] = gooseNative.planDowns(files, '2', '1').downs as GooseDown[];
    assert.deepEqual([down!.from, down!.to, down!.file, down!.expectedFile, down!.sql, down!.statements], ['2', '1', undefined, '-- +goose Down section in 00002_no_down.sql', '', []]);
  });

  it('an explicit but empty Down section is the author\'s choice: planned with its file, running nothing', () => {
    const files = [sqlFile(1), file('00002_empty_down.sql', '-- +goose Up\nCREATE TABLE t_2 (id int);\n-- +goose down\n')];
    const [down] = gooseNative.planDowns(files, '2', '1').downs as GooseDown[];
    assert.deepEqual([down!.file, down!.sql, down!.statements], ['00002_empty_down.sql', '', []]);
  });

  it('NO TRANSACTION makes the down non-transactional', () => {
    const files = [sqlFile(1), sqlFile(2, 'DROP INDEX CONCURRENTLY i;', '-- +goose NO TRANSACTION\n')];
    assert.equal(gooseNative.planDowns(files, '2', '1').downs[0]!.transactional, false);
  });

  it('refuses the current version without a file (goose: "migration file not found for current version"), a target without one, and ups', () => {
    assert.throws(() => gooseNative.planDowns(dir, '5', '2'), (e: unknown) => e instanceof RefusedError && /database version 5 has no file.*migration file not found for current version \(5\)/.test(e.message));
    assert.throws(() => gooseNative.planDowns([sqlFile(1), sqlFile(3)], '3', '2'), (e: unknown) => e instanceof RefusedError && /target version 2 is not among/.test(e.message));
    assert.throws(() => gooseNative.planDowns(dir, '2', '4'), (e: unknown) => e instanceof RefusedError && /upgrade, not a rollback/.test(e.message));
    assert.throws(() => gooseNative.planDowns(dir, null, '2'), RefusedError);
  });

  it('refuses Go migrations and ENVSUB variables in a reverted Down, pointing at the job runner; not when they are below the target', () => {
    const files = [sqlFile(1), file('00002_go.go', 'package migrations'), sqlFile(3, 'DROP TABLE ${PREFIX}t_3;', '-- +goose ENVSUB ON\n')];
    assert.throws(
      () => gooseNative.planDowns(files, '3', '1'),
      (e: unknown) => e instanceof RefusedError && e.reasons.length === 2 && /ENVSUB ON/.test(e.reasons[0]!) && /00002_go.go is a Go migration/.test(e.reasons[1]!) && /--runner job/.test(e.hint ?? ''),
    );
    assert.equal(gooseNative.planDowns([sqlFile(1), file('00002_go.go', ''), sqlFile(3), sqlFile(4)], '4', '3').downs.length, 1);
  });

  it("refuses the directories goose refuses: a .sql name without a version, duplicate versions, an unparsable Down", () => {
    assert.throws(() => gooseNative.planDowns([...dir, file('notes.sql', '')], '4', '3'), (e: unknown) => e instanceof MigrationsError && /could not parse SQL migration file "notes.sql"/.test(e.message));
    assert.throws(() => gooseNative.planDowns([...dir, file('0_zero.sql', '')], '4', '3'), MigrationsError);
    assert.throws(() => gooseNative.planDowns([...dir, file('004_again.sql', '')], '4', '3'), (e: unknown) => e instanceof MigrationsError && /duplicate version 4/.test(e.message));
    const broken = [sqlFile(1), file('00002_b.sql', '-- +goose Up\n-- +goose Down\n-- +goose StatementBegin\nSELECT 1;\n')];
    assert.throws(() => gooseNative.planDowns(broken, '2', '1'), (e: unknown) => e instanceof MigrationsError && /00002_b.sql: .*missing '-- \+goose StatementEnd'/.test(e.message));
  });
});

describe('tools/goose-native currentVersion (EnsureDBVersion)', () => {
  const row = (version_id: string, is_applied = true) => ({ version_id, is_applied });
  it('takes the newest row by id whose version is applied; a newer is_applied=false row hides a version; 0 is base', () => {
    assert.equal(currentVersion([row('3'), row('2'), row('1'), row('0')]), '3');
    assert.equal(currentVersion([row('3', false), row('3'), row('2'), row('0')]), '2');
    assert.equal(currentVersion([row('2'), row('3'), row('0')]), '2', 'applied out of order: goose goes by id, not by version');
    assert.equal(currentVersion([row('0')]), '0');
    assert.equal(currentVersion([]), '0');
  });

  it('from the newest rows only: the version when they settle it, undefined when an older row could still decide', () => {
    assert.equal(currentVersion([row('3'), row('2')], false), '3');
    assert.equal(currentVersion([row('3', false), row('3'), row('2')], false), '2');
    assert.equal(currentVersion([row('3', false), row('2', false)], false), undefined);
    assert.equal(currentVersion([], false), undefined);
  });
});
