import assert from 'node:assert/strict';
import type { SqlClient } from '../../src/core/ports.js';
import { MigrationBodyError, MigrationStepError, runDownStep, runMigrationBody, setVersion } from '../../src/tools/golang-migrate.js';

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

describe('tools/golang-migrate: executing steps (database/postgres driver, migrate.go runMigrations)', () => {
  describe('setVersion', () => {
    it('TRUNCATE then INSERT in one transaction', async () => {
      const db = recorder();
      await setVersion(db, ref, '12', true);
      assert.deepEqual(db.log, [['BEGIN', undefined], [`TRUNCATE ${T}`, undefined], [`INSERT INTO ${T} (version, dirty) VALUES ($1, $2)`, ['12', true]], ['COMMIT', undefined]]);
    });
    it('nil and clean: no INSERT (an empty table)', async () => {
      const db = recorder();
      await setVersion(db, ref, null, false);
      assert.deepEqual(db.log.map(([q]) => q), ['BEGIN', `TRUNCATE ${T}`, 'COMMIT']);
    });
    it('nil and dirty: writes (-1, true) (golang-migrate issue #330)', async () => {
      const db = recorder();
      await setVersion(db, ref, null, true);
      assert.deepEqual(db.log[2], [`INSERT INTO ${T} (version, dirty) VALUES ($1, $2)`, ['-1', true]]);
    });
    it('rolls back and rethrows when a statement fails', async () => {
      const db = recorder((q) => (q.startsWith('TRUNCATE') ? pgError('42501', 'permission denied') : undefined));
      await assert.rejects(setVersion(db, ref, '3', false), /permission denied/);
      assert.deepEqual(db.log.map(([q]) => q), ['BEGIN', `TRUNCATE ${T}`, 'ROLLBACK']);
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
        db.log.filter(([q]) => q.startsWith('INSERT') || q === 'DROP TABLE t;').map(([q, p]) => (p === undefined ? q : p)),
        [['10', true], 'DROP TABLE t;', ['10', false]],
      );
    });
    it('without a down file: only the two SetVersion calls', async () => {
      const db = recorder();
      await runDownStep(db, ref, { from: '2', to: '1' });
      assert.equal(db.log.filter(([q]) => q.startsWith('INSERT')).length, 2);
      assert.equal(db.log.length, 8);
    });
    it('a failing body leaves (prev, dirty): phase body', async () => {
      const db = recorder((q) => (q === 'DROP TABLE t;' ? pgError('42P01', 'table "t" does not exist') : undefined));
      await assert.rejects(runDownStep(db, ref, step), (err: unknown) => {
        assert.ok(err instanceof MigrationStepError);
        assert.equal(err.phase, 'body');
        assert.deepEqual(err.left, { version: '10', dirty: true });
        assert.ok(err.cause instanceof MigrationBodyError);
        return true;
      });
      assert.ok(!db.log.some(([, p]) => Array.isArray(p) && p[1] === false), 'never marked clean');
    });
    it('a failing first SetVersion leaves the table as it was: phase mark-dirty', async () => {
      const db = recorder((q) => (q.startsWith('TRUNCATE') ? pgError('42501', 'permission denied') : undefined));
      await assert.rejects(runDownStep(db, ref, step), (err: unknown) => err instanceof MigrationStepError && err.phase === 'mark-dirty' && err.left.version === '11' && !err.left.dirty);
    });
  });
});
