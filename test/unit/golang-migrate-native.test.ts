import assert from 'node:assert/strict';
import { NativeStepError } from '../../src/core/errors.js';
import type { SqlClient } from '../../src/core/ports.js';
import { MigrationBodyError, runDownStep, runMigrationBody, setVersion } from '../../src/tools/golang-migrate-native.js';

const pgError = (code: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { code, ...extra });

/** Records every query; `fail` decides which one throws. */
function recorder(fail: (text: string) => unknown = () => undefined): SqlClient & { log: Array<[string, unknown[] | undefined]> } {
  const log: Array<[string, unknown[] | undefined]> = [];
  return {
    log,
    async query<R>(text: string, params?: unknown[]) {
      log.push([text, params]);
      const err = fail(text);
      if (err !== undefined) throw err;
      return { rows: [] as R[], rowCount: 0 };
    },
  };
}

const ref = { schema: 'public', table: 'schema_migrations' };
const T = '"public"."schema_migrations"';

describe('tools/golang-migrate-native: executing steps (database/postgres driver, migrate.go runMigrations)', () => {
  describe('setVersion', () => {
    // One round trip per write (a rollback of N files writes the table 2N times): the driver's
    // BEGIN, TRUNCATE, INSERT, COMMIT sent as one simple query.
    it('TRUNCATE then INSERT in one transaction, in one round trip', async () => {
      const db = recorder();
      await setVersion(db, ref, '12', true);
      assert.deepEqual(db.log, [[`BEGIN; TRUNCATE ${T}; INSERT INTO ${T} (version, dirty) VALUES (12, true); COMMIT;`, undefined]]);
    });
    it('nil and clean: no INSERT (an empty table)', async () => {
      const db = recorder();
      await setVersion(db, ref, null, false);
      assert.deepEqual(db.log.map(([q]) => q), [`BEGIN; TRUNCATE ${T}; COMMIT;`]);
    });
    it('nil and dirty: writes (-1, true) (golang-migrate issue #330)', async () => {
      const db = recorder();
      await setVersion(db, ref, null, true);
      assert.match(db.log[0]![0], /INSERT INTO "public"\."schema_migrations" \(version, dirty\) VALUES \(-1, true\)/);
    });
    it('refuses to write a version that is not an integer (it is sent as a literal)', async () => {
      const db = recorder();
      await assert.rejects(setVersion(db, ref, "1); DROP TABLE x; --", true), /not an integer/);
      assert.deepEqual(db.log, []);
    });
    it('rolls back and rethrows when a statement fails', async () => {
      const db = recorder((q) => (q.startsWith('BEGIN') ? pgError('42501', 'permission denied') : undefined));
      await assert.rejects(setVersion(db, ref, '3', false), /permission denied/);
      assert.deepEqual(db.log.map(([q]) => q.split(';')[0]), ['BEGIN', 'ROLLBACK']);
    });
  });

  describe('runMigrationBody', () => {
    it('sends the whole file as ONE query without parameters (simple protocol, implicit transaction)', async () => {
      const db = recorder();
      const body = 'DROP INDEX a;\nALTER TABLE t DROP COLUMN c;\n';
      await runMigrationBody(db, { name: '2_x.down.sql', body });
      assert.deepEqual(db.log, [[body, undefined]]);
    });
    it('runs nothing for whitespace-only text, as the driver', async () => {
      const db = recorder();
      await runMigrationBody(db, { name: '2_x.down.sql', body: ' \n\t' });
      assert.deepEqual(db.log, []);
    });
    it('reports line and column of the failing statement, and ends a transaction the file left aborted', async () => {
      const body = 'BEGIN;\nSELECT nope FROM t;\nCOMMIT;';
      const db = recorder((q) => (q === body ? pgError('42703', 'column "nope" does not exist', { position: '15' }) : undefined));
      await assert.rejects(runMigrationBody(db, { name: '5_x.down.sql', body }), (err: unknown) => {
        assert.ok(err instanceof MigrationBodyError);
        assert.equal(err.message, 'migration failed: column "nope" does not exist (line 2, column 8) in 5_x.down.sql');
        assert.equal(err.sqlState, '42703');
        return true;
      });
      assert.deepEqual(db.log.map(([q]) => q), [body, 'ROLLBACK']);
    });
    it('passes a lost connection through unchanged', async () => {
      const lost = new Error('Connection terminated');
      const db = recorder(() => lost);
      await assert.rejects(runMigrationBody(db, { name: '5_x.down.sql', body: 'SELECT 1' }), (err: unknown) => err === lost);
    });
  });

  describe('runDownStep', () => {
    const step = { from: '11', to: '10', file: { name: '000011_t.down.sql', body: 'DROP TABLE t;' } };

    it('SetVersion(prev, dirty) → body → SetVersion(prev, clean)', async () => {
      const db = recorder();
      await runDownStep(db, ref, step);
      assert.deepEqual(
        db.log.map(([q]) => /VALUES \((.*)\)/.exec(q)?.[1] ?? q),
        ['10, true', 'DROP TABLE t;', '10, false'],
      );
    });
    it('without a down file: only the two SetVersion calls', async () => {
      const db = recorder();
      await runDownStep(db, ref, { from: '2', to: '1' });
      assert.deepEqual(db.log.map(([q]) => /VALUES \((.*)\)/.exec(q)?.[1]), ['1, true', '1, false']);
    });
    it('a failing body leaves (prev, dirty) while the schema is still at the file\'s version', async () => {
      const db = recorder((q) => (q === 'DROP TABLE t;' ? pgError('42P01', 'table "t" does not exist') : undefined));
      await assert.rejects(runDownStep(db, ref, step), (err: unknown) => {
        assert.ok(err instanceof NativeStepError);
        assert.equal(err.revision, '11');
        assert.deepEqual(err.table, { version: '10', dirty: true });
        assert.equal(err.schema, 'from', 'PostgreSQL rolled the file back');
        assert.ok(err.cause instanceof MigrationBodyError);
        return true;
      });
      assert.ok(!db.log.some(([q]) => q.includes('false)')), 'never marked clean');
    });
    it('a failing first SetVersion leaves the table as it was, and the schema', async () => {
      const db = recorder((q) => (q.includes('TRUNCATE') ? pgError('42501', 'permission denied') : undefined));
      await assert.rejects(runDownStep(db, ref, step), (err: unknown) =>
        err instanceof NativeStepError && err.schema === 'from' && err.table.version === '11' && !err.table.dirty);
      assert.ok(!db.log.some(([q]) => q === 'DROP TABLE t;'), 'the file never ran');
    });
    it('a failing last SetVersion: the file ran, the schema is at the previous version, the table (prev, dirty)', async () => {
      const db = recorder((q) => (q.includes('false)') ? pgError('57014', 'canceling statement due to user request') : undefined));
      await assert.rejects(runDownStep(db, ref, step), (err: unknown) =>
        err instanceof NativeStepError && err.schema === 'to' && err.table.version === '10' && err.table.dirty);
    });
  });
});
