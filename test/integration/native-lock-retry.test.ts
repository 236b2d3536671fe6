/**
 * No blocked traffic (issue 13, item 3) on real PostgreSQL, every tested major, for golang-migrate
 * (marks its table dirty before a file: the runner writes (from, clean) back before trying again)
 * and goose (the down and its bookkeeping in one transaction). Another session holds a lock on the
 * table the newest down drops: the down gives up after lock_timeout, is tried again after a
 * backoff, and finishes once the lock is released; a concurrent SELECT on that table never waits
 * longer than the lock timeout; a budget spent or an interrupt during the backoff leaves the track
 * whole, at the version before the step.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { InterruptedError, StepFailedError } from '../../src/core/errors.js';
import type { MigrationFile, RunnerContext, TrackStep } from '../../src/core/ports.js';
import type { LockWaitPolicy } from '../../src/core/lock-wait.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { getTool } from '../../src/tools/index.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { golangMigrateCase } from './native-cases/golang-migrate.js';
import { gooseCase } from './native-cases/goose.js';
import type { ConformanceCase } from './native-cases/types.js';

const connector = createPostgresConnector();
const LOCK_TIMEOUT_MS = 300;
/** Generous for a loaded machine: the bound under test is the lock timeout, not the speed of the machine. */
const MARGIN_MS = 2_500;

/**
 * The case's files, the newest down touching t_1 before it drops t_4 (which the other session
 * locks): when the DROP gives up, the whole down must have rolled back, the COMMENT with it.
 */
function filesOf(c: ConformanceCase): MigrationFile[] {
  return c.files().map((f) => ({ ...f, body: f.body.replace('DROP TABLE t_4;', "COMMENT ON TABLE t_1 IS 'the down of 4 began';\nDROP TABLE t_4;") }));
}

function runnerFor(c: ConformanceCase, lockWait: Partial<LockWaitPolicy>) {
  return createNativeRunner({
    connector,
    loadSource: async () => ({ origin: `${c.tool} case/`, files: filesOf(c) }),
    driverFor: (tool) => (tool === c.tool ? c.driver : undefined),
    lockWait: { lockTimeoutMs: LOCK_TIMEOUT_MS, ...lockWait },
  });
}

const step = (c: ConformanceCase): TrackStep => ({ track: 'main', tool: c.tool, table: { table: c.table }, current: ['4'], target: '2', revisions: ['4', '3'] });

async function readState(c: ConformanceCase, url: string) {
  const session = await connector.connect(url);
  try {
    // Where the track stands; the list of applied rows (tools keeping one each) is checked on its own.
    const { applied: _applied, ...state } = await getTool(c.tool).readState(session, { table: c.table });
    return state;
  } finally {
    await session.close();
  }
}

/** A session of its own, as the app's: pid, queries. */
async function session(url: string): Promise<pg.Client & { pid: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const pid = Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
  return Object.assign(client, { pid });
}

/** Resolves once some session waits for a lock on `table` (the down's DROP queued behind the holder). */
async function someoneWaitsFor(url: string, table: string): Promise<void> {
  for (;;) {
    const [row] = await query<{ waiting: string }>(url, `SELECT count(*)::text AS waiting FROM pg_locks WHERE relation = '${table}'::regclass AND NOT granted`);
    if (row!.waiting !== '0') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tableExists = async (url: string, table: string) =>
  (await query<{ found: boolean }>(url, `SELECT to_regclass('${table}') IS NOT NULL AS found`))[0]!.found;
const commentOnT1 = async (url: string) => (await query<{ c: string | null }>(url, "SELECT obj_description('t_1'::regclass, 'pg_class') AS c"))[0]!.c;

describe('native runner: no blocked traffic (lock_timeout, retried with backoff)', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(testedMajors());
  });

  for (const major of testedMajors()) {
    for (const c of [golangMigrateCase, gooseCase]) {
      describe(`PostgreSQL ${major}: ${c.tool}`, () => {
        let db: FreshDatabase;
        let holder: pg.Client & { pid: number };
        beforeEach(async () => {
          db = await freshDatabase(major);
          await c.migrateUp(db.url, filesOf(c), '4');
          holder = await session(db.url);
          await holder.query('BEGIN');
          await holder.query('LOCK TABLE t_4 IN ACCESS SHARE MODE');
        });
        afterEach(async () => {
          await holder.end().catch(() => undefined);
          await db.drop();
        });

        it('waits its lock_timeout, tries again, finishes once the lock is released; a concurrent SELECT never waits longer than the timeout; the table ends as the tool leaves it', async () => {
          const lines: string[] = [];
          let released: Promise<unknown> | undefined;
          const ctx: RunnerContext = {
            databaseUrl: db.url,
            log: { debug: () => undefined },
            onOutput: (line) => {
              lines.push(line);
              // The holder lets go only after the second retry was announced: the run must have waited, given up and tried again twice.
              if (/retry 2 of/.test(line)) released ??= holder.query('COMMIT');
            },
          };
          const running = runnerFor(c, { retries: 10, firstBackoffMs: 200, maxBackoffMs: 400 }).run(step(c), ctx);

          // The app's read of the table while the down's DROP waits: never longer than the lock timeout
          // (without it, it would queue behind the DROP's request until the holder lets go: here, never).
          await someoneWaitsFor(db.url, 't_4');
          const reader = await session(db.url);
          try {
            await reader.query("SET statement_timeout = '20s'");
            const began = performance.now();
            await reader.query('SELECT count(*) FROM t_4');
            const waited = performance.now() - began;
            assert.ok(waited < LOCK_TIMEOUT_MS + MARGIN_MS, `the SELECT waited ${Math.round(waited)} ms, over lock_timeout ${LOCK_TIMEOUT_MS} ms + ${MARGIN_MS} ms`);
          } finally {
            await reader.end();
          }

          await running;
          await released;
          const waits = lines.filter((l) => /waiting for a lock/.test(l));
          assert.ok(waits.length >= 2, `each retry announced:\n${lines.join('\n')}`);
          assert.match(waits[0]!, new RegExp(`^main: 4 -> 3: waiting for a lock: table (public\\.)?t_4 held by pid ${holder.pid} \\(idle in transaction: "LOCK TABLE t_4 IN ACCESS SHARE MODE"\\);.* retry 1 of 10 in 200 ms$`));
          assert.match(waits[1]!, /retry 2 of 10 in 400 ms$/);
          assert.deepEqual(await c.readRows(db.url), c.rowsAt('2'));
          assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: ['2'], dirty: false });
          assert.equal(await tableExists(db.url, 't_4'), false);
          assert.equal(await tableExists(db.url, 't_3'), false);
          assert.equal(await tableExists(db.url, 't_2'), true);
        });

        it('a budget spent: StepFailedError naming the holder and how to end it; the track whole at 4, clean, nothing of the down kept', async () => {
          const err = await runnerFor(c, { retries: 2, firstBackoffMs: 50, maxBackoffMs: 50 })
            .run(step(c), { databaseUrl: db.url, log: { debug: () => undefined }, onOutput: () => undefined })
            .then(() => assert.fail('the down ran though the lock was never released'), (e: unknown) => e);
          assert.ok(err instanceof StepFailedError, String(err));
          assert.equal(err.revision, '4');
          assert.match(err.message, new RegExp(`gave up waiting for a lock after 3 tries \\(lock_timeout 300 ms each, 100 ms between them\\): table (public\\.)?t_4 held by pid ${holder.pid}`));
          assert.match(err.hint ?? '', new RegExp(`holds 4, as before it.*pg_terminate_backend\\(${holder.pid}\\).*--lock-retries`));
          // golang-migrate's (3, dirty) mark, written before the file, is written back to (4, clean).
          assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: ['4'], dirty: false });
          assert.deepEqual(await c.readRows(db.url), c.rowsAt('4'));
          await holder.query('COMMIT');
          assert.equal(await tableExists(db.url, 't_4'), true);
          assert.equal(await commentOnT1(db.url), null, 'the statement before the DROP rolled back with it');

          // Once the holder is gone, the same run goes through.
          await runnerFor(c, {}).run(step(c), { databaseUrl: db.url, log: { debug: () => undefined }, onOutput: () => undefined });
          assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: ['2'], dirty: false });
        });

        it('an interrupt during the backoff stops at once, the step not tried again: InterruptedError, the track whole at 4', async () => {
          const stop = new AbortController();
          const lines: string[] = [];
          // A backoff of a minute: only the interrupt can end this test in time.
          const err = await runnerFor(c, { retries: 5, firstBackoffMs: 60_000, maxBackoffMs: 60_000 })
            .run(step(c), {
              databaseUrl: db.url,
              log: { debug: () => undefined },
              stop: stop.signal,
              onOutput: (line) => {
                lines.push(line);
                if (/retry 1 of/.test(line)) stop.abort();
              },
            })
            .then(() => assert.fail('the run went on after the interrupt'), (e: unknown) => e);
          assert.ok(err instanceof InterruptedError, String(err));
          assert.match(err.message, /stopped before trying the down of 4 again .*holds 4, as before it/);
          assert.equal(lines.filter((l) => /waiting for a lock/.test(l)).length, 1);
          assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: ['4'], dirty: false });
          assert.equal(await tableExists(db.url, 't_4'), true);
        });
      });
    }
  }

  describe(`what is not retried (PostgreSQL ${testedMajors()[0]})`, () => {
    const major = testedMajors()[0]!;
    let db: FreshDatabase;
    let holder: pg.Client & { pid: number };
    beforeEach(async () => {
      db = await freshDatabase(major);
    });
    afterEach(async () => {
      await holder?.end().catch(() => undefined);
      await db.drop();
    });

    const quiet = (url: string, lines: string[]): RunnerContext => ({ databaseUrl: url, log: { debug: () => undefined }, onOutput: (l) => lines.push(l) });
    const withDown = (c: ConformanceCase, down: (body: string) => string) => (files: MigrationFile[]) =>
      files.map((f) => (/(^0*4_.*\.down\.sql$)|(^00004_)/.test(f.name) ? { ...f, body: down(f.body) } : f));
    const run = (c: ConformanceCase, files: MigrationFile[], lockWait: Partial<LockWaitPolicy>, lines: string[]) =>
      createNativeRunner({ connector, loadSource: async () => ({ origin: 'case/', files }), driverFor: () => c.driver, lockWait: { lockTimeoutMs: LOCK_TIMEOUT_MS, ...lockWait } })
        .run(step(c), quiet(db.url, lines));

    it('goose -- +goose NO TRANSACTION, timed out after a statement ran: StepFailedError as before, not retried, the statement that ran named', async () => {
      const files = withDown(gooseCase, (body) => body.replace('-- +goose Down\n', "-- +goose Down\n-- +goose NO TRANSACTION\nCOMMENT ON TABLE t_1 IS 'ran';\n"))(gooseCase.files());
      await gooseCase.migrateUp(db.url, files, '4');
      holder = await session(db.url);
      await holder.query('BEGIN');
          await holder.query('LOCK TABLE t_4 IN ACCESS SHARE MODE');
      const lines: string[] = [];
      const err = await run(gooseCase, files, { retries: 5, firstBackoffMs: 50 }, lines).then(() => assert.fail('went through'), (e: unknown) => e);
      assert.ok(err instanceof StepFailedError, String(err));
      assert.match(err.message, /lock timeout/);
      assert.match(err.hint ?? '', /ran without a transaction and 1 of its statements took effect/);
      assert.deepEqual(lines.filter((l) => /waiting for a lock/.test(l)), []);
      await holder.query('COMMIT');
      assert.equal(await commentOnT1(db.url), 'ran');
    });

    it('golang-migrate, a file with a COMMIT of its own: not retried (what came before the COMMIT stays), the dirty table and its repair as before', async () => {
      const files = withDown(golangMigrateCase, () => "BEGIN;\nCOMMENT ON TABLE t_1 IS 'committed';\nCOMMIT;\nDROP TABLE t_4;\n")(golangMigrateCase.files());
      await golangMigrateCase.migrateUp(db.url, files, '4');
      holder = await session(db.url);
      await holder.query('BEGIN');
          await holder.query('LOCK TABLE t_4 IN ACCESS SHARE MODE');
      const lines: string[] = [];
      const err = await run(golangMigrateCase, files, { retries: 5, firstBackoffMs: 50 }, lines).then(() => assert.fail('went through'), (e: unknown) => e);
      assert.ok(err instanceof StepFailedError, String(err));
      assert.deepEqual(lines.filter((l) => /waiting for a lock/.test(l)), []);
      assert.deepEqual(await readState(golangMigrateCase, db.url), { tableExists: true, revisions: ['3'], dirty: true });
      assert.match(err.hint ?? '', /force 4/);
    });

    it('statement_timeout ends a long down: StepFailedError naming --statement-timeout, not retried', async () => {
      const files = withDown(golangMigrateCase, (body) => `SELECT pg_sleep(30);\n${body}`)(golangMigrateCase.files());
      await golangMigrateCase.migrateUp(db.url, files, '4');
      const lines: string[] = [];
      const err = await run(golangMigrateCase, files, { statementTimeoutMs: 200, retries: 5, firstBackoffMs: 50 }, lines).then(() => assert.fail('went through'), (e: unknown) => e);
      assert.ok(err instanceof StepFailedError, String(err));
      assert.match(err.message, /statement timeout/);
      assert.match(err.hint ?? '', /statement_timeout 200 ms ended it: --statement-timeout/);
      assert.deepEqual(lines.filter((l) => /waiting for a lock/.test(l)), []);
      assert.equal(await tableExists(db.url, 't_4'), true);
    });
  });
});
