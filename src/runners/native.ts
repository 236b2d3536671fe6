/**
 * The native runner: the plugin itself runs the CURRENT (newer) release's golang-migrate down files
 * over its own PostgreSQL session, with golang-migrate's own lock and bookkeeping, so the version
 * table ends exactly as `migrate goto N` (or `migrate down -all` for base) would leave it, and a
 * failure leaves it as the tool would (previous version, dirty).
 *
 * Order: read the files (no lock held while reading or downloading) → plan → connect → take the
 * tool's advisory lock (bounded wait) → read the table under the lock and refuse if it is dirty or
 * moved since the plan → run each step → check the end state → unlock, close.
 */
import { BASE } from '../core/contract.js';
import { InterruptedError, LockedError, RefusedError, StepFailedError } from '../core/errors.js';
import type { DatabaseConnector, DatabaseSession, PlannedDown, Runner, RunnerContext, TrackStep } from '../core/ports.js';
import { planGoto, parseMigrationFiles, type DownStep, type MigrationFiles } from '../tools/golang-migrate-files.js';
import {
  advisoryLockKey,
  ensureVersionTable,
  golangMigrate,
  MigrationStepError,
  resolveSchema,
  runDownStep,
  type ResolvedVersionTable,
} from '../tools/golang-migrate.js';
import { displayName, sqlState } from '../tools/sql.js';

export interface NativeRunnerDeps {
  connector: DatabaseConnector;
  /** The parsed migration files of the release that is running now, for one track. */
  loadSource: (track: string) => Promise<MigrationFiles>;
  /** How long to wait for golang-migrate's lock. Default 15 000 ms, the migrate CLI's -lock-timeout. */
  lockTimeoutMs?: number;
  /**
   * --allow-missing-downs: golang-migrate's own semantics for a version without a down file (the
   * table moves past it, nothing runs) and for a hole in one-by-one numbering (stepped over).
   * Default: such a plan is refused, since what those versions created would stay.
   */
  allowMissingDowns?: boolean;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;

/** Adapts a MigrationSource (src/adapters/migration-source.ts) to loadSource. */
export function golangMigrateFiles(source: { files(track: string): Promise<{ origin: string; files: Array<{ name: string; body: string }> }> }) {
  return async (track: string): Promise<MigrationFiles> => {
    const { origin, files } = await source.files(track);
    return parseMigrationFiles(files, origin);
  };
}

/** How often PostgreSQL checks, during a file, that the plugin is still there (see checkClientConnection). */
const CLIENT_CHECK_MS = 250;

const version = (v: string | null) => (v === null ? 'nil (empty table)' : v);
const canonical = (v: string) => (/^[0-9]+$/.test(v) ? BigInt(v).toString() : v);

/**
 * The native runner writes golang-migrate's bookkeeping only. Other tools' tables (alembic_version
 * above all: one row per head, written by alembic in the same transaction as the downs) are never
 * written by the plugin: their downs run with the app's own tool (job runner).
 */
function refuseOtherTools(step: TrackStep): void {
  if (step.tool !== golangMigrate.name) {
    throw new RefusedError(
      [`track ${step.track}: the native runner runs golang-migrate down files, not ${step.tool} (the plugin never writes ${step.tool}'s version table itself)`],
      'use --runner job: the app\'s own tool runs the downs in its image',
    );
  }
}

/**
 * Steps golang-migrate would take without reverting a version: a version whose down file is
 * missing (newMigration makes an empty migration: the table moves, nothing runs) and a hole in
 * one-by-one numbering (Prev() steps over it). Either leaves that version's changes in the schema
 * while the table says they are gone, so the plan is refused unless the user opted in.
 */
function refuseIncomplete(track: string, files: MigrationFiles, plan: DownStep[]): void {
  const problems = plan.flatMap((down) => {
    const step = `track ${track}: ${down.from} -> ${version(down.to)}`;
    const out: string[] = [];
    if (down.file === undefined) {
      out.push(
        `${step}: no down file ${down.expectedFile ?? `for version ${down.from}`} in ${files.origin}; golang-migrate would move the table past ${down.from} ` +
          `running nothing, leaving what ${down.from}'s up file created in the schema`,
      );
    }
    if (down.missing !== undefined) {
      out.push(
        `${step}: no file at all for ${missingText(down.missing)} in ${files.origin} (the files are numbered one by one, so this looks like a missing file); ` +
          `golang-migrate would step from ${down.from} to ${version(down.to)}, leaving what ${missingText(down.missing)} created in the schema`,
      );
    }
    return out;
  });
  if (problems.length > 0) {
    throw new RefusedError(
      problems,
      'give the complete migrations of the release that is running now (--source); for a migration that cannot be undone, ship a down file that does nothing on purpose ' +
        '(a comment and "SELECT 1;", as golang-migrate recommends); or, when those versions really need no down (nothing to undo, never applied), ' +
        'pass --allow-missing-downs to move past them as golang-migrate does',
    );
  }
}

const missingText = (m: { first: string; last: string }) => (m.first === m.last ? `version ${m.first}` : `versions ${m.first}..${m.last}`);

/** The plan's view of the steps: each with its file, or none. */
function planned(plan: DownStep[]): PlannedDown[] {
  return plan.map((down) => ({
    revision: down.from,
    to: down.to ?? BASE,
    ...(down.file ? { file: down.file.name } : {}),
    ...(down.missing ? { missing: down.missing.first === down.missing.last ? down.missing.first : `${down.missing.first}..${down.missing.last}` } : {}),
  }));
}

export function createNativeRunner(deps: NativeRunnerDeps): Runner {
  const lockTimeoutMs = Math.max(1, deps.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  /** golang-migrate's steps for the step's versions, refused when incomplete (unless allowed). */
  const stepsFor = (step: TrackStep, files: MigrationFiles): DownStep[] => {
    const current = step.current[0] === undefined ? null : canonical(step.current[0]);
    const plan = planGoto(files, current, step.target === BASE ? null : canonical(step.target));
    if (!deps.allowMissingDowns) refuseIncomplete(step.track, files, plan);
    return plan;
  };
  return {
    name: 'native',
    async preview(step: TrackStep): Promise<PlannedDown[]> {
      refuseOtherTools(step);
      return planned(stepsFor(step, await deps.loadSource(step.track)));
    },
    async downScripts(step: TrackStep): Promise<Array<{ file: string; sql: string }>> {
      refuseOtherTools(step);
      return stepsFor(step, await deps.loadSource(step.track)).flatMap((down) => (down.file ? [{ file: down.file.name, sql: down.file.body }] : []));
    },
    async run(step: TrackStep, ctx: RunnerContext): Promise<void> {
      refuseOtherTools(step);
      if (step.current.length > 1) {
        throw new RefusedError([`track ${step.track}: golang-migrate keeps one version, the plan names ${step.current.join(', ')}`]);
      }
      // Versions as the table stores them ("013" in a plan means 13).
      const current = step.current[0] === undefined ? null : canonical(step.current[0]);
      const target = step.target === BASE ? null : canonical(step.target);

      // Files first: nothing is locked while they are read or downloaded.
      const files = await deps.loadSource(step.track);
      if (files.ignored.length > 0) ctx.log.debug(`native: ${files.origin}: golang-migrate ignores ${files.ignored.join(', ')}`);
      const plan = stepsFor(step, files);
      const reverts = plan.map((s) => s.from);
      if (reverts.join(',') !== step.revisions.map(canonical).join(',')) {
        throw new RefusedError(
          [`track ${step.track}: the files in ${files.origin} revert ${reverts.join(', ') || 'nothing'}, the plan said ${step.revisions.join(', ') || 'nothing'}`],
          'plan again with the same migration source (--source) the rollback runs with',
        );
      }

      const session = await deps.connector.connect(ctx.databaseUrl);
      try {
        await checkClientConnection(session, ctx);
        const schema = await resolveSchema(session, step.table);
        const table: ResolvedVersionTable = { schema, table: step.table.table };
        const [{ db }] = (await session.query<{ db: string }>('SELECT current_database() AS db')).rows as [{ db: string }];
        // The key an app calling postgres.WithInstance with no DatabaseName takes (CURRENT_DATABASE(),
        // no slash), as kagent does: it is the app that migrates on start we must exclude. The migrate
        // CLI (postgres.Open(url)) hashes the URL path WITH its leading slash ("/app"), a different key
        // (advisoryLockKeys().cli); the workloads that migrate are stopped before any down anyway.
        const key = advisoryLockKey(db, schema, table.table);
        await acquireLock(session, key, lockTimeoutMs, step.track, table);
        ctx.log.debug(`native: track ${step.track}: holding pg_advisory_lock(${key}) for ${displayName(table)}`);
        try {
          // A second interrupt cancels the statement running now: PostgreSQL rolls the file back and
          // golang-migrate's bookkeeping (previous version, dirty) says where the track stands.
          const [{ pid }] = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
          const cancel = () => void cancelBackend(deps.connector, ctx.databaseUrl, pid, ctx);
          ctx.abort?.addEventListener('abort', cancel, { once: true });
          try {
            await runLocked(session, step, table, plan, current, target, ctx);
          } finally {
            ctx.abort?.removeEventListener('abort', cancel);
          }
        } finally {
          await session.query('SELECT pg_advisory_unlock($1)', [key]).catch((err: unknown) => {
            // The session closes next, which releases the lock anyway.
            ctx.log.debug(`native: unlock of ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
          });
        }
      } finally {
        await session.close();
      }
    },
  };
}

async function runLocked(
  session: DatabaseSession,
  step: TrackStep,
  table: ResolvedVersionTable,
  plan: DownStep[],
  current: string | null,
  target: string | null,
  ctx: RunnerContext,
): Promise<void> {
  const where = displayName(table);
  const state = await golangMigrate.readState(session, table);
  const found = state.revisions[0] ?? null;
  if (state.dirty) {
    const v = found ?? '-1';
    throw new RefusedError(
      [`track ${step.track}: ${where} is dirty at version ${v}: a migration started and did not finish (golang-migrate: "Dirty database version ${v}. Fix and force version.")`],
      `make the schema match version ${v} by hand (see which statements of the failed migration ran), then run "migrate -path DIR -database URL force ${v}" and re-run the rollback`,
    );
  }
  if (found !== current) {
    throw new RefusedError(
      [`track ${step.track}: ${where} holds version ${version(found)}, the plan was made at ${version(current)}`],
      'something migrated since the plan: plan again',
    );
  }
  // The driver creates a missing table when it opens; it can only be missing when nothing is applied.
  if (!state.tableExists) await ensureVersionTable(session, table);

  for (const [i, down] of plan.entries()) {
    // A first interrupt ends the track on a whole file: the one running finishes, no other starts.
    if (i > 0 && (ctx.stop?.aborted || ctx.abort?.aborted)) {
      throw new InterruptedError(`track ${step.track}: stopped after the down of ${plan[i - 1]!.from}; ${where} holds (${plan[i - 1]!.to ?? '-1'}, clean)`);
    }
    ctx.onOutput(`${step.track}: ${down.from} -> ${version(down.to)}${down.file === undefined ? ' (no down file: version moves, nothing runs)' : ` (${down.file.name})`}`);
    try {
      await runDownStep(session, table, down);
    } catch (err) {
      if (!(err instanceof MigrationStepError)) throw err;
      throw new StepFailedError(step.track, down.from, err.cause ?? err, stepFailedHint(err, where, down.from));
    }
  }

  const end = await golangMigrate.readState(session, table);
  const landed = end.revisions[0] ?? null;
  if (end.dirty || landed !== target) {
    const last = plan[plan.length - 1]?.from ?? current ?? '-';
    throw new StepFailedError(
      step.track,
      last,
      new Error(`after the downs ${where} holds (${version(landed)}, dirty=${end.dirty}), expected (${version(target)}, dirty=false)`),
      'something else wrote the version table while the lock was held: inspect it before doing anything else',
    );
  }
}

function stepFailedHint(err: MigrationStepError, where: string, from: string): string {
  const { version: v, dirty } = err.left;
  if (!dirty) {
    return `nothing of this step ran; ${where} still holds (${version(v)}, clean). Fix the cause (${err.message}), then re-run the rollback`;
  }
  // A failed body ran as one implicit transaction, so PostgreSQL undid all of it: the schema is
  // still at `from`, though the table says (previous, dirty). After "mark clean" failed, the file
  // did run: the schema is at the previous version. golang-migrate's own advice is the same: force
  // the version the schema really is at.
  const [what, real] =
    err.phase === 'body'
      ? [`the down file failed and PostgreSQL rolled all of its statements back (unless the file commits on its own)`, from]
      : ['the down file ran, but marking the step clean failed', v ?? '-1'];
  return (
    // (-1, dirty) after a failed first migration: golang-migrate's NilVersion, written as a row, not an empty table.
    `${what}; ${where} now holds (${v ?? '-1'}, dirty=true), as golang-migrate leaves it, while the schema is at ${real}. ` +
    `Fix the cause, check the schema, run "migrate -path DIR -database URL force ${real}", then re-run the rollback`
  );
}

/**
 * A file runs as one simple query: PostgreSQL commits it when its last statement ends, even if the
 * plugin died meanwhile (SIGKILL, a lost machine), since it only notices a gone client when it
 * next writes to it. golang-migrate's table then says (previous, dirty) over a schema already
 * reverted, and "force" the reverted version would be wrong. With client_connection_check_interval
 * (PostgreSQL 14+) the server checks the socket while a statement runs and aborts the file, so the
 * table's dirty version stays the truth: the schema is still at the file's version.
 */
async function checkClientConnection(session: DatabaseSession, ctx: RunnerContext): Promise<void> {
  await session.query(`SET client_connection_check_interval = '${CLIENT_CHECK_MS}ms'`).catch((err: unknown) => {
    ctx.log.debug(`native: client_connection_check_interval not set (PostgreSQL before 14?): ${err instanceof Error ? err.message : String(err)}`);
  });
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

/** The tool's pg_advisory_lock, queued like the tool's but bounded with lock_timeout (55P03 when it runs out). */
async function acquireLock(session: DatabaseSession, key: number, timeoutMs: number, track: string, table: ResolvedVersionTable): Promise<void> {
  // SET LOCAL ends with the transaction; the session-level advisory lock outlives it.
  await session.query('BEGIN');
  try {
    await session.query(`SET LOCAL lock_timeout = '${Math.round(timeoutMs)}ms'`);
    await session.query('SELECT pg_advisory_lock($1)', [key]);
    await session.query('COMMIT');
  } catch (err) {
    await session.query('ROLLBACK').catch(() => undefined);
    if (sqlState(err) !== '55P03') throw err;
    const holder = await lockHolder(session, key);
    throw new LockedError(
      `track ${track}: golang-migrate's lock for ${displayName(table)} (pg_advisory_lock(${key})) is held by ${holder}; gave up after ${timeoutMs / 1000} s`,
      {
        hint:
          'another migration is running (the app migrating on start, or a migrate CLI). Nothing was changed. Find the holder with ' +
          `"SELECT a.pid, a.application_name, a.client_addr, a.state, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) ` +
          `WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = ${key} AND l.objsubid = 1 AND l.granted", let it finish or stop it, then re-run`,
        cause: err,
      },
    );
  }
}

async function lockHolder(session: DatabaseSession, key: number): Promise<string> {
  try {
    const { rows } = await session.query<{ pid: number; app: string | null; addr: string | null }>(
      `SELECT a.pid, a.application_name AS app, host(a.client_addr) AS addr FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1 AND l.granted`,
      [key],
    );
    const h = rows[0];
    if (h === undefined) return 'another session';
    const about = [h.app ? `application_name "${h.app}"` : '', h.addr ? `from ${h.addr}` : ''].filter((s) => s !== '');
    return `session pid ${h.pid}${about.length > 0 ? ` (${about.join(', ')})` : ''}`;
  } catch {
    return 'another session';
  }
}
