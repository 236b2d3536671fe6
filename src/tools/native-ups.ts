/**
 * The shape of one up step in the SQL-file tools (goose, dbmate, sql-migrate, node-pg-migrate):
 * the up's statements, then the tool's bookkeeping insert, in one transaction unless the file opts
 * out. Only --verify-downs runs ups, and only against the throwaway database it was given
 * (src/core/verify-downs.ts): the plugin never runs an up on the live database.
 */
import type { NativeUp, SqlClient } from '../core/ports.js';

/** An up that failed on the scratch database, naming its file. */
export class UpFailedError extends Error {
  constructor(readonly file: string, cause: unknown) {
    super(`up ${file} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'UpFailedError';
  }
}

export async function runUpStatements(db: SqlClient, up: NativeUp, bookkeeping: { text: string; params: unknown[] }): Promise<void> {
  if (up.transactional) await db.query('BEGIN');
  try {
    for (const statement of up.statements) if (statement.trim() !== '') await db.query(statement);
    await db.query(bookkeeping.text, bookkeeping.params);
    if (up.transactional) await db.query('COMMIT');
  } catch (err) {
    if (up.transactional) await db.query('ROLLBACK').catch(() => undefined);
    throw new UpFailedError(up.file, err);
  }
}

/** The ids after `current` up to and including `target`, in the tool's order; `target` must be one of them. */
export function linearUps(ids: readonly string[], current: string | null, target: string, tool: string): string[] {
  const from = current === null ? -1 : ids.indexOf(current);
  const to = ids.indexOf(target);
  if (current !== null && from < 0) throw new Error(`${tool}: version ${current} has no file`);
  if (to < 0) throw new Error(`${tool}: version ${target} has no file`);
  return ids.slice(from + 1, to + 1);
}
