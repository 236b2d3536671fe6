/**
 * What the native drivers of linear SQL-file tools share (sql-migrate, node-pg-migrate): the downs
 * between two revisions of an ordered list, and the check that the table still names the down the
 * tool would revert now. A down itself runs through sql-file-steps.ts, as goose's and dbmate's do.
 */
import { NativeStepError, RefusedError } from '../core/errors.js';
import type { NativeDown } from '../core/ports.js';

/** The words a tool uses for the refusals of linearDowns. */
export interface LinearDownsMessages {
  tool: string;
  /** The tool's own complaint when the table's current revision has no file. */
  currentUnknown(current: string): string;
}

/**
 * The revisions a linear tool reverts to go from `current` back to `target` (null: base): every id
 * after `target` up to and including `current`, newest first, each with the id the table is left
 * at afterwards. `ids` is the tool's order, oldest first. Refuses (RefusedError, nothing changed)
 * when `current` or `target` has no file, or when `target` is not older than `current`.
 */
export function linearDowns(ids: readonly string[], current: string | null, target: string | null, messages: LinearDownsMessages): Array<{ from: string; to: string | null }> {
  if (current === null) {
    if (target === null) return [];
    throw new RefusedError([`${messages.tool}: nothing is applied, so there is nothing to roll back to ${target}`]);
  }
  const at = ids.indexOf(current);
  if (at < 0) {
    throw new RefusedError([messages.currentUnknown(current)], `give the down files of the release that applied ${current} (the newer chart's migrations), or run the job runner with that image`);
  }
  const until = target === null ? -1 : ids.indexOf(target);
  if (target !== null && until < 0) {
    throw new RefusedError([`${messages.tool}: the target ${target} is not among the migration files`], 'check the target revision (the older chart\'s) against the migration files');
  }
  if (until > at) {
    throw new RefusedError([`${messages.tool}: the target ${target} comes after the applied ${current}; a rollback only goes back`]);
  }
  const downs: Array<{ from: string; to: string | null }> = [];
  for (let i = at; i > until; i--) downs.push({ from: ids[i]!, to: i > 0 ? ids[i - 1]! : null });
  return downs;
}

/**
 * Refuses a down whose revision is not the one the tool itself would revert now (the table moved
 * since the plan: another run, a hand edit). Nothing has been changed when it throws.
 */
export function checkCurrent(down: NativeDown, actual: string | null, tool: string): void {
  if (actual === down.from) return;
  const cause = new Error(
    `${tool} would now revert ${actual ?? 'nothing (no migration applied)'}, not ${down.from}: the version table changed since the plan; nothing was run`,
  );
  throw new NativeStepError(down.from, { version: actual, dirty: false }, 'from', cause, 0);
}
