import assert from 'node:assert/strict';
import { parseCount, parseDuration } from '../../src/cli/durations.js';
import { ExitCode } from '../../src/core/errors.js';
import {
  DEFAULT_LOCK_WAIT_POLICY, backoffMs, backoffSchedule, isLockTimeout, isStatementTimeout, queryGist, rollsBackWhole, sessionTimeoutsSql, waitUnless,
} from '../../src/core/lock-wait.js';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('core/lock-wait: the retry policy of a down whose lock wait timed out', () => {
  it("defaults to pgroll's: lock_timeout 500 ms, backoff 1 s doubling to 60 s; 8 retries wait about 3 minutes; statement_timeout off", () => {
    assert.equal(DEFAULT_LOCK_WAIT_POLICY.lockTimeoutMs, 500);
    assert.equal(DEFAULT_LOCK_WAIT_POLICY.statementTimeoutMs, 0);
    assert.deepEqual(backoffSchedule(DEFAULT_LOCK_WAIT_POLICY), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    assert.equal(backoffSchedule(DEFAULT_LOCK_WAIT_POLICY).reduce((a, b) => a + b), 183_000);
  });

  it('doubles from the first wait and holds at the cap; no retries, no waits; retries count from 1', () => {
    assert.deepEqual(backoffSchedule({ retries: 5, firstBackoffMs: 200, maxBackoffMs: 1_000 }), [200, 400, 800, 1_000, 1_000]);
    assert.deepEqual(backoffSchedule({ retries: 0, firstBackoffMs: 1_000, maxBackoffMs: 60_000 }), []);
    assert.equal(backoffMs(100, DEFAULT_LOCK_WAIT_POLICY), 60_000, 'no overflow far past the cap');
    assert.throws(() => backoffMs(0, DEFAULT_LOCK_WAIT_POLICY), RangeError);
  });

  it('sets both timeouts on the session in milliseconds, 0 meaning none', () => {
    assert.equal(sessionTimeoutsSql({ lockTimeoutMs: 500, statementTimeoutMs: 0 }), "SET lock_timeout = '500ms'; SET statement_timeout = '0ms'");
    assert.throws(() => sessionTimeoutsSql({ lockTimeoutMs: -1, statementTimeoutMs: 0 }), RangeError);
  });

  it('tells a lock wait that timed out (55P03, through the driver\'s wrapping) from statement_timeout and from a cancel (both 57014)', () => {
    const wrapped = (cause: unknown) => new Error('step failed', { cause: new Error('migration failed', { cause }) });
    assert.ok(isLockTimeout(wrapped(pgError('55P03', 'canceling statement due to lock timeout'))));
    assert.ok(!isLockTimeout(wrapped(pgError('57014', 'canceling statement due to statement timeout'))));
    assert.ok(isStatementTimeout(wrapped(pgError('57014', 'canceling statement due to statement timeout'))));
    assert.ok(!isStatementTimeout(wrapped(pgError('57014', 'canceling statement due to user request'))));
    assert.ok(!isLockTimeout(new Error('no SQLSTATE')));
  });

  describe('rollsBackWhole: only a down whose failure leaves nothing behind is tried again', () => {
    for (const sql of [
      'DROP TABLE t_4;',
      "COMMENT ON TABLE t_1 IS 'x'; DROP TABLE t_4;",
      "DO $$ BEGIN IF EXISTS (SELECT 1) THEN DROP TABLE t_4; END IF; END $$;",
      "-- COMMIT; in a comment\nALTER TABLE t DROP COLUMN c; UPDATE t SET note = 'begin; commit';",
    ]) {
      it(`whole: ${JSON.stringify(sql)}`, () => assert.equal(rollsBackWhole(sql), true));
    }
    for (const sql of [
      'BEGIN; DROP TABLE a; COMMIT; DROP TABLE b;',
      'DROP TABLE a; COMMIT; DROP TABLE b;',
      'START TRANSACTION; DROP TABLE a; END;',
      'CALL archive_and_drop();',
      'DROP INDEX CONCURRENTLY idx_a;',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON a (b);',
      'DO $$ BEGIN DELETE FROM a; COMMIT; DROP TABLE b; END $$;',
      'VACUUM a;',
    ]) {
      it(`not whole: ${JSON.stringify(sql)}`, () => assert.equal(rollsBackWhole(sql), false));
    }
  });

  it("shows another session's query with its literals elided (they may hold secrets), short", () => {
    assert.equal(queryGist('LOCK TABLE t_4 IN ACCESS SHARE MODE'), 'LOCK TABLE t_4 IN ACCESS SHARE MODE');
    assert.equal(queryGist("ALTER ROLE app PASSWORD 'hunter2hunter2'"), "ALTER ROLE app PASSWORD '…'");
    assert.equal(queryGist('SELECT count(*) FROM public.t WHERE token = $tok$s3cret$tok$'), "SELECT count(*) FROM public.t WHERE token = '…'");
    assert.equal(queryGist(`SELECT ${'x, '.repeat(100)}y`).length, 80);
  });

  it('waits the whole time unless a signal fires first', async () => {
    const stop = new AbortController();
    const waiting = waitUnless(60_000, [stop.signal, undefined]);
    stop.abort();
    assert.equal(await waiting, false);
    assert.equal(await waitUnless(1, [new AbortController().signal]), true);
    assert.equal(await waitUnless(60_000, [AbortSignal.abort()]), false, 'an interrupt already given: no wait at all');
  });
});

describe('cli/durations: --lock-timeout, --statement-timeout (as helm --timeout) and --lock-retries', () => {
  it('reads Go durations into milliseconds; 0 alone needs no unit', () => {
    assert.equal(parseDuration('500ms', '--lock-timeout'), 500);
    assert.equal(parseDuration('2s', '--lock-timeout'), 2_000);
    assert.equal(parseDuration('1.5s', '--lock-timeout'), 1_500);
    assert.equal(parseDuration('1m30s', '--statement-timeout'), 90_000);
    assert.equal(parseDuration('1h', '--statement-timeout'), 3_600_000);
    assert.equal(parseDuration('0', '--statement-timeout'), 0);
    assert.equal(parseDuration('0s', '--lock-timeout'), 0);
  });

  for (const [text, why] of [['500', /has no unit/], ['2 seconds', /is not a duration/], ['-1s', /is not a duration/], ['', /is not a duration/], ['0.1ms', /shorter than a millisecond/], ['25d', /is not a duration/], ['600h', /longer than PostgreSQL takes/]] as const) {
    it(`refuses ${JSON.stringify(text)} (exit 2), naming the flag and the forms it takes`, () => {
      assert.throws(() => parseDuration(text, '--lock-timeout'), (err: Error & { code?: number; hint?: string }) =>
        err.code === ExitCode.usage && err.message.startsWith(`--lock-timeout ${JSON.stringify(text)} `) && why.test(err.message) && /500ms, 2s, 1m30s/.test(err.hint ?? ''));
    });
  }

  it('reads a retry count from 0 to the limit, refusing anything else (exit 2)', () => {
    assert.equal(parseCount('0', '--lock-retries', 100), 0);
    assert.equal(parseCount('8', '--lock-retries', 100), 8);
    for (const text of ['-1', '2.5', 'many', '101']) {
      assert.throws(() => parseCount(text, '--lock-retries', 100), (err: Error & { code?: number }) => err.code === ExitCode.usage && /--lock-retries/.test(err.message));
    }
  });
});
