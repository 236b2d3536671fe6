import assert from 'node:assert/strict';
import { UsageError, VersionTableError } from '../../src/core/errors.js';
import type { SqlClient } from '../../src/core/ports.js';
import { alembic } from '../../src/tools/alembic.js';
import { findTool, getTool, toolNames } from '../../src/tools/index.js';

function rowsDb(rows: unknown[], seen: string[] = []): SqlClient {
  return {
    async query<R>(text: string) {
      seen.push(text);
      return { rows: rows as R[], rowCount: rows.length };
    },
  };
}

describe('tools/alembic', () => {
  it('has a default down command, alembic\'s own CLI, for contracts that give none', () => {
    assert.deepEqual(alembic.offers.image?.down, ['alembic', 'downgrade', '{{ .Revision }}']);
    assert.deepEqual(alembic.offers.image?.offlineDown, ['alembic', 'downgrade', '{{ .From }}:{{ .Revision }}', '--sql'], 'offline, a downgrade needs FROM:TO');
    assert.equal(getTool('golang-migrate').offers.image, undefined, 'golang-migrate apps ship their own CLIs: the contract names it');
  });

  it('is named alembic and defaults to alembic_version', () => {
    assert.equal(alembic.name, 'alembic');
    assert.equal(alembic.defaultTable, 'alembic_version');
  });

  describe('checkRevision', () => {
    for (const ok of ['a1b2c3d4e5f6', '0010', '0001', 'x'.repeat(32), 'rev_with_underscores', 'ae1027a6acf']) {
      it(`accepts ${ok}`, () => assert.equal(alembic.checkRevision(ok), undefined));
    }
    for (const [bad, why] of [
      ['', /empty/],
      ['ab cd', /whitespace/],
      ['abcd\n', /whitespace/],
      ['x'.repeat(33), /33 characters long/],
      ['feat@head', /'@'/],
      ['-1', /'-'/],
      ['a+2', /'\+'/],
      ['heads', /symbolic/],
      ['head', /symbolic/],
    ] as const) {
      it(`refuses ${JSON.stringify(bad)}`, () => assert.match(alembic.checkRevision(bad) ?? '', why));
    }
  });

  describe('readState (with a SqlClient double)', () => {
    it('reads the unqualified table by default, and the qualified one with a schema', async () => {
      const seen: string[] = [];
      await alembic.readState(rowsDb([], seen), { table: 'alembic_version' });
      await alembic.readState(rowsDb([], seen), { schema: 'Tenant', table: 'my_versions' });
      assert.deepEqual(seen, ['SELECT version_num FROM "alembic_version"', 'SELECT version_num FROM "Tenant"."my_versions"']);
    });
    it('returns the heads sorted, exactly as stored', async () => {
      const state = await alembic.readState(rowsDb([{ version_num: 'yyyy0002' }, { version_num: '0010' }]), { table: 'alembic_version' });
      assert.deepEqual(state, { tableExists: true, revisions: ['0010', 'yyyy0002'], dirty: false });
    });
    it('refuses a NULL or non-text version_num', async () => {
      await assert.rejects(alembic.readState(rowsDb([{ version_num: null }]), { table: 'alembic_version' }), VersionTableError);
      await assert.rejects(alembic.readState(rowsDb([{ version_num: 10 }]), { table: 'alembic_version' }), VersionTableError);
    });
  });
});

describe('tools/index', () => {
  it('lists the registered tools', () => {
    assert.deepEqual([...toolNames], ['alembic', 'golang-migrate', 'goose', 'dbmate', 'sql-migrate', 'node-pg-migrate']);
  });
  it('finds a tool by name', () => {
    assert.equal(getTool('alembic').name, 'alembic');
    assert.equal(getTool('golang-migrate').defaultTable, 'schema_migrations');
    assert.equal(findTool('flyway'), undefined);
  });
  it('refuses an unknown name, listing the known ones', () => {
    assert.throws(
      () => getTool('flyway'),
      (err: unknown) => err instanceof UsageError && /unknown migration tool "flyway"/.test(err.message) && /alembic, golang-migrate, goose, dbmate, sql-migrate, node-pg-migrate/.test(err.hint ?? ''),
    );
  });
});
