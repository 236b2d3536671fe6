/**
 * SQL helpers shared by the tool modules: quoting, SQLSTATE checks, and the mapping of a failed
 * version-table read to VersionTableError. No connection, no I/O.
 */
import { VersionTableError } from '../core/errors.js';
import type { SqlClient, VersionTableRef } from '../core/ports.js';
import { quoteIdent } from '../core/sql-names.js';
import { sqlState } from '../core/sql-state.js';

export { quoteIdent, quoteLiteral } from '../core/sql-names.js';
export { sqlState } from '../core/sql-state.js';

/** `"schema"."table"`, or `"table"` when the schema is left to search_path. */
export function qualifiedName(ref: VersionTableRef): string {
  return ref.schema === undefined ? quoteIdent(ref.table) : `${quoteIdent(ref.schema)}.${quoteIdent(ref.table)}`;
}

/** The same name for messages: schema.table, unquoted, readable. */
export function displayName(ref: VersionTableRef): string {
  return ref.schema === undefined ? ref.table : `${ref.schema}.${ref.table}`;
}


/** SQLSTATEs that mean "the table is not there" when selecting from it. */
export const UNDEFINED_TABLE = '42P01';
/** A column the query names does not exist: the table has the wrong shape. */
export const UNDEFINED_COLUMN = '42703';
/** The user may not read the table. */
export const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Turns a failed read of a version table into the error the CLI reports. Returns undefined for
 * failures that are not about the table (a dropped connection, a cancelled query): the caller
 * rethrows those unchanged, so the adapter's mapping of connection failures still applies.
 */
export function versionTableReadError(
  tool: { name: string; tableShape: string },
  ref: VersionTableRef,
  err: unknown,
): VersionTableError | undefined {
  const state = sqlState(err);
  if (state === undefined) return undefined;
  const name = displayName(ref);
  const detail = err instanceof Error ? err.message : String(err);
  if (state === INSUFFICIENT_PRIVILEGE) {
    return new VersionTableError(`cannot read ${tool.name} version table ${name}: ${detail}`, {
      hint: `grant SELECT on ${name} to the user in the database URL (the plugin only reads it here)`,
      cause: err,
    });
  }
  // Class 42 (syntax error or access rule violation: a missing column, a wrong type), class 22
  // (data exception) and 0A (feature not supported) all say the table is not what the tool writes.
  if (state.startsWith('42') || state.startsWith('22') || state.startsWith('0A')) {
    return new VersionTableError(`${name} does not look like a ${tool.name} version table: ${detail}`, {
      hint: `check the track's version table and schema (contract or flags); ${tool.name} creates ${tool.tableShape}`,
      cause: err,
    });
  }
  return undefined;
}


/** Every table (or view) named one of `names`, in any schema the user may see, as "schema.table", sorted. */
export async function locateTables(db: SqlClient, names: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
      WHERE table_name = ANY($1::text[]) AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    [[...new Set(names)]],
  );
  return rows.map((r) => r.name);
}
