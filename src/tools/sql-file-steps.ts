/**
 * The shape every SQL-file tool but golang-migrate gives one down step (goose, dbmate, sql-migrate,
 * node-pg-migrate): the down's statements, then one
 * bookkeeping statement, all in one transaction unless the file opts out, in which case each
 * statement commits on its own and the bookkeeping comes last. In a transaction the bookkeeping and
 * the COMMIT go as one message. Shared by their native drivers so
 * each driver only says which statements, which bookkeeping and which check. No connection of its
 * own: everything runs on the caller's session.
 */
import { NativeStepError } from '../core/errors.js';
import type { QueryResult, SqlClient } from '../core/ports.js';
import { sqlState } from './sql.js';

export interface SqlFileStep {
  /** The revision reverted (as the version table stores it). */
  from: string;
  /** Each runs as one simple query (several statements in one text run as PostgreSQL's implicit transaction). */
  statements: readonly string[];
  transactional: boolean;
  /**
   * The tool's version-table write, one statement with its values as literals (quoteLiteral), e.g.
   * `DELETE ... WHERE version = E'9'`: in a transaction it goes in one message with the COMMIT.
   */
  bookkeeping: string;
  /**
   * Checks the version table says what the plan assumed before anything runs (inside the
   * transaction when there is one); throws NativeStepError(schema 'from') when it does not.
   */
  check(db: SqlClient): Promise<void>;
}

/** Runs one step; on failure throws NativeStepError saying where the table and the schema are. */
export async function runSqlFileStep(db: SqlClient, step: SqlFileStep): Promise<void> {
  const unchanged = { version: step.from, dirty: false };
  if (step.transactional) {
    const tx = beginningWithFirstQuery(db);
    try {
      await step.check(tx);
      await tx.begun();
      for (const statement of step.statements) await db.query(statement);
      // One message, one round trip fewer a file (issue 12): inside the explicit transaction the
      // COMMIT runs only when the write succeeded; a failed write aborts the message and the
      // transaction, and the ROLLBACK below ends it, as when they went apart.
      await db.query(`${step.bookkeeping.trim().replace(/;$/, '')}; COMMIT`);
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      // Without a SQLSTATE the session itself failed (a lost connection): whether a COMMIT landed
      // is unknown, so no claim is made about the table; the caller reads it again.
      if (err instanceof NativeStepError || sqlState(err) === undefined) throw err;
      throw new NativeStepError(step.from, unchanged, 'from', err, 0);
    }
    return;
  }
  await step.check(db);
  let ran = 0;
  for (const statement of step.statements) {
    try {
      await db.query(statement);
    } catch (err) {
      if (sqlState(err) === undefined) throw err;
      // Each statement before this one committed on its own; this one's implicit transaction rolled back.
      throw new NativeStepError(step.from, unchanged, ran === 0 ? 'from' : 'partial', err, ran);
    }
    ran++;
  }
  try {
    await db.query(step.bookkeeping);
  } catch (err) {
    if (sqlState(err) === undefined) throw err;
    // With no statement at all, nothing ran: the schema is where it was.
    throw new NativeStepError(step.from, unchanged, step.statements.length === 0 ? 'from' : 'to', err, ran);
  }
}

/**
 * `db`, with BEGIN sent in the same message as the first query without parameters (`BEGIN; SELECT
 * ...`: the same transaction block, opened before the query runs, one round trip instead of two);
 * before a query with parameters (the extended protocol takes one statement) BEGIN goes alone.
 * begun() sends it alone when no query did. Rows and rowCount are the query's (the message's last statement).
 */
function beginningWithFirstQuery(db: SqlClient): SqlClient & { begun(): Promise<void> } {
  let begun = false;
  return {
    async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      if (begun) return db.query(text, params);
      begun = true;
      if (params !== undefined && params.length > 0) {
        await db.query('BEGIN');
        return db.query(text, params);
      }
      // A node-postgres Client used as the port directly (the tests do) answers a message of
      // several statements with one result per statement: the query's is the last.
      const result: unknown = await db.query(`BEGIN; ${text}`);
      return (Array.isArray(result) ? result.at(-1) : result) as QueryResult<R>;
    },
    async begun() {
      if (begun) return;
      begun = true;
      await db.query('BEGIN');
    },
  };
}

/** A failed check: nothing ran; the table holds `found` (null: base). */
export function tableMismatch(from: string, found: string | null, message: string): NativeStepError {
  return new NativeStepError(from, { version: found, dirty: false }, 'from', new Error(message), 0);
}
