/**
 * The history of a tool whose migrations form one ordered list (golang-migrate, goose, dbmate,
 * sql-migrate, node-pg-migrate): the head is the last, and a revision comes before another when
 * it sorts before it in the tool's own order.
 */
import type { MigrationHistory } from '../core/ports.js';

/** `ordered`: every revision, oldest first, in the tool's order. */
export function linearHistory(ordered: readonly string[], ignored: readonly string[]): MigrationHistory {
  const index = new Map(ordered.map((r, i) => [r, i]));
  return {
    revisions: [...ordered],
    heads: ordered.length === 0 ? [] : [ordered[ordered.length - 1]!],
    branches: {},
    isAncestor: (a, r) => {
      const [x, y] = [index.get(a), index.get(r)];
      return x !== undefined && y !== undefined && x < y;
    },
    ignored: [...ignored].sort(),
  };
}

/** Compares non-negative decimal integers of any length, as numbers. */
export function compareDecimal(a: string, b: string): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
