/**
 * One rollback of a release at a time, and a record of it that outlives the operator's machine.
 *
 * The lock has two halves. A PostgreSQL session-level advisory lock is the truth: it is held by a
 * live session and freed by the server the moment that session ends, however the run ends (a crash,
 * SIGKILL, a lost laptop), so a dead run can never block the next one. The run record in the
 * cluster (RunRecordPort) says who holds it and since when, and how far each step got: a second
 * operator is told "in progress by USER@HOST since T", and a run that finds a record while the lock
 * is free knows the previous run did not finish, and where it stopped.
 */
import { LockedError } from './errors.js';
import type { DatabaseConnector, DatabaseSession, Log, MigrationTool, RunRecord, RunRecordPort, RunRecordStep, TrackState, VersionTableRef } from './ports.js';

/** The ConfigMap that holds a release's run record, in the release's namespace. */
export function runRecordName(release: string): string {
  return `${release}-schema-rollback-run`;
}

/** The advisory lock key of a release: 64-bit FNV-1a of "helm-schema-rollback\0NAMESPACE\0RELEASE", as a signed bigint. */
export function runLockKey(namespace: string, release: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(`helm-schema-rollback\0${namespace}\0${release}`)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return BigInt.asIntN(64, hash).toString();
}

export interface HeldRunLock {
  /**
   * The session holding the lock, for the run's reads of the version tables (before the steps and
   * after each track's downs): one connection fewer each. Nothing that changes the session's state.
   */
  session: DatabaseSession;
  release(): Promise<void>;
}

/**
 * Takes the release's lock without waiting: a second run is refused at once (exit 13), never queued
 * behind a rollback that may take minutes and change what it planned.
 */
export async function takeRunLock(
  connector: DatabaseConnector,
  url: string,
  opts: { namespace: string; release: string; records: RunRecordPort },
): Promise<HeldRunLock> {
  const key = runLockKey(opts.namespace, opts.release);
  const session = await connector.connect(url);
  let ok = false;
  try {
    ok = (await session.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key])).rows[0]?.ok === true;
    if (!ok) throw await lockedError(session, key, opts);
  } finally {
    if (!ok) await session.close().catch(() => undefined);
  }
  return {
    session,
    async release() {
      await session.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      await session.close().catch(() => undefined);
    },
  };
}

/**
 * Whether a live session holds the release's lock now, without taking it (plan time, `status`).
 * pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low), objsubid 1.
 */
export async function isRunLockHeld(session: DatabaseSession, namespace: string, release: string): Promise<boolean> {
  const unsigned = BigInt.asUintN(64, BigInt(runLockKey(namespace, release)));
  const held = await session.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
                      AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held`,
    [(unsigned >> 32n).toString(), (unsigned & 0xffffffffn).toString()],
  );
  return held.rows[0]?.held === true;
}

/** At plan time: refuses (exit 13) while another run holds the release's lock, without taking it. */
export async function checkRunLockFree(session: DatabaseSession, opts: { namespace: string; release: string; records: RunRecordPort }): Promise<void> {
  if (await isRunLockHeld(session, opts.namespace, opts.release)) throw await lockedError(session, runLockKey(opts.namespace, opts.release), opts);
}

async function lockedError(session: DatabaseSession, key: string, opts: { release: string; records: RunRecordPort }): Promise<LockedError> {
  const record = await opts.records.read(opts.release).catch(() => undefined);
  const hint = `wait for it to end and read what it printed, or "helm schema-rollback status ${opts.release}"; do not repair or force anything meanwhile. A run that died frees the lock by itself when its database session ends`;
  if (record?.state === 'running') {
    const step = record.steps.at(-1);
    return new LockedError(
      `a rollback of ${opts.release} is in progress by ${record.holder} since ${record.since} (to chart ${record.to}${step ? `; step: ${step.name}` : ''}): nothing was changed`,
      { hint },
    );
  }
  // No record (written a moment later, or lost): say what PostgreSQL knows of the holder.
  const holder = await session
    .query<{ who: string }>(
      `SELECT coalesce(nullif(a.application_name, ''), 'a session') || ' from ' || coalesce(host(a.client_addr), 'a local socket') || ' since ' || a.backend_start AS who
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid`,
      [(BigInt.asUintN(64, BigInt(key)) >> 32n).toString(), (BigInt.asUintN(64, BigInt(key)) & 0xffffffffn).toString()],
    )
    .then((r) => r.rows[0]?.who)
    .catch(() => undefined);
  return new LockedError(`a rollback of ${opts.release} is in progress (${holder ?? 'its lock is held'}): nothing was changed`, { hint });
}

/** How long a step's end waits for the next step's start to share its write (RunJournal). */
export const END_WRITE_DELAY_MS = 250;

/**
 * The run's record, written at every step boundary. Writes after the first are best effort: the
 * database lock still protects the run, and a failed write is reported, not fatal.
 *
 * A step's start is written, and awaited, before the step runs: a run killed inside a down must
 * say so. A step's end is not urgent in the same way, so it waits up to END_WRITE_DELAY_MS for the
 * next write (the next step's start, the run's close) and goes with it: one write per step
 * boundary instead of two. A run that finishes removes its record, so an end still waiting then
 * is not written at all.
 */
export class RunJournal {
  private warned = false;
  /** An end waiting for the next write, flushed alone when none comes within END_WRITE_DELAY_MS. */
  private endTimer: ReturnType<typeof setTimeout> | undefined;
  /** Writes go one after another: a note from a step's output must not overtake the step's end. */
  private writing: Promise<void> = Promise.resolve();
  /** A write queued and not started yet: it will write the record as it is then, so later saves join it. */
  private queued: Promise<void> | undefined;
  constructor(
    private readonly port: RunRecordPort,
    readonly record: RunRecord,
    private readonly log: Log,
    private readonly warn: (message: string) => void,
  ) {}

  /** The first write: a run that cannot record itself does not start. */
  async open(): Promise<void> {
    await this.port.write(this.record);
  }

  /** A down step also records its track, what it reverts and the table before it (RunRecordStep.down). */
  async begin(name: string, down?: RunRecordStep['down']): Promise<RunRecordStep> {
    const step: RunRecordStep = { name, started: new Date().toISOString(), ...(down ? { down } : {}) };
    this.record.steps.push(step);
    // Also writes the previous step's end, if it is still waiting.
    await this.save();
    return step;
  }

  /** A down step's output named a file: kept, so that a run killed inside that file still says which. */
  async noteFile(step: RunRecordStep, line: string): Promise<void> {
    if (!step.down || step.down.lastFileLine === line) return;
    step.down.lastFileLine = line;
    await this.save();
  }

  async end(step: RunRecordStep, result: RunRecordStep['result'], detail?: string): Promise<void> {
    step.ended = new Date().toISOString();
    step.result = result;
    if (detail !== undefined) step.detail = detail;
    // Not awaited: the next begin or close writes it, or the timer does (see the class comment).
    this.endTimer ??= setTimeout(() => {
      this.endTimer = undefined;
      void this.save();
    }, END_WRITE_DELAY_MS);
  }

  /** The run ended without finishing: the record stays, for status and for the next run. */
  async close(state: Exclude<RunRecord['state'], 'running'>, extra: Pick<RunRecord, 'repairs' | 'next'>): Promise<void> {
    Object.assign(this.record, { state, ...extra });
    await this.save();
  }

  /** The run finished: nothing is left to recover, so nothing is kept. */
  async finish(): Promise<void> {
    this.cancelEndWrite();
    await this.writing;
    await this.port.remove(this.record.release).catch((err: unknown) => this.failed(err));
  }

  private cancelEndWrite(): void {
    clearTimeout(this.endTimer);
    this.endTimer = undefined;
  }

  private save(): Promise<void> {
    // Every write carries the whole record, a waiting end included.
    this.cancelEndWrite();
    if (this.queued) return this.queued;
    const next = this.writing.then(() => {
      this.queued = undefined;
      return this.port.write(this.record).catch((err: unknown) => this.failed(err));
    });
    this.queued = next;
    this.writing = next;
    return next;
  }

  private failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.log.debug(`run record: ${message}`);
    if (!this.warned) this.warn(`could not update the run record in the cluster (${message}); the run goes on under its database lock`);
    this.warned = true;
  }
}

/**
 * The exact repair of a track a down left dirty, worded for the report and the refusal: the version
 * the schema is really at and the tool's command that marks it clean; undefined when the tool cannot
 * tell (the caller then gives the general advice).
 */
export function dirtyRepairAdvice(tool: MigrationTool, state: TrackState, reverting: readonly string[], output: readonly string[], table?: VersionTableRef): string | undefined {
  const repair = state.dirty ? tool.offers.dirty?.repair(state, reverting, output, table) : undefined;
  return repair && `the schema is at ${repair.version}: check it, then run "${repair.command}"`;
}

/**
 * The repair of a dirty track from the record of a run that died inside that track's down (its
 * step never ended, so the run could not write its repairs): what the step reverted and the last
 * file it named say which file PostgreSQL rolled back.
 */
export function repairFromUnfinishedDown(record: RunRecord | undefined, track: string, tool: MigrationTool, state: TrackState, table?: VersionTableRef): string | undefined {
  const step = [...(record?.steps ?? [])].reverse().find((s) => s.down?.track === track);
  if (!step?.down || step.ended !== undefined || !state.dirty) return undefined;
  // The tool only names a version the step reverted above the dirty one: a table dirty at or above
  // where the step began (an up that failed since) gets no repair from it.
  return dirtyRepairAdvice(tool, state, step.down.reverting, step.down.lastFileLine ? [step.down.lastFileLine] : [], table);
}
