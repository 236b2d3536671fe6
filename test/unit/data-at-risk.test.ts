import assert from 'node:assert/strict';
import { archiveTableName, consolidate, copyStatement, describeRisk, formatCount, planArchive, restoreStatement, type DataAtRisk } from '../../src/core/data-at-risk.js';
import { analyseSql, type SqlFinding } from '../../src/core/sql-analysis.js';
import { confirmationQuestion, parseSize } from '../../src/cli/commands/rollback.js';
import type { RollbackPlan } from '../../src/core/rollback.js';

/** The findings without their statement text, for compact expectations. */
const kinds = (sql: string) => analyseSql(sql).map(({ statement: _s, ...rest }) => rest);

describe('SQL analyser: what a down script destroys', () => {
  it('finds DROP TABLE [IF EXISTS] a, b [CASCADE] with quoted and schema-qualified names', () => {
    assert.deepEqual(kinds('DROP TABLE IF EXISTS agent_instances, "Mixed"."Case Name" CASCADE;'), [
      { kind: 'drop-table', table: { name: 'agent_instances' } },
      { kind: 'drop-table', table: { schema: 'Mixed', name: 'Case Name' } },
    ]);
    assert.deepEqual(kinds('drop table Public.Eval_Runs'), [{ kind: 'drop-table', table: { schema: 'public', name: 'eval_runs' } }]);
  });

  it('finds each dropped column and type change of an ALTER TABLE, not its other actions', () => {
    const sql = `ALTER TABLE IF EXISTS ONLY users
      DROP COLUMN IF EXISTS sso_id,
      DROP legacy,
      DROP CONSTRAINT users_sso_key,
      ALTER COLUMN name SET DATA TYPE varchar(40) USING left(name, 40),
      ALTER email TYPE text,
      ALTER COLUMN created_at DROP DEFAULT,
      ADD COLUMN note text;`;
    assert.deepEqual(kinds(sql), [
      { kind: 'drop-column', table: { name: 'users' }, column: 'sso_id' },
      { kind: 'drop-column', table: { name: 'users' }, column: 'legacy' },
      { kind: 'type-change', table: { name: 'users' }, column: 'name', toType: 'varchar(40)' },
      { kind: 'type-change', table: { name: 'users' }, column: 'email', toType: 'text' },
    ]);
  });

  it('finds TRUNCATE, DELETE FROM (with or without WHERE) and DROP SCHEMA ... CASCADE, not DROP SCHEMA without it', () => {
    assert.deepEqual(kinds('TRUNCATE TABLE ONLY a, app.b RESTART IDENTITY; DELETE FROM ONLY c WHERE id > 3; DELETE FROM d; DROP SCHEMA IF EXISTS x, y CASCADE; DROP SCHEMA z;'), [
      { kind: 'truncate', table: { name: 'a' } },
      { kind: 'truncate', table: { schema: 'app', name: 'b' } },
      { kind: 'delete', table: { name: 'c' }, where: true },
      { kind: 'delete', table: { name: 'd' }, where: false },
      { kind: 'drop-schema', schema: 'x' },
      { kind: 'drop-schema', schema: 'y' },
    ]);
  });

  it('ignores comments, string literals and function bodies (dollar-quoted, quoted, BEGIN ATOMIC)', () => {
    const sql = `-- DROP TABLE commented_out;
      /* DROP TABLE block /* nested DROP TABLE x; */ still comment; */
      CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $body$ BEGIN DROP TABLE inside_body; DELETE FROM t; END $body$;
      CREATE FUNCTION f2() RETURNS void LANGUAGE sql AS 'DELETE FROM quoted_body';
      CREATE FUNCTION f3() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM atomic_body; SELECT CASE WHEN true THEN 1 ELSE 2 END; END;
      INSERT INTO notes VALUES ('DROP TABLE in_a_string;'), (E'it\\'s; DROP TABLE escaped');
      SELECT 1;
      DROP INDEX IF EXISTS tasks_owner_idx;
      COMMENT ON TABLE x IS 'TRUNCATE y';`;
    assert.deepEqual(kinds(sql), []);
  });

  it('reports what it cannot read instead of passing it over', () => {
    const found = analyseSql(`DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'x'; END $$;
      SELECT purge_old_rows();
      UPDATE users SET sso_id = NULL;
      DROP EXTENSION vector CASCADE;
      TRUNCATE parent CASCADE;
      FROBNICATE everything;`);
    assert.deepEqual(found.map((f) => f.kind), ['unknown', 'unknown', 'unknown', 'unknown', 'truncate', 'unknown', 'unknown']);
    assert.match((found[1] as Extract<SqlFinding, { kind: 'unknown' }>).reason, /purge_old_rows/);
    assert.deepEqual((found[2] as Extract<SqlFinding, { kind: 'unknown' }>).table, { name: 'users' });
    assert.match(found[0]!.statement, /^DO \$\$/);
  });

  it('reads the kagent down files as they are (one statement per finding, in file order)', () => {
    assert.deepEqual(kinds('ALTER TABLE agent_instances\n    DROP COLUMN IF EXISTS operation_started_at,\n    DROP COLUMN IF EXISTS operation;\n'), [
      { kind: 'drop-column', table: { name: 'agent_instances' }, column: 'operation_started_at' },
      { kind: 'drop-column', table: { name: 'agent_instances' }, column: 'operation' },
    ]);
    assert.deepEqual(kinds('-- Intentionally a no-op\nSELECT 1;\n'), []);
  });
});

const item = (o: Partial<DataAtRisk> & Pick<DataAtRisk, 'kind'>): DataAtRisk => ({ track: 'core', source: 'f.down.sql', statement: 's', exists: true, schema: 'public', ...o });

describe('data at risk: consolidation, wording, the copy', () => {
  it('a table dropped later in the chain takes its earlier column drops with it', () => {
    const items = consolidate([
      item({ kind: 'drop-column', table: 'agent_instances', column: 'operation', rows: 3 }),
      item({ kind: 'drop-table', table: 'agent_instances', rows: 3 }),
      item({ kind: 'drop-column', table: 'runtime_revisions', column: 'agent_card', rows: 2 }),
    ]);
    assert.deepEqual(items.map(describeRisk), ['table agent_instances (3 rows) dropped', 'column runtime_revisions.agent_card (2 non-null) dropped']);
  });

  it('words each kind as the plan prints it, with thousands separators', () => {
    assert.equal(describeRisk(item({ kind: 'drop-table', table: 'eval_runs', rows: 12408 })), 'table eval_runs (12,408 rows) dropped');
    assert.equal(describeRisk(item({ kind: 'drop-column', schema: 'app', table: 'users', column: 'sso_id', rows: 9120 })), 'column app.users.sso_id (9,120 non-null) dropped');
    assert.equal(describeRisk(item({ kind: 'drop-table', table: 'gone', exists: false })), 'table gone (does not exist now) dropped');
    assert.equal(describeRisk(item({ kind: 'type-change', table: 'users', column: 'name', fromType: 'text', toType: 'varchar(40)', rows: 5 })),
      'column users.name type changed from text to varchar(40) (5 non-null)');
  });

  it('names copies <release>_<stamp>_<schema>_<table>[_<column>], cut to 63 bytes with a hash that keeps them apart', () => {
    assert.equal(archiveTableName('kagent', '20250102030405', 'public', 'agent_instances'), 'kagent_20250102030405_public_agent_instances');
    const long = 'a-release-name-that-is-quite-long-indeed-up-to-53-ch';
    const one = archiveTableName(long, '20250102030405', 'public', 'agent_instance_tasks');
    const two = archiveTableName(long, '20250102030405', 'public', 'agent_instance_tags');
    assert.ok(Buffer.byteLength(one) <= 63 && Buffer.byteLength(two) <= 63, `${one} ${two}`);
    assert.notEqual(one, two);
  });

  it('copies whole tables, and the primary key with a dropped column; restores with INSERT or UPDATE', () => {
    const copies = planArchive('kagent', '20250102030405', [
      item({ kind: 'drop-table', table: 'agent_instances', rows: 3 }),
      item({ kind: 'drop-column', table: 'runtime_revisions', column: 'agent_card', rows: 2, key: ['id'] }),
      item({ kind: 'drop-table', table: 'missing', exists: false }),
      item({ kind: 'unknown', reason: 'DO block', exists: undefined }),
    ]);
    assert.deepEqual(copies.map(copyStatement), [
      'CREATE TABLE "schema_rollback_archive"."kagent_20250102030405_public_agent_instances" AS SELECT * FROM "public"."agent_instances"',
      'CREATE TABLE "schema_rollback_archive"."kagent_20250102030405_public_runtime_revisions_agent_card" AS SELECT "id", "agent_card" FROM "public"."runtime_revisions" WHERE "agent_card" IS NOT NULL',
    ]);
    assert.deepEqual(copies.map(restoreStatement), [
      'INSERT INTO "public"."agent_instances" SELECT * FROM "schema_rollback_archive"."kagent_20250102030405_public_agent_instances" ON CONFLICT DO NOTHING',
      'UPDATE "public"."runtime_revisions" AS t SET "agent_card" = a."agent_card" FROM "schema_rollback_archive"."kagent_20250102030405_public_runtime_revisions_agent_card" AS a WHERE t."id" = a."id"',
    ]);
  });
});

describe('rollback command: --archive-max-size and the confirmation', () => {
  it('reads sizes with units, and refuses what is not one (exit 2)', () => {
    assert.equal(parseSize('1GiB'), 1024 ** 3);
    assert.equal(parseSize('500MB'), 500e6);
    assert.equal(parseSize('1073741824'), 1073741824);
    assert.throws(() => parseSize('lots'), (err: Error & { code?: number; hint?: string }) => err.code === 2 && /500MB/.test(err.hint ?? ''));
  });

  const plan = (dataAtRisk: DataAtRisk[], enabled = true) =>
    ({ release: { name: 'kagent' }, dataAtRisk, archive: { enabled, schema: 'schema_rollback_archive', maxBytes: 1, bytes: 0 } }) as unknown as RollbackPlan;

  it('asks y/N when nothing stored is destroyed, and for the release name, naming the row counts, when something is', () => {
    const plain = confirmationQuestion(plan([item({ kind: 'drop-table', table: 'empty', rows: 0 })]));
    assert.equal(plain.question, 'Proceed? [y/N] ');
    assert.ok(plain.accepts('y'));
    const q = confirmationQuestion(plan([item({ kind: 'drop-table', table: 'pipeline_runs', rows: 1204 }), item({ kind: 'drop-column', table: 'users', column: 'sso_id', rows: 9120 })], false));
    assert.match(q.question, /table pipeline_runs \(1,204 rows\) dropped, column users\.sso_id \(9,120 non-null\) dropped\. No copy is kept \(--no-archive\)\. Type the release name \(kagent\) to proceed: $/);
    assert.ok(q.accepts('kagent'));
    assert.ok(!q.accepts('y'));
  });
});

describe('counts as people read them (formatCount)', () => {
  it('groups digits exactly as toLocaleString("en-US") does, for every magnitude and sign', () => {
    const values = [0, 1, 12, 999, 1000, 1001, 12408, 99999, 100000, 123456, 1234567, 1000000000, -1, -1234, -1234567, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
    for (const n of values) assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  });
  it('leaves what is not a safe integer to toLocaleString', () => {
    for (const n of [1.5, 2 ** 60, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  });
});
