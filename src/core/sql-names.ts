/** SQL identifiers and literals, for the core and the tools alike. No connection, no I/O. */

/**
 * Quotes one identifier the way PostgreSQL (and lib/pq's QuoteIdentifier, and SQLAlchemy for
 * mixed-case names) does: wrapped in double quotes, embedded double quotes doubled. A quoted
 * lowercase name means the same as the bare name, so quoting every identifier is always safe.
 * Throws on an empty name or a NUL character, which PostgreSQL cannot hold in an identifier.
 */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('an SQL identifier cannot be empty');
  if (name.includes('\0')) throw new Error('an SQL identifier cannot contain a NUL character');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string literal for a statement that takes no parameters (COMMENT, or a bookkeeping statement
 * sent in one message with its COMMIT): quotes doubled, and E'' with backslashes doubled, so that it
 * means the same whatever standard_conforming_strings is.
 */
export function quoteLiteral(text: string): string {
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
