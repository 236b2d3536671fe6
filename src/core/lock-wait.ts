/**
 * No blocked traffic (issue 13, item 3), after pgroll: every statement of the native runner's downs
 * runs under a short `lock_timeout`, so a down that needs a lock another session holds gives up
 * instead of queueing, and the application's queries queued behind it (a SELECT behind a DROP
 * TABLE's ACCESS EXCLUSIVE request) wait at most that long. A step that gave up on a lock wait and
 * left nothing behind (its transaction rolled back whole) is tried again after an exponential
 * backoff (1 s, 2 s, 4 s ... capped at 60 s), a bounded number of times.
 *
 * Pure policy and SQL-text checks here; the runner (native.ts) sets the session, decides and waits.
 */
import { tokenize } from './sql-analysis.js';
import { quoteIdent } from './sql-names.js';
import type { SqlClient } from './ports.js';
import { sqlState } from './sql-state.js';

export interface LockWaitPolicy {
  /** PostgreSQL lock_timeout for every statement of the downs, in ms; 0 lets a lock wait last forever (PostgreSQL's default). */
  lockTimeoutMs: number;
  /** PostgreSQL statement_timeout for every statement of the downs, in ms; 0: none. */
  statementTimeoutMs: number;
  /** How many times one step whose lock wait timed out is tried again; 0: never. */
  retries: number;
  /** The wait before the first retry; each next one doubles, up to maxBackoffMs. */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * pgroll's lock_timeout (500 ms) and backoff (1 s doubling to 60 s). statement_timeout is off: a
 * down that rewrites a large table is legitimate, and cutting it short would only roll it back
 * after most of its work (golang-migrate would leave the table dirty); lock_timeout is what keeps
 * other sessions from queueing behind it. 8 retries wait 1+2+4+...+60+60 s, about 3 minutes.
 */
export const DEFAULT_LOCK_WAIT_POLICY: LockWaitPolicy = {
  lockTimeoutMs: 500,
  statementTimeoutMs: 0,
  retries: 8,
  firstBackoffMs: 1_000,
  maxBackoffMs: 60_000,
};

/** The wait before retry `n` (1-based): firstBackoffMs × 2^(n-1), capped at maxBackoffMs. */
export function backoffMs(n: number, policy: Pick<LockWaitPolicy, 'firstBackoffMs' | 'maxBackoffMs'>): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`retry number ${n}: retries count from 1`);
  return Math.min(policy.maxBackoffMs, policy.firstBackoffMs * 2 ** Math.min(n - 1, 52));
}

/** Every wait of one step that keeps timing out, in order: one per retry. */
export function backoffSchedule(policy: Pick<LockWaitPolicy, 'retries' | 'firstBackoffMs' | 'maxBackoffMs'>): number[] {
  return Array.from({ length: policy.retries }, (_, i) => backoffMs(i + 1, policy));
}

/** The session settings of the downs, one simple query; values in ms, 0 meaning none, as PostgreSQL reads them. */
export function sessionTimeoutsSql(policy: Pick<LockWaitPolicy, 'lockTimeoutMs' | 'statementTimeoutMs'>): string {
  const ms = (v: number) => {
    if (!Number.isInteger(v) || v < 0 || v > 2_147_483_647) throw new RangeError(`timeout ${v} ms: PostgreSQL takes 0 to 2147483647 ms`);
    return `'${v}ms'`;
  };
  return `SET lock_timeout = ${ms(policy.lockTimeoutMs)}; SET statement_timeout = ${ms(policy.statementTimeoutMs)}`;
}

/** The SQLSTATE of the first error in the cause chain that has one (a driver wraps the server's error). */
function causeState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    const state = sqlState(e);
    if (state !== undefined) return state;
  }
  return undefined;
}

/** lock_not_available: lock_timeout ran out (or a NOWAIT lock). The runner's own advisory-lock wait is told apart by where it happens. */
export const isLockTimeout = (err: unknown) => causeState(err) === '55P03';

/** query_canceled with statement_timeout's message (a cancel by the second interrupt has the same SQLSTATE). */
export function isStatementTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (sqlState(e) === '57014') return /statement timeout/i.test((e as { message?: unknown }).message as string ?? '');
  }
  return false;
}

/** Statements that end, open or split a transaction, or commit on their own, as their first word. */
const TRANSACTION_CONTROL = new Set(['begin', 'start', 'commit', 'end', 'rollback', 'abort', 'savepoint', 'release', 'prepare', 'call', 'vacuum']);

/**
 * Whether a failure of this down SQL, sent in one go, can only have left nothing behind: false when
 * it has transaction control of its own (a COMMIT makes what came before it stay), a CALL or a
 * DO/function body that may COMMIT, or a CONCURRENTLY statement (PostgreSQL runs those in several
 * transactions: a CREATE INDEX CONCURRENTLY that gave up leaves an INVALID index, which a retry
 * with IF NOT EXISTS would keep). Such a down is not retried.
 */
export function rollsBackWhole(sql: string): boolean {
  let first = true;
  let previous: string | undefined;
  for (const token of tokenize(sql)) {
    if (token.t === 'punct' && token.v === ';') {
      first = true;
      continue;
    }
    if (token.t === 'word' && (token.v === 'concurrently' || (first && TRANSACTION_CONTROL.has(token.v)))) return false;
    // A body (DO, CREATE FUNCTION ... AS) that may COMMIT when run: dollar-quoted, or a plain string after DO / AS.
    const body = token.t === 'string' && (token.raw.startsWith('$') || previous === 'do' || previous === 'as');
    if (body && /\b(commit|rollback)\b/i.test(token.raw)) return false;
    previous = token.t === 'word' ? token.v : undefined;
    first = false;
  }
  return true;
}

/** The relation names a down's SQL may lock: every name and schema.name in it, quoted as written. */
function namesIn(sql: string): string[] {
  const tokens = tokenize(sql);
  const names = new Set<string>();
  const part = (i: number) => {
    const t = tokens[i];
    return t !== undefined && (t.t === 'word' || t.t === 'ident') ? quoteIdent(t.v) : undefined;
  };
  for (let i = 0; i < tokens.length; i++) {
    const name = part(i);
    if (name === undefined) continue;
    const dot = tokens[i + 1];
    const next = dot?.t === 'punct' && dot.v === '.' ? part(i + 2) : undefined;
    names.add(next === undefined ? name : `${name}.${next}`);
    if (next !== undefined) names.add(next);
  }
  return [...names];
}

/** Another session's query, for a message: literals elided (they may hold secrets), one line, short. */
export function queryGist(query: string, max = 80): string {
  let elided = '';
  let from = 0;
  for (const t of tokenize(query)) {
    if (t.t !== 'string' || t.at === undefined) continue;
    elided += `${query.slice(from, t.at)}'…'`;
    from = t.at + t.raw.length;
  }
  const line = `${elided}${query.slice(from)}`.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * Who holds a lock the down waited for. The server's lock_timeout error does not say which lock, and
 * the wait is over when it is reported, so this names the other session that holds a lock, now, on
 * a relation the down's SQL names or on the version table (the one whose transaction is oldest):
 * "table public.t_3 held by pid 4242 (idle in transaction: "LOCK TABLE t_3 IN ACCESS SHARE MODE")".
 * Undefined when none does (the lock was on a relation the SQL does not name, or it is gone).
 */
export async function lockHolder(db: SqlClient, sql: string, versionTable: string): Promise<{ text: string; pid: number } | undefined> {
  try {
    const { rows } = await db.query<{ rel: string; kind: string; pid: number; state: string | null; query: string | null; others: string }>(
      `WITH wanted AS (SELECT DISTINCT to_regclass(n) AS rel FROM unnest($1::text[]) AS n),
            held AS (
              SELECT l.relation, l.pid, a.state, a.query, a.xact_start
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND l.relation IN (SELECT rel FROM wanted WHERE rel IS NOT NULL))
       SELECT h.relation::regclass::text AS rel, CASE c.relkind WHEN 'i' THEN 'index' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind,
              h.pid, h.state, h.query, (SELECT count(DISTINCT pid) - 1 FROM held)::text AS others
         FROM held h JOIN pg_class c ON c.oid = h.relation
        ORDER BY h.xact_start NULLS LAST, h.pid LIMIT 1`,
      [[...namesIn(sql), versionTable]],
    );
    const h = rows[0];
    if (h === undefined) return undefined;
    const doing = [h.state ?? '', h.query ? `"${queryGist(h.query)}"` : ''].filter((s) => s !== '').join(': ');
    const others = Number(h.others) > 0 ? ` and ${h.others} other session${h.others === '1' ? '' : 's'}` : '';
    return { text: `${h.kind} ${h.rel} held by pid ${h.pid}${doing ? ` (${doing})` : ''}${others}`, pid: h.pid };
  } catch {
    return undefined;
  }
}

/** Waits `ms` unless one of the signals fires first; resolves whether the whole wait passed. */
export function waitUnless(ms: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<boolean> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.some((s) => s.aborted)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (passed: boolean) => {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener('abort', stopped);
      resolve(passed);
    };
    const stopped = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    for (const s of live) s.addEventListener('abort', stopped, { once: true });
  });
}

/** "500 ms", "4 s", "1.5 s", "2 min" for progress lines. */
export function spoken(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}
