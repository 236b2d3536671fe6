import assert from 'node:assert/strict';
import { NativeStepError } from '../../src/core/errors.js';
import type { SqlClient } from '../../src/core/ports.js';
import { runSqlFileStep, type SqlFileStep } from '../../src/tools/sql-file-steps.js';
import { quoteLiteral } from '../../src/core/sql-names.js';

/** A session that records each message it is sent, and fails the one that matches `failOn`. */
function recording(failOn?: RegExp): SqlClient & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    async query(text: string, params?: unknown[]) {
      sent.push(params === undefined ? text : `${text} ${JSON.stringify(params)}`);
      if (failOn?.test(text)) throw Object.assign(new Error('relation "t9" does not exist'), { code: '42P01' });
      return { rows: [{ version: '9' }] as never[], rowCount: 1 };
    },
  };
}

const step = (over: Partial<SqlFileStep> = {}): SqlFileStep => ({
  from: '9',
  statements: ['DROP TABLE t9;'],
  transactional: true,
  bookkeeping: `DELETE FROM goose_db_version WHERE version_id=${quoteLiteral('9')}`,
  check: async (db) => {
    const { rows } = await db.query<{ version: string }>('SELECT version FROM v ORDER BY id DESC LIMIT 16');
    assert.equal(rows[0]?.version, '9');
  },
  ...over,
});

describe('tools/sql-file-steps: one down step in its transaction', () => {
  it('opens the transaction in the same message as the check, then the down, then the bookkeeping with the COMMIT in one message (two round trips fewer)', async () => {
    const db = recording();
    await runSqlFileStep(db, step());
    assert.deepEqual(db.sent, ['BEGIN; SELECT version FROM v ORDER BY id DESC LIMIT 16', 'DROP TABLE t9;', "DELETE FROM goose_db_version WHERE version_id=E'9'; COMMIT"]);
  });

  it('a check with parameters, or none at all: BEGIN goes alone, still before anything else', async () => {
    const withParams = recording();
    await runSqlFileStep(withParams, step({ check: async (db) => void (await db.query('SELECT 1 FROM v WHERE version = $1', ['9'])) }));
    assert.deepEqual(withParams.sent.slice(0, 2), ['BEGIN', 'SELECT 1 FROM v WHERE version = $1 ["9"]']);
    const none = recording();
    await runSqlFileStep(none, step({ check: async () => undefined }));
    assert.deepEqual(none.sent, ['BEGIN', 'DROP TABLE t9;', "DELETE FROM goose_db_version WHERE version_id=E'9'; COMMIT"]);
  });

  it('a failing down rolls the transaction back and says nothing of the step stayed', async () => {
    const db = recording(/^DROP/);
    await assert.rejects(runSqlFileStep(db, step()), (err: unknown) => err instanceof NativeStepError && err.schema === 'from' && err.table.version === '9' && !err.table.dirty);
    assert.deepEqual(db.sent.slice(-2), ['DROP TABLE t9;', 'ROLLBACK']);
  });

  it('a failing bookkeeping write (its COMMIT never runs) rolls the transaction back and says nothing of the step stayed', async () => {
    const db = recording(/^DELETE/);
    await assert.rejects(runSqlFileStep(db, step()), (err: unknown) => err instanceof NativeStepError && err.schema === 'from' && err.table.version === '9' && !err.table.dirty);
    assert.deepEqual(db.sent.slice(-2), ["DELETE FROM goose_db_version WHERE version_id=E'9'; COMMIT", 'ROLLBACK']);
  });

  it('a trailing semicolon of the bookkeeping is not doubled before the COMMIT', async () => {
    const db = recording();
    await runSqlFileStep(db, step({ bookkeeping: `DELETE FROM pgmigrations WHERE name=${quoteLiteral('9_x')};` }));
    assert.equal(db.sent.at(-1), "DELETE FROM pgmigrations WHERE name=E'9_x'; COMMIT");
  });

  it('a file outside a transaction: each statement on its own, then the bookkeeping alone, with no COMMIT', async () => {
    const db = recording();
    await runSqlFileStep(db, step({ transactional: false }));
    assert.deepEqual(db.sent, ['SELECT version FROM v ORDER BY id DESC LIMIT 16', 'DROP TABLE t9;', "DELETE FROM goose_db_version WHERE version_id=E'9'"]);
  });
});

describe('core/sql-names: quoteLiteral', () => {
  it('doubles quotes and backslashes inside E\'\', so the value means the same whatever standard_conforming_strings is', () => {
    assert.equal(quoteLiteral('9'), "E'9'");
    assert.equal(quoteLiteral("it's"), "E'it''s'");
    assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
    assert.equal(quoteLiteral("x\\'; DROP TABLE t; --"), "E'x\\\\''; DROP TABLE t; --'");
  });
});
