/** How runners name a step in their messages. */
import type { TrackStep } from '../core/ports.js';

/**
 * What a step's revisions look like in a message: "13" or "13..9"; "13 -> 8" when the plan does not
 * list them (the job and exec runners have no preview: the tool in the image decides the steps).
 * Not the target alone: "down of 8 failed" would name a revision that is never reverted.
 */
export function revisionRange(step: TrackStep): string {
  const r = step.revisions;
  if (r.length === 0) return `${step.current.join(',') || 'base'} -> ${step.target}`;
  return r.length === 1 ? r[0]! : `${r[0]}..${r[r.length - 1]}`;
}

/** A line that states an error: "sqlalchemy.exc.IntegrityError: ...", "ERROR: ...", "panic: ...", "Traceback ...". */
const ERROR_LINE = /error|exception|traceback|fatal|panic|failed/i;
/** Lines that only point elsewhere, however they are worded. */
const FOOTER_LINE = /^\(Background on this error at:/;
/** How many lines of a failed command's output a message quotes, at most. */
export const QUOTED_LINES = 3;
/** How many of a command's last output lines runners keep for failureOutput. */
export const TAIL_LINES = 20;

/**
 * What a failed command's message quotes of its output: from the last line that states an error,
 * QUOTED_LINES at most, joined with " | ". The very last line is often a footer (SQLAlchemy's
 * "(Background on this error at: ...)") two lines below the cause ("IntegrityError ... contains
 * null values"). Without such a line, the last line.
 */
export function failureOutput(lines: readonly string[]): string {
  const kept = lines.filter((l) => l.trim() !== '');
  let at = kept.length - 1;
  while (at >= 0 && !(ERROR_LINE.test(kept[at]!) && !FOOTER_LINE.test(kept[at]!))) at--;
  if (at < 0) at = kept.length - 1;
  return kept.slice(at, at + QUOTED_LINES).join(' | ');
}

