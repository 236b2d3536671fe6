/**
 * The rollback action, shaped like Helm's pkg/action and built from three parts:
 *
 * - gather (gather.ts): reads everything the plan needs, at once where reads are independent,
 *   changing nothing, and records every outcome a plan may refuse on as a fact (facts.ts);
 * - plan (plan.ts): pure, from the facts to the complete, frozen plan with every step, command and
 *   revision list, and every refusal in one list;
 * - execute (execute.ts): named steps (stop the workloads that migrate on start, copy the data at
 *   risk, each track's downs and their check, the hand-off to `helm upgrade --version TARGET`), each
 *   of which on failure says where every track stands.
 *
 * prepare() is gather then plan: all --dry-run does. A refused plan is thrown as one error listing
 * every refusal (refusalError), with the first one's exit code.
 */
import { gather, type RollbackDeps, type RollbackOptions, type Timing } from './gather.js';
import { planRollback, refusalError, type RollbackPlan, type WorkloadStop } from './plan.js';
import type { ArchivedCopy } from './data-at-risk.js';
import type { GitOpsHandoff } from './gitops.js';
import type { Runner, RunRecord, TrackState, TrackStep } from './ports.js';
import type { TrackStanding } from './execute.js';
import type { StepEvent } from './steps.js';

export type { RollbackDeps, RollbackOptions, RunnerChoice, Timing } from './gather.js';
export type { Refusal, RollbackPlan, WorkloadStop } from './plan.js';
export type { TargetSource } from './facts.js';
export { helmSays } from './gather.js';

export type RollbackEvent =
  | StepEvent
  | { type: 'scaled'; ref: string; from: number; to: number }
  | { type: 'archived'; schema: string; copies: ArchivedCopy[] }
  | { type: 'track:start'; step: TrackStep }
  | { type: 'track:output'; track: string; line: string }
  | { type: 'track:done'; track: string; state: TrackState }
  | {
      type: 'stopped';
      tracks: TrackStanding[];
      /** What became of the workloads the run scaled to 0, and why they were kept at 0. */
      workloads: 'restored' | 'kept' | 'none';
      why?: string;
      /** Per dirty track: the exact repair. */
      repairs: Record<string, string>;
    }
  | { type: 'previous-run'; record: RunRecord }
  | { type: 'warning'; message: string }
  | { type: 'handoff:start'; argv: string[] }
  | { type: 'handoff:output'; line: string }
  /** helm upgrade failed after the downs: where every track stands (at its target) and the workloads kept at 0. */
  | { type: 'handoff:failed'; tracks: HandoffTrackStanding[]; kept: WorkloadStop[] }
  /** GitOps mode: the downs are done; the hand-off is the printed Git change, the workloads kept at 0 until the controller applies it. */
  | { type: 'gitops:handoff'; handoff: GitOpsHandoff; kept: WorkloadStop[] };

/** A track when the hand-off failed: its downs done and verified in this run, or skipped by the plan (the reason says where it is). */
export type HandoffTrackStanding =
  | { track: string; outcome: 'verified'; at: string; target: string }
  | { track: string; outcome: 'skipped'; reason: string };

export interface Prepared {
  plan: RollbackPlan;
  /**
   * Kept out of the plan so that printing a plan can never print it. Through a port-forward, this is
   * the URL of the forward's local end: the runner and the checks connect with it.
   */
  databaseUrl: string;
  /** The URL as the app has it (no port-forward): what a program in the cluster connects with. */
  appUrl: string;
  runner: Runner;
  /** Each read of the gather and when it ran (--timings). */
  timings: Timing[];
  /** Stops the port-forward, if one was started; call it once the plan is executed or dropped. */
  close(): Promise<void>;
}

/** Gathers the facts and plans; throws every refusal at once (nothing has changed). */
export async function prepare(deps: RollbackDeps, opts: RollbackOptions): Promise<Prepared> {
  const gathered = await gather(deps, opts);
  const plan = planRollback(gathered.facts);
  if (plan.refusals.length > 0 || !gathered.runner) {
    await gathered.close();
    throw refusalError(plan.refusals);
  }
  return { plan, databaseUrl: gathered.databaseUrl, appUrl: gathered.appUrl, runner: gathered.runner, timings: gathered.timings, close: gathered.close };
}

export { execute, type RunControl } from './execute.js';
