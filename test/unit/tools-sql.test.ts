import assert from 'node:assert/strict';
import { VersionTableError } from '../../src/core/errors.js';
import { displayName, qualifiedName, quoteIdent, sqlState, versionTableReadError } from '../../src/tools/sql.js';

describe('tools/sql', () => {
  describe('quoteIdent', () => {
    it('wraps names in double quotes', () => {
      assert.equal(quoteIdent('schema_migrations'), '"schema_migrations"');
    });
    it('keeps case and special characters inside the quotes', () => {
      assert.equal(quoteIdent('Vector Migrations'), '"Vector Migrations"');
      assert.equal(quoteIdent('a.b'), '"a.b"');
      assert.equal(quoteIdent("it's"), '"it\'s"');
    });
    it('doubles embedded double quotes, so a name cannot close the identifier', () => {
      assert.equal(quoteIdent('x"; DROP TABLE users; --'), '"x""; DROP TABLE users; --"');
      assert.equal(quoteIdent('"'), '""""');
    });
    it('refuses names PostgreSQL cannot hold', () => {
      assert.throws(() => quoteIdent(''), /empty/);
      assert.throws(() => quoteIdent('a\0b'), /NUL/);
    });
  });

  describe('qualifiedName and displayName', () => {
    it('qualifies with the schema when there is one', () => {
      assert.equal(qualifiedName({ schema: 'vector', table: 'vector_schema_migrations' }), '"vector"."vector_schema_migrations"');
      assert.equal(displayName({ schema: 'vector', table: 'vector_schema_migrations' }), 'vector.vector_schema_migrations');
    });
    it('leaves the schema to search_path when there is none', () => {
      assert.equal(qualifiedName({ table: 'alembic_version' }), '"alembic_version"');
      assert.equal(displayName({ table: 'alembic_version' }), 'alembic_version');
    });
  });

  describe('sqlState', () => {
    it('reads the SQLSTATE of a database error', () => {
      assert.equal(sqlState(Object.assign(new Error('x'), { code: '42P01' })), '42P01');
    });
    it('ignores network error codes and non-errors', () => {
      assert.equal(sqlState(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), undefined);
      assert.equal(sqlState(undefined), undefined);
      assert.equal(sqlState('42P01'), undefined);
    });
  });

  describe('versionTableReadError', () => {
    const tool = { name: 'alembic', tableShape: 'alembic_version(version_num varchar(32))' };
    const ref = { schema: 'app', table: 'alembic_version' };
    it('reports a missing column as a table of the wrong shape, with the expected shape in the hint', () => {
      const err = versionTableReadError(tool, ref, Object.assign(new Error('column "version_num" does not exist'), { code: '42703' }));
      assert.ok(err instanceof VersionTableError);
      assert.match(err.message, /app\.alembic_version does not look like a alembic version table: column "version_num" does not exist/);
      assert.match(err.hint ?? '', /version_num varchar\(32\)/);
    });
    it('reports a denied read with a GRANT hint', () => {
      const err = versionTableReadError(tool, ref, Object.assign(new Error('permission denied for table alembic_version'), { code: '42501' }));
      assert.ok(err instanceof VersionTableError);
      assert.match(err.hint ?? '', /grant SELECT on app\.alembic_version/);
    });
    it('leaves connection failures to the caller', () => {
      assert.equal(versionTableReadError(tool, ref, new Error('Connection terminated unexpectedly')), undefined);
      assert.equal(versionTableReadError(tool, ref, Object.assign(new Error('x'), { code: '57P01' })), undefined);
    });
  });
});
