/**
 * The native runner: the plugin itself runs the CURRENT (newer) release's down files over its own
 * PostgreSQL session, through the tool's native driver (NativeDriver in src/core/ports.ts: the
 * tool's own bookkeeping, transactions and locks), so the version table ends exactly as the tool's
 * own down command would leave it, and a failure leaves it as the tool would.
 *
 * Everything that is not the tool's is here, once for every driver (golang-migrate keeps its
 * drivers dumb the same way): refusing an incomplete plan, checking the files revert what the plan
 * said, the locks with a bounded wait, the table re-read under them, stopping between files on an
 * interrupt, turning a driver's failure into the repair, and the end-state check.
 *
 * Order: read the files (no lock held while reading or downloading) → plan → connect → the driver
 * resolves the table and names its locks → take each (bounded wait) → read the table under the
 * locks and refuse if it is dirty or moved since the plan → set lock_timeout and statement_timeout
 * → run each down (one whose lock wait timed out and left nothing behind is tried again after a
 * backoff, core/lock-wait.ts) → check the end state → unlock, close.
 */
import { BASE } from '../core/contract.js';
import { InterruptedError, LockedError, NativeStepError, RefusedError, StepFailedError } from '../core/errors.js';
import type {
  DatabaseConnector, DatabaseSession, MigrationFile, MigrationTool, NativeDown, NativeDriver, NativeTable, PlannedDown, Runner, RunnerContext, TrackState, TrackStep,
} from '../core/ports.js';
import { dirtyRepairAdvice } from '../core/run-lock.js';
import { getTool, toolNames } from '../tools/index.js';
import { displayName, qualifiedName, sqlState } from '../tools/sql.js';
import { DEFAULT_LOCK_WAIT_POLICY, backoffMs, backoffSchedule, isLockTimeout, isStatementTimeout, lockHolder as relationLockHolder, rollsBackWhole, sessionTimeoutsSql, spoken, waitUnless, type LockWaitPolicy } from '../core/lock-wait.js';

/** One track's migration files as read from the source, before any tool parses them. */
export interface TrackFiles {
  /** Where the files came from, for messages ("kagent.tgz:core/"). */
  origin: string;
  files: MigrationFile[];
}

export interface NativeRunnerDeps {
  connector: DatabaseConnector;
  /** The migration files of the release that is running now, for one track. */
  loadSource: (track: string) => Promise<TrackFiles>;
  /** The tool's native driver; undefined for a tool the plugin cannot run natively (refused, pointing to the job runner). */
  driverFor: (tool: string) => NativeDriver | undefined;
  /** How long to wait for the tool's advisory locks, all of them together. Default 15 000 ms, the migrate CLI's -lock-timeout. */
  lockTimeoutMs?: number;
  /**
   * The downs' session: lock_timeout and statement_timeout, and how a step whose lock wait timed
   * out is tried again (--lock-timeout, --statement-timeout, --lock-retries). Default: pgroll's
   * (DEFAULT_LOCK_WAIT_POLICY).
   */
  lockWait?: Partial<LockWaitPolicy>;
  /**
   * --allow-missing-downs: the tool's own semantics for a version without a down file (the table
   * moves past it, nothing runs) and for a hole in one-by-one numbering (stepped over). Default:
   * such a plan is refused, since what those versions created would stay.
   */
  allowMissingDowns?: boolean;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;

/** How often PostgreSQL checks, during a file, that the plugin is still there (see checkClientConnection). */
const CLIENT_CHECK_MS = 250;

const version = (v: string | null) => (v === null ? 'nothing (base)' : v);
const listed = (names: readonly string[]) => (names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`);
const current = (step: TrackStep) => step.current[0] ?? null;
const target = (step: TrackStep) => (step.target === BASE ? null : step.target);

/** Equal as the tool stores them: golang-migrate's "013" in a plan is the 13 of its table. */
function same(tool: MigrationTool, a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return a === b || tool.order?.compare?.(a, b) === 0;
}

export function createNativeRunner(deps: NativeRunnerDeps): Runner {
  const lockTimeoutMs = Math.max(1, deps.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const given = Object.entries(deps.lockWait ?? {}).filter(([, v]) => v !== undefined);
  const lockWait: LockWaitPolicy = { ...DEFAULT_LOCK_WAIT_POLICY, ...Object.fromEntries(given) };
  const driverOf = (step: TrackStep): NativeDriver => {
    const driver = deps.driverFor(step.tool);
    if (driver === undefined) {
      const native = toolNames.filter((name) => deps.driverFor(name) !== undefined);
      throw new RefusedError(
        [`track ${step.track}: the native runner runs ${listed(native)} down files, not ${step.tool} (it has no driver for ${step.tool}: the plugin never writes ${step.tool}'s version table itself)`],
        "use --runner job: the app's own tool runs the downs in its image",
      );
    }
    return driver;
  };
  // Each track's files are read once and its downs planned once per runner: the plan's preview,
  // its data at risk and the run all work from the same files (what was measured is what runs),
  // and 10,000 files are neither read nor parsed three times. A failed read is not kept.
  const sources = new Map<string, Promise<TrackFiles>>();
  const sourceOf = (track: string): Promise<TrackFiles> => {
    let loading = sources.get(track);
    if (loading === undefined) {
      loading = deps.loadSource(track);
      sources.set(track, loading);
      loading.catch(() => sources.delete(track));
    }
    return loading;
  };
  const planned = new Map<string, { downs: NativeDown[]; ignored: string[] }>();
  /** The driver's downs for the step, refused when incomplete (unless allowed). */
  const downsFor = async (step: TrackStep, driver: NativeDriver) => {
    const source = await sourceOf(step.track);
    const key = JSON.stringify([step.track, step.tool, step.current, step.target, step.applied ?? null]);
    const known = planned.get(key);
    if (known !== undefined) return { source, ...known };
    const plan = driver.planDowns(source.files, current(step), target(step), source.origin);
    if (!deps.allowMissingDowns) refuseIncomplete(step, source.origin, plan.downs);
    refuseUnknownApplied(step, source);
    planned.set(key, plan);
    return { source, ...plan };
  };
  return {
    name: 'native',
    async preview(step: TrackStep): Promise<PlannedDown[]> {
      const driver = driverOf(step);
      return plannedDowns((await downsFor(step, driver)).downs);
    },
    async downScripts(step: TrackStep): Promise<Array<{ file: string; sql: string }>> {
      const driver = driverOf(step);
      return (await downsFor(step, driver)).downs.flatMap((down) => (down.file !== undefined ? [{ file: down.file, sql: down.sql }] : []));
    },
    async run(step: TrackStep, ctx: RunnerContext): Promise<void> {
      const driver = driverOf(step);
      const tool = getTool(step.tool);
      if (step.current.length > 1) {
        throw new RefusedError([`track ${step.track}: ${tool.name} keeps one version, the plan names ${step.current.join(', ')}`]);
      }
      // Files first: nothing is locked while they are read or downloaded (or were, for the plan).
      const { source, downs, ignored } = await downsFor(step, driver);
      if (ignored.length > 0) ctx.log.debug(`native: ${source.origin}: ${tool.name} ignores ${ignored.join(', ')}`);
      const reverts = downs.map((d) => d.from);
      if (reverts.length !== step.revisions.length || reverts.some((r, i) => !same(tool, r, step.revisions[i]!))) {
        throw new RefusedError(
          [`track ${step.track}: the files in ${source.origin} revert ${reverts.join(', ') || 'nothing'}, the plan said ${step.revisions.join(', ') || 'nothing'}`],
          'plan again with the same migration source (--source) the rollback runs with',
        );
      }

      const session = await deps.connector.connect(ctx.databaseUrl);
      try {
        await checkClientConnection(session, ctx);
        const table = await driver.open(session, step.table);
        const held = await acquireLocks(session, table, lockTimeoutMs, step.track);
        try {
          ctx.log.debug(`native: track ${step.track}: holding ${held.map((k) => `pg_advisory_lock(${k})`).join(', ') || 'no lock of the tool'} for ${displayName(table)}`);
          await cancellable(session, deps.connector, ctx, () => runLocked(session, { step, tool, driver, table, downs, lockWait }, ctx));
        } finally {
          await releaseLocks(session, held, ctx);
        }
      } finally {
        await session.close();
      }
    },
  };
}

/** What one track's run works with, once planned and locked. */
interface LockedRun {
  step: TrackStep;
  tool: MigrationTool;
  driver: NativeDriver;
  table: NativeTable;
  downs: NativeDown[];
  lockWait: LockWaitPolicy;
}

async function runLocked(session: DatabaseSession, run: LockedRun, ctx: RunnerContext): Promise<void> {
  const { step, tool, table, downs } = run;
  const where = displayName(table);
  const ref = { schema: table.schema, table: table.table };
  const state = await tool.readState(session, ref);
  refuseChangedSincePlan(run, state, where);
  // Nothing applied and no table: nothing to run, and nothing is created (the database stays as found).
  if (!state.tableExists) return;
  // Set after the advisory locks (their wait is bounded on its own) and the reads above; from here
  // every statement, the tool's bookkeeping included, gives up on a lock after lock_timeout.
  await session.query(sessionTimeoutsSql(run.lockWait));
  ctx.log.debug(`native: track ${step.track}: lock_timeout ${run.lockWait.lockTimeoutMs} ms, statement_timeout ${run.lockWait.statementTimeoutMs} ms`);

  for (const [i, down] of downs.entries()) {
    // A first interrupt ends the track on a whole file: the one running finishes, no other starts.
    if (i > 0 && (ctx.stop?.aborted || ctx.abort?.aborted)) {
      const last = downs[i - 1]!;
      throw new InterruptedError(`track ${step.track}: stopped after the down of ${last.from}; ${where} holds ${version(last.to)}`);
    }
    ctx.onOutput(`${step.track}: ${down.from} -> ${version(down.to)}${down.file === undefined ? ' (no down file: version moves, nothing runs)' : ` (${down.file})`}`);
    await runDownRetrying(session, run, down, ctx);
  }

  const end = await tool.readState(session, ref);
  const landed = end.revisions.length > 1 ? end.revisions.join(',') : (end.revisions[0] ?? null);
  if (end.dirty || !same(tool, landed, target(step))) {
    throw new StepFailedError(
      step.track,
      downs[downs.length - 1]?.from ?? current(step) ?? '-',
      new Error(`after the downs ${where} holds ${version(landed)}${end.dirty ? ' (dirty)' : ''}, expected ${version(target(step))}`),
      'something else wrote the version table while the lock was held: inspect it before doing anything else',
    );
  }
}

/**
 * One down; when it gave up on a lock wait (lock_timeout) and nothing of it stayed, tried again after
 * a backoff, up to lockWait.retries times, each wait reported and cut short by an interrupt (the
 * step then not started again). Any other failure, or one that may have left part of the step
 * behind, becomes StepFailedError with the repair, as without retries.
 */
async function runDownRetrying(session: DatabaseSession, run: LockedRun, down: NativeDown, ctx: RunnerContext): Promise<void> {
  const { step, driver, table, lockWait } = run;
  const where = displayName(table);
  const arrow = `${step.track}: ${down.from} -> ${version(down.to)}`;
  for (let retry = 1; ; retry++) {
    try {
      await driver.runDown(session, table, down);
      return;
    } catch (err) {
      if (!(err instanceof NativeStepError)) throw err;
      if (lockWait.lockTimeoutMs === 0 || !isLockTimeout(err) || !(await leftWhole(session, run, down, err, ctx))) {
        const timedOut = isStatementTimeout(err)
          ? ` (statement_timeout ${spoken(lockWait.statementTimeoutMs)} ended it: --statement-timeout sets another, 0 for none)`
          : '';
        throw new StepFailedError(step.track, down.from, err.cause ?? err, `${stepFailedHint(run, where, down, err)}${timedOut}`);
      }
      const holder = await relationLockHolder(session, down.sql, qualifiedName(table));
      const held = holder?.text ?? 'a lock held by another session';
      if (retry > lockWait.retries) throw lockBudgetSpent(run, down, held, holder?.pid);
      const wait = backoffMs(retry, lockWait);
      ctx.onOutput(`${arrow}: waiting for a lock: ${held}; gave up after lock_timeout ${spoken(lockWait.lockTimeoutMs)}, nothing of the down stayed; retry ${retry} of ${lockWait.retries} in ${spoken(wait)}`);
      if (!(await waitUnless(wait, [ctx.stop, ctx.abort]))) {
        throw new InterruptedError(`track ${step.track}: stopped before trying the down of ${down.from} again (it waited for a lock: ${held}); ${where} holds ${down.from}, as before it`);
      }
    }
  }
}

/**
 * After a lock wait that timed out: whether nothing of the step stayed, so that it can run again.
 * The driver must say the schema is still at `from` (its transaction, or the file's one implicit
 * transaction, rolled back), the SQL must have no transaction control of its own (rollsBackWhole),
 * and the version table must say (from, clean) again: as the driver left it (most tools write it
 * in the down's transaction), or written back by the driver (golang-migrate marks (previous, dirty)
 * before the file runs: the runner, which holds golang-migrate's lock and knows the file rolled
 * back whole, writes (from, clean) back, what `migrate force FROM` would write), then read back.
 */
async function leftWhole(session: DatabaseSession, run: LockedRun, down: NativeDown, err: NativeStepError, ctx: RunnerContext): Promise<boolean> {
  const { tool, driver, table } = run;
  if (err.schema !== 'from' || !rollsBackWhole(down.sql)) return false;
  if (!err.table.dirty && same(tool, err.table.version, down.from)) return true;
  if (driver.restoreBeforeStep === undefined) return false;
  try {
    await driver.restoreBeforeStep(session, table, down);
    const state = await tool.readState(session, { schema: table.schema, table: table.table });
    return !state.dirty && state.revisions.length === 1 && same(tool, state.revisions[0]!, down.from);
  } catch (restoreErr) {
    ctx.log.debug(`native: writing ${down.from} back after the lock wait failed: ${restoreErr instanceof Error ? restoreErr.message : String(restoreErr)}`);
    return false;
  }
}

/** Every retry of a step gave up on a lock: nothing of the step stayed; who holds the lock and how to go on. */
function lockBudgetSpent({ step, table, lockWait }: LockedRun, down: NativeDown, held: string, pid: number | undefined): StepFailedError {
  const waited = backoffSchedule(lockWait).reduce((a, b) => a + b, 0);
  const end = pid === undefined
    ? 'find the session holding it (pg_locks joined with pg_stat_activity), let it finish or end it'
    : `let pid ${pid} finish, or end it ("SELECT pg_terminate_backend(${pid})")`;
  return new StepFailedError(
    step.track,
    down.from,
    new Error(`gave up waiting for a lock after ${lockWait.retries + 1} tries (lock_timeout ${spoken(lockWait.lockTimeoutMs)} each, ${spoken(waited)} between them): ${held}`),
    `nothing of this step stayed: ${displayName(table)} holds ${down.from}, as before it (the downs before it are done). ${end[0]!.toUpperCase()}${end.slice(1)}, then re-run the rollback; ` +
      'or wait longer with --lock-retries N (or --lock-timeout DURATION)',
  );
}

/** Under the locks: the table must still be clean and where the plan found it. */
function refuseChangedSincePlan({ step, tool }: LockedRun, state: TrackState, where: string): void {
  if (state.dirty) {
    const at = state.revisions.join(',') || '-1';
    const repair = dirtyRepairAdvice(tool, state, step.revisions, [], step.table);
    throw new RefusedError(
      [`track ${step.track}: ${tool.name} table ${where} is dirty at ${at}: a migration step started and did not finish since the plan`],
      repair !== undefined
        ? `${repair}, then re-run the rollback`
        : `see which statements of the failed step ran, make the schema match one version, mark that version clean with ${tool.name}'s own command, then re-run the rollback`,
    );
  }
  const found = state.revisions;
  if (found.length !== step.current.length || found.some((r, i) => !same(tool, r, step.current[i]!))) {
    throw new RefusedError(
      [`track ${step.track}: ${where} holds ${found.join(', ') || version(null)}, the plan was made at ${step.current.join(', ') || version(null)}`],
      'something migrated since the plan: plan again',
    );
  }
}

/** The repair after a failed down, from what the driver says the table holds and where the schema is. */
function stepFailedHint({ step, tool }: LockedRun, where: string, down: NativeDown, err: NativeStepError): string {
  const { table, schema } = err;
  const holds = table.dirty ? `(${table.version ?? '-1'}, dirty=true), as ${tool.name} leaves it,` : version(table.version);
  const markClean = (v: string | null) => {
    const command = v === null ? undefined : markCleanCommand(tool, v, step);
    return command !== undefined ? `run "${command}"` : `mark ${version(v)} clean with ${tool.name}'s own command`;
  };
  if (schema === 'partial') {
    return (
      `the down of ${down.from} ran without a transaction and ${err.statementsRun ?? 'some'} of its statements took effect before it failed; ${where} holds ${holds} ` +
      `while the schema is part way from ${down.from} to ${version(down.to)}. Check which statements of ${down.file ?? 'the down'} ran, undo them by hand (or finish the down by hand and record ${version(down.to)} with ${tool.name}), then re-run the rollback`
    );
  }
  const real = schema === 'from' ? down.from : down.to;
  if (!table.dirty && same(tool, table.version, real)) {
    return `nothing of this step stayed; ${where} still holds ${version(table.version)}. Fix the cause (${err.message}), then re-run the rollback`;
  }
  // golang-migrate: a failed body ran as one implicit transaction, so PostgreSQL undid all of it:
  // the schema is still at `from`, though the table says (previous, dirty). After "mark clean"
  // failed, the file did run: the schema is at the previous version. The tool's own advice is the
  // same: force the version the schema really is at.
  const what = schema === 'from'
    ? 'the down file failed and PostgreSQL rolled all of its statements back (unless the file commits on its own)'
    : `the down file ran, but ${table.dirty ? 'marking the step clean' : 'recording it in the version table'} failed`;
  return `${what}; ${where} now holds ${holds} while the schema is at ${version(real)}. Fix the cause, check the schema, ${markClean(real)}, then re-run the rollback`;
}

/**
 * The tool's command that marks version `v` clean (golang-migrate: "migrate ... force V"), asked of
 * its dirtyRepair as "a table dirty below v, with v to revert": the repair it gives is exactly that.
 */
function markCleanCommand(tool: MigrationTool, v: string, step: TrackStep): string | undefined {
  const repair = tool.offers.dirty?.repair({ tableExists: true, revisions: [], dirty: true }, [v], [], step.table);
  return repair !== undefined && same(tool, repair.version, v) ? repair.command : undefined;
}

/**
 * An applied migration that none of the files defines, above the target (or anywhere, for a tool
 * whose revisions do not order by themselves): the downs cannot revert it, and its row would stay
 * while the schema moves past it. dbmate steps over it silently (it rolls back the latest applied
 * file it has and leaves the row: the orphan of migration-tools.md §3); sql-migrate and
 * node-pg-migrate refuse the run themselves. Refused at plan time, before anything is stopped.
 */
function refuseUnknownApplied(step: TrackStep, source: TrackFiles): void {
  if (step.applied === undefined || step.applied.length === 0) return;
  const tool = getTool(step.tool);
  const history = tool.offers.history;
  if (history === undefined) return;
  let defined: Set<string>;
  try {
    defined = new Set(history.read(source.files).revisions);
  } catch {
    return; // the driver's own reading of the files says what is wrong with them
  }
  const goal = target(step);
  const compare = tool.order?.compare;
  const unknown = step.applied.filter((v) => !defined.has(v) && !(goal !== null && compare !== undefined && compare(v, goal) < 0));
  if (unknown.length === 0) return;
  const listed = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, ... (${unknown.length} in all)` : '');
  const one = unknown.length === 1;
  throw new RefusedError(
    [`track ${step.track}: the ${step.tool} table lists ${listed} as applied, and no file in ${source.origin} defines ${one ? 'it' : 'them'}: ` +
      `the downs cannot revert ${one ? 'it' : 'them'}, and ${one ? 'its row' : 'their rows'} would stay while the schema moves past`],
    'give the complete migrations of the release that is running now (--source, or capture them while it runs); nothing was changed',
  );
}

/**
 * Steps the tool would take without reverting a version: a version whose down file is missing (the
 * table moves, nothing runs) and a hole in one-by-one numbering (stepped over). Either leaves that
 * version's changes in the schema while the table says they are gone, so the plan is refused unless
 * the user opted in.
 */
function refuseIncomplete(step: TrackStep, origin: string, downs: NativeDown[]): void {
  const problems = downs.flatMap((down) => {
    const at = `track ${step.track}: ${down.from} -> ${version(down.to)}`;
    const out: string[] = [];
    if (down.file === undefined) {
      out.push(
        `${at}: no down ${down.expectedFile ?? `file for version ${down.from}`} in ${origin}; ${step.tool} would move the table past ${down.from} ` +
          `running nothing, leaving what ${down.from}'s up file created in the schema`,
      );
    }
    if (down.missing !== undefined) {
      out.push(
        `${at}: no file at all for ${missingText(down.missing)} in ${origin} (the files are numbered one by one, so this looks like a missing file); ` +
          `${step.tool} would step from ${down.from} to ${version(down.to)}, leaving what ${missingText(down.missing)} created in the schema`,
      );
    }
    return out;
  });
  if (problems.length > 0) {
    throw new RefusedError(
      problems,
      'give the complete migrations of the release that is running now (--source); for a migration that cannot be undone, ship a down file that does nothing on purpose ' +
        '(a comment and "SELECT 1;", as golang-migrate recommends); or, when those versions really need no down (nothing to undo, never applied), ' +
        `pass --allow-missing-downs to move past them as ${step.tool} does`,
    );
  }
}

const missingText = (m: { first: string; last: string }) => (m.first === m.last ? `version ${m.first}` : `versions ${m.first}..${m.last}`);

/** The plan's view of the downs: each with its file, or none. */
function plannedDowns(downs: NativeDown[]): PlannedDown[] {
  return downs.map((down) => ({
    revision: down.from,
    to: down.to ?? BASE,
    ...(down.file !== undefined ? { file: down.file } : {}),
    ...(down.missing ? { missing: down.missing.first === down.missing.last ? down.missing.first : `${down.missing.first}..${down.missing.last}` } : {}),
  }));
}

/**
 * A file runs as one simple query: PostgreSQL commits it when its last statement ends, even if the
 * plugin died meanwhile (SIGKILL, a lost machine), since it only notices a gone client when it
 * next writes to it. The tool's table then says the file did not finish over a schema already
 * reverted. With client_connection_check_interval (PostgreSQL 14+) the server checks the socket
 * while a statement runs and aborts the file, so the table stays the truth.
 */
async function checkClientConnection(session: DatabaseSession, ctx: RunnerContext): Promise<void> {
  await session.query(`SET client_connection_check_interval = '${CLIENT_CHECK_MS}ms'`).catch((err: unknown) => {
    ctx.log.debug(`native: client_connection_check_interval not set (PostgreSQL before 14?): ${err instanceof Error ? err.message : String(err)}`);
  });
}

/**
 * Runs `work` so that a second interrupt cancels the statement running now: PostgreSQL rolls the
 * statement (and the transaction it is in) back, and the tool's bookkeeping says where the track stands.
 */
async function cancellable(session: DatabaseSession, connector: DatabaseConnector, ctx: RunnerContext, work: () => Promise<void>): Promise<void> {
  const [{ pid }] = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
  const cancel = () => void cancelBackend(connector, ctx.databaseUrl, pid, ctx);
  ctx.abort?.addEventListener('abort', cancel, { once: true });
  try {
    await work();
  } finally {
    ctx.abort?.removeEventListener('abort', cancel);
  }
}

async function cancelBackend(connector: DatabaseConnector, url: string, pid: number, ctx: RunnerContext): Promise<void> {
  try {
    const session = await connector.connect(url);
    try {
      await session.query('SELECT pg_cancel_backend($1)', [pid]);
    } finally {
      await session.close();
    }
  } catch (err) {
    ctx.log.debug(`native: cancelling backend ${pid} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The tool's advisory locks: each queued like the tool's own, all bounded by one deadline.

const INT8 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

/** Takes every lock the driver names, in order; none stays held when one cannot be had. Returns the keys held. */
async function acquireLocks(session: DatabaseSession, table: NativeTable, timeoutMs: number, track: string): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const held: string[] = [];
  try {
    for (const lock of table.locks) {
      await acquireLock(session, lock, Math.max(1, deadline - Date.now()), timeoutMs, track, table);
      held.push(lock.key);
    }
  } catch (err) {
    await releaseLocks(session, held);
    throw err;
  }
  return held;
}

/** pg_advisory_lock bounded with lock_timeout (55P03 when it runs out); SET LOCAL ends with the transaction, the session lock outlives it. */
async function acquireLock(session: DatabaseSession, lock: { key: string; what: string }, waitMs: number, timeoutMs: number, track: string, table: NativeTable): Promise<void> {
  if (!/^-?[0-9]+$/.test(lock.key) || BigInt(lock.key) < INT8.min || BigInt(lock.key) > INT8.max) {
    throw new Error(`native driver bug: advisory lock key ${JSON.stringify(lock.key)} is not a bigint`);
  }
  await session.query('BEGIN');
  try {
    await session.query(`SET LOCAL lock_timeout = '${Math.round(waitMs)}ms'`);
    await session.query('SELECT pg_advisory_lock($1::bigint)', [lock.key]);
    await session.query('COMMIT');
  } catch (err) {
    await session.query('ROLLBACK').catch(() => undefined);
    if (sqlState(err) !== '55P03') throw err;
    const { classid, objid } = lockTag(lock.key);
    throw new LockedError(
      `track ${track}: ${lock.what} for ${displayName(table)} (pg_advisory_lock(${lock.key})) is held by ${await lockHolder(session, lock.key)}; gave up after ${timeoutMs / 1000} s`,
      {
        hint:
          'another migration is running (the app migrating on start, or the tool\'s CLI). Nothing was changed. Find the holder with ' +
          `"SELECT a.pid, a.application_name, a.client_addr, a.state, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) ` +
          `WHERE l.locktype = 'advisory' AND l.classid = ${classid} AND l.objid = ${objid} AND l.objsubid = 1 AND l.granted", let it finish or stop it, then re-run`,
        cause: err,
      },
    );
  }
}

async function releaseLocks(session: DatabaseSession, keys: readonly string[], ctx?: RunnerContext): Promise<void> {
  for (const key of [...keys].reverse()) {
    await session.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch((err: unknown) => {
      // The session closes next, which releases the lock anyway.
      ctx?.log.debug(`native: unlock of ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}

/** How pg_locks shows a one-bigint advisory lock: the high 32 bits in classid, the low in objid, objsubid 1. */
function lockTag(key: string): { classid: string; objid: string } {
  const unsigned = BigInt.asUintN(64, BigInt(key));
  return { classid: (unsigned >> 32n).toString(), objid: (unsigned & 0xffffffffn).toString() };
}

async function lockHolder(session: DatabaseSession, key: string): Promise<string> {
  const { classid, objid } = lockTag(key);
  try {
    const { rows } = await session.query<{ pid: number; app: string | null; addr: string | null }>(
      `SELECT a.pid, a.application_name AS app, host(a.client_addr) AS addr FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1 AND l.granted`,
      [classid, objid],
    );
    const h = rows[0];
    if (h === undefined) return 'another session';
    const about = [h.app ? `application_name "${h.app}"` : '', h.addr ? `from ${h.addr}` : ''].filter((s) => s !== '');
    return `session pid ${h.pid}${about.length > 0 ? ` (${about.join(', ')})` : ''}`;
  } catch {
    return 'another session';
  }
}
