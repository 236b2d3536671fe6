import assert from 'node:assert/strict';
import { VersionTableError } from '../../src/core/errors.js';
import type { SqlClient } from '../../src/core/ports.js';
import { advisoryLockKey, advisoryLockKeys, generateAdvisoryLockId, golangMigrate } from '../../src/tools/golang-migrate.js';

/** A SqlClient double answering each query by the first matching pattern. */
function fakeDb(answers: Array<[RegExp, () => unknown[]]>): SqlClient & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    async query<R>(text: string) {
      queries.push(text);
      const answer = answers.find(([re]) => re.test(text));
      if (answer === undefined) throw new Error(`unexpected query ${text}`);
      const rows = answer[1]() as R[];
      return { rows, rowCount: rows.length };
    },
  };
}

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('tools/golang-migrate', () => {
  it('is named golang-migrate and defaults to schema_migrations', () => {
    assert.equal(golangMigrate.name, 'golang-migrate');
    assert.equal(golangMigrate.defaultTable, 'schema_migrations');
  });

  describe('advisoryLockKey (golang-migrate >= v4.15, reference §1)', () => {
    it('matches the reference values', () => {
      assert.equal(advisoryLockKey('app', 'public', 'schema_migrations'), 1787120056);
      // The migrate CLI hashes the URL path, leading slash included.
      assert.equal(advisoryLockKey('/app', 'public', 'schema_migrations'), 1726534663);
    });
    it('matches the v4.2–v4.14 form through generateAdvisoryLockId(db, schema)', () => {
      assert.equal(generateAdvisoryLockId('app', 'public'), 2802248011);
    });
    it('hashes the database name alone with no additional names (v4.0–v4.1)', () => {
      assert.notEqual(generateAdvisoryLockId('app'), generateAdvisoryLockId('app', 'public'));
    });
    it('is an unsigned 32-bit integer', () => {
      for (const db of ['app', 'kagent', 'a-much-longer-database-name', 'ünïcode']) {
        const key = advisoryLockKey(db, 'vector', 'vector_schema_migrations');
        assert.ok(Number.isInteger(key) && key >= 0 && key < 2 ** 32, `${db}: ${key}`);
      }
    });
    it('gives both the library and the CLI key', () => {
      assert.deepEqual(advisoryLockKeys('app', 'public', 'schema_migrations'), { library: 1787120056, cli: 1726534663 });
    });
  });

  describe('checkRevision', () => {
    for (const ok of ['0', '1', '13', '20240101120000', '9223372036854775807']) {
      it(`accepts ${ok}`, () => assert.equal(golangMigrate.checkRevision(ok), undefined));
    }
    for (const [bad, why] of [
      ['', /non-negative integers/],
      ['-1', /non-negative integers/],
      ['1.5', /non-negative integers/],
      ['v13', /non-negative integers/],
      [' 13', /non-negative integers/],
      ['000013', /without leading zeros, as "13"/],
      ['9223372036854775808', /bigint/],
      ['18446744073709551616', /bigint/],
    ] as const) {
      it(`refuses ${JSON.stringify(bad)}`, () => assert.match(golangMigrate.checkRevision(bad) ?? '', why));
    }
  });

  describe('readState (with a SqlClient double)', () => {
    it('resolves the schema with current_schema() when none is given, and quotes it', async () => {
      const db = fakeDb([
        [/current_schema/, () => [{ schema: 'My Schema' }]],
        [/FROM "My Schema"."schema_migrations"/, () => [{ version: '13', dirty: false }]],
      ]);
      assert.deepEqual(await golangMigrate.readState(db, { table: 'schema_migrations' }), { tableExists: true, revisions: ['13'], dirty: false });
    });
    it('does not ask for current_schema() when the schema is given', async () => {
      const db = fakeDb([[/FROM "vector"."vector_schema_migrations"/, () => []]]);
      assert.deepEqual(await golangMigrate.readState(db, { schema: 'vector', table: 'vector_schema_migrations' }), { tableExists: true, revisions: [], dirty: false });
      assert.equal(db.queries.length, 1);
    });
    it('reports a NULL current_schema() as VersionTableError (golang-migrate ErrNoSchema)', async () => {
      const db = fakeDb([[/current_schema/, () => [{ schema: null }]]]);
      await assert.rejects(golangMigrate.readState(db, { table: 'schema_migrations' }), VersionTableError);
    });
    it('reads version -1 (dirty nil version, issue #330) as no revision', async () => {
      const db = fakeDb([[/SELECT version, dirty/, () => [{ version: '-1', dirty: true }]]]);
      assert.deepEqual(await golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), { tableExists: true, revisions: [], dirty: true });
    });
    it('accepts an integer column read as a number', async () => {
      const db = fakeDb([[/SELECT version, dirty/, () => [{ version: 7, dirty: true }]]]);
      assert.deepEqual(await golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), { tableExists: true, revisions: ['7'], dirty: true });
    });
    for (const [what, row] of [
      ['a text version', { version: 'abc', dirty: false }],
      ['a NULL dirty flag', { version: '1', dirty: null }],
      ['a negative version other than -1', { version: '-2', dirty: false }],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const db = fakeDb([[/SELECT version, dirty/, () => [row]]]);
        await assert.rejects(golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), VersionTableError);
      });
    }
    it('refuses a table with two rows instead of picking one', async () => {
      const db = fakeDb([[/SELECT version, dirty/, () => [{ version: '1', dirty: false }, { version: '2', dirty: false }]]]);
      await assert.rejects(golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), /more than one row/);
    });
    it('passes connection failures through unchanged', async () => {
      const lost = new Error('Connection terminated unexpectedly');
      const db: SqlClient = { query: async () => Promise.reject(lost) };
      await assert.rejects(golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), (err) => err === lost);
    });
    it('maps undefined_table to tableExists=false', async () => {
      const db: SqlClient = { query: async () => Promise.reject(pgError('42P01', 'relation does not exist')) };
      assert.deepEqual(await golangMigrate.readState(db, { schema: 'public', table: 'schema_migrations' }), { tableExists: false, revisions: [], dirty: false });
    });
  });
});

describe('golang-migrate: the repair of a table a failed down left dirty', () => {
  const dirty = (version: string | undefined) => ({ revisions: version === undefined ? [] : [version], dirty: true, tableExists: true });
  const repair = golangMigrate.offers.dirty!.repair;

  it('forces the version whose down failed (PostgreSQL rolled its file back), from the plan or from the tool\'s error', () => {
    assert.deepEqual(repair(dirty('10'), ['13', '12', '11', '10', '9']), { version: '11', command: 'migrate -path DIR -database URL force 11' });
    assert.equal(repair(dirty(undefined), ['3', '2', '1'])?.version, '1', '(-1, dirty): the first migration');
    assert.equal(repair(dirty('10'), [], ['error: migration failed: division by zero in line 0: 000011_agent_instance_tasks.down.sql'])?.version, '11');
    assert.equal(repair(dirty('10'), [], ['no file named here']), undefined);
    assert.equal(repair({ revisions: ['10'], dirty: false, tableExists: true }, ['11']), undefined);
  });

  it('names the track\'s own version table in the URL, as the migrate CLI reads it', () => {
    assert.equal(repair(dirty('1'), ['3', '2'], [], { table: 'vector_schema_migrations' })?.command, "migrate -path DIR -database 'URL?x-migrations-table=vector_schema_migrations' force 2");
    assert.equal(repair(dirty('1'), ['2'], [], { table: 'schema_migrations', schema: 'ops' })?.command, `migrate -path DIR -database 'URL?x-migrations-table="ops"."schema_migrations"&x-migrations-table-quoted=1' force 2`);
  });
});
