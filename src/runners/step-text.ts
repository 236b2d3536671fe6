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
