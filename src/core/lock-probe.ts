/**
 * Which table locks a step takes, seen from a second session on the rehearsal's copy (README
 * "Rehearsal on a clone").
 *
 * Sampling pg_locks alone misses the locks of a down that finishes between two samples (a DROP TABLE
 * of a small table takes a millisecond). So the probe holds locks that the step's requests conflict
 * with: a request then waits, and shows in pg_locks (granted = false) with the table and the mode it
 * asked for. The probe records it and lets it through by rolling back to that table's savepoint
 * (which releases the table and those locked after it), then takes those tables again (NOWAIT: what
 * the step already holds is left to it).
 *
 * At first the probe holds ACCESS EXCLUSIVE on every table, so the step's first request on each
 * waits. Once the step holds modes on a table, the probe holds there every mode that conflicts with
 * none of them (after a ROW EXCLUSIVE: ACCESS SHARE, ROW SHARE, ROW EXCLUSIVE and SHARE UPDATE EXCLUSIVE): any later request
 * of the step that blocks a mode its earlier ones do not (an ALTER TABLE's ACCESS EXCLUSIVE after an
 * UPDATE's ROW EXCLUSIVE) conflicts with one the probe holds, so it waits and is seen, however
 * short the step. This is exact where it matters: a later lock that blocks nothing more than the
 * step's earlier ones (an ACCESS SHARE after a ROW EXCLUSIVE) may be missed, and shows only when a
 * sample catches it granted. Reading pg_locks at the step's commit would be exact too, but no runner
 * can give that moment for every tool: golang-migrate's file is one simple query, whose implicit
 * transaction commits inside the server.
 *
 * The copy is only used by the rehearsal, so every other backend on it is the runner's. The probe
 * never waits on the step (NOWAIT), so it cannot deadlock with it; each wait it causes lasts about
 * one sample (a few milliseconds), well under the native runner's lock_timeout.
 */
import type { DatabaseSession } from './ports.js';

/** A lock the step asked for, as PostgreSQL names its mode ("AccessExclusiveLock" -> "ACCESS EXCLUSIVE"). */
export interface TableLock {
  relation: string;
  mode: string;
}

const SAMPLE_MS = 3;

/** The modes from weakest to strongest, so the report lists the strongest first. */
const MODES = ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'] as const;

/** Each mode and the modes it conflicts with: PostgreSQL's table (docs, "Table-Level Locks", Table 13.2). */
const CONFLICTS: Record<string, readonly string[]> = {
  'ACCESS SHARE': ['ACCESS EXCLUSIVE'],
  'ROW SHARE': ['EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'ROW EXCLUSIVE': ['SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'SHARE UPDATE EXCLUSIVE': ['SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'SHARE': ['ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'SHARE ROW EXCLUSIVE': ['ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'EXCLUSIVE': ['ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'],
  'ACCESS EXCLUSIVE': [...MODES],
};

/**
 * The modes the probe holds on a table where the step holds `held`: every mode that conflicts with
 * none of them (ACCESS EXCLUSIVE alone before the step's first request). Pure.
 */
export function probeModes(held: ReadonlySet<string>): string[] {
  if (held.size === 0) return ['ACCESS EXCLUSIVE'];
  return MODES.filter((m) => [...held].every((h) => !CONFLICTS[h]!.includes(m)));
}

export function spokenMode(mode: string): string {
  return mode.replace(/Lock$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** The tables the probe may hold: every ordinary and partitioned table outside the system schemas. */
const TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`;

/**
 * Table locks of the other backends on this database, granted or waiting, outside the system schemas.
 * Indexes and sequences are left out: their locks come with their table's (DROP INDEX locks the
 * table ACCESS EXCLUSIVE too), and the report names tables.
 */
const LOCKS_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS relation, l.mode, l.granted FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;

export interface LockProbe {
  /** Stops probing, releases every table and returns the locks seen, strongest first per table. */
  stop(): Promise<TableLock[]>;
}

/** One lock the probe holds: a table (index into the probe's list) and a mode. */
interface Held {
  table: number;
  mode: string;
}

/**
 * Starts probing on its own session (which it owns until stop()).
 *
 * Each lock the probe holds is taken under a savepoint of its own, table by table and, within a
 * table, from the weakest mode up, so that rolling back to one savepoint releases that lock and
 * every one taken after it. Letting a request through releases, on its table, the modes it
 * conflicts with (from the weakest of them up) and the later tables; the modes to hold there and
 * the later tables are taken again in the same simple query as the release, so the step, woken by
 * the release, finds them held before its next statement (a few microseconds on the server, no
 * round trip).
 */
export async function startLockProbe(session: DatabaseSession): Promise<LockProbe> {
  const tables = (await session.query<{ name: string }>(TABLES_SQL)).rows.map((r) => r.name);
  /** What the probe holds, in savepoint order: stack[k] was taken under SAVEPOINT probe_k. */
  const stack: Held[] = [];
  const seen = new Map<string, Set<string>>();
  const record = (relation: string, mode: string) => {
    const set = seen.get(relation) ?? new Set<string>();
    set.add(spokenMode(mode));
    seen.set(relation, set);
  };
  /** The modes to hold on table i that are not held now, weakest first. */
  const missing = (i: number): Held[] => probeModes(seen.get(tables[i]!) ?? new Set())
    .filter((mode) => !stack.some((h) => h.table === i && h.mode === mode)).map((mode) => ({ table: i, mode }));
  const lockSql = (h: Held) => `LOCK TABLE ${tables[h.table]} IN ${h.mode} MODE NOWAIT`;
  /** Takes `items` after running `first` (a release), all in one simple query; one by one when one of them cannot be had. */
  const take = async (first: string | undefined, items: Held[]) => {
    const base = stack.length;
    const batch = [...(first ? [first] : []), ...items.map((h, n) => `SAVEPOINT probe_${base + n}; ${lockSql(h)}`)];
    if (batch.length === 0) return;
    try {
      await session.query(batch.join('; '));
      stack.push(...items);
      return;
    } catch (err) {
      if (items.length === 0) throw err;
      // The step holds a mode one of them conflicts with (or a table is gone): back to before the
      // batch (the release, if any, stays done), then each alone.
      await session.query(`ROLLBACK TO SAVEPOINT probe_${base}`);
    }
    for (const h of items) {
      await session.query(`SAVEPOINT probe_${stack.length}`);
      try {
        await session.query(lockSql(h));
        stack.push(h);
      } catch {
        // Left to the step, seen through the samples.
        await session.query(`ROLLBACK TO SAVEPOINT probe_${stack.length}`);
      }
    }
  };
  await session.query('BEGIN');
  await take(undefined, tables.flatMap((_, i) => missing(i)));

  let stopping = false;
  let failure: unknown;
  const sampling = (async () => {
    while (!stopping) {
      const rows = (await session.query<{ relation: string; mode: string; granted: boolean }>(LOCKS_SQL)).rows;
      for (const r of rows) record(r.relation, r.mode);
      // The lowest lock of the probe that a waiting request of the step conflicts with.
      const blocking = rows.filter((r) => !r.granted).map((r) => {
        const table = tables.indexOf(r.relation);
        const wants = spokenMode(r.mode);
        return stack.findIndex((h) => h.table === table && CONFLICTS[wants]!.includes(h.mode));
      }).filter((k) => k >= 0);
      if (blocking.length > 0) {
        const from = Math.min(...blocking);
        const released = stack.splice(from);
        // The request (recorded above) is granted by the release; its table and the later ones are
        // held again in the modes that conflict with none the step holds.
        const again = [...new Set(released.map((h) => h.table))].flatMap((i) => missing(i));
        await take(`ROLLBACK TO SAVEPOINT probe_${from}`, again);
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })().catch(async (err: unknown) => {
    failure = err;
    // Never leave the step waiting on a probe that stopped.
    await session.query('ROLLBACK').catch(() => undefined);
  });

  return {
    async stop() {
      stopping = true;
      await sampling;
      await session.query('ROLLBACK').catch(() => undefined);
      if (failure !== undefined) throw failure;
      return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).flatMap(([relation, modes]) =>
        [...modes].sort((a, b) => MODES.indexOf(b as (typeof MODES)[number]) - MODES.indexOf(a as (typeof MODES)[number])).map((mode) => ({ relation, mode })));
    },
  };
}

/** "ACCESS EXCLUSIVE on public.tags" */
export function describeLock(l: TableLock): string {
  return `${l.mode} on ${l.relation}`;
}

