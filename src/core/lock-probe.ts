/**
 * Which table locks a step takes, seen from a second session on the rehearsal's copy (README
 * "Rehearsal on a clone").
 *
 * Sampling pg_locks alone misses the locks of a down that finishes between two samples (a DROP TABLE
 * of a small table takes a millisecond). So the probe first holds ACCESS EXCLUSIVE on every table
 * of the copy, each under its own savepoint: the step's first lock request on a table then waits,
 * and shows in pg_locks (granted = false) with the table and the mode it asked for. The probe
 * records it and lets it through by rolling back to that table's savepoint (which releases the
 * table and those locked after it), then takes the later tables again (NOWAIT: a table the step
 * already holds is left to it). Granted locks of the step are recorded on every sample too.
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
const MODES = ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'];

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

/** Starts probing on its own session (which it owns until stop()). */
export async function startLockProbe(session: DatabaseSession): Promise<LockProbe> {
  const tables = (await session.query<{ name: string }>(TABLES_SQL)).rows.map((r) => r.name);
  const held: boolean[] = tables.map(() => false);
  const seen = new Map<string, Set<string>>();
  const record = (relation: string, mode: string) => {
    const set = seen.get(relation) ?? new Set<string>();
    set.add(spokenMode(mode));
    seen.set(relation, set);
  };
  const hold = async (from: number) => {
    for (let i = from; i < tables.length; i++) {
      await session.query(`SAVEPOINT probe_${i}`);
      try {
        await session.query(`LOCK TABLE ${tables[i]} IN ACCESS EXCLUSIVE MODE NOWAIT`);
        held[i] = true;
      } catch {
        // The step holds it (or it is gone): left to the step, seen through the samples.
        await session.query(`ROLLBACK TO SAVEPOINT probe_${i}`);
        held[i] = false;
      }
    }
  };
  await session.query('BEGIN');
  await hold(0);

  let stopping = false;
  let failure: unknown;
  const sampling = (async () => {
    while (!stopping) {
      const rows = (await session.query<{ relation: string; mode: string; granted: boolean }>(LOCKS_SQL)).rows;
      for (const r of rows) record(r.relation, r.mode);
      const waiting = rows.filter((r) => !r.granted).map((r) => tables.indexOf(r.relation)).filter((i) => i >= 0 && held[i]);
      if (waiting.length > 0) {
        const first = Math.min(...waiting);
        await session.query(`ROLLBACK TO SAVEPOINT probe_${first}`);
        for (let i = first; i < tables.length; i++) held[i] = false;
        // The waiting table is the step's now; the later ones are held again.
        await hold(first + 1);
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
        [...modes].sort((a, b) => MODES.indexOf(b) - MODES.indexOf(a)).map((mode) => ({ relation, mode })));
    },
  };
}

/** "ACCESS EXCLUSIVE on public.tags" */
export function describeLock(l: TableLock): string {
  return `${l.mode} on ${l.relation}`;
}

