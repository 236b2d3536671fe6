/** Reading a database error's SQLSTATE, for the core's retry decisions and the tools' checks alike. */
/** The SQLSTATE of a database error (node-postgres puts it in `code`), or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
