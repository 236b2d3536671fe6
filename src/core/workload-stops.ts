/**
 * Stopping the workloads that write to the schema, and starting them again, for both rollbacks
 * (downs: execute.ts; forward-only restore: forward-only.ts). One loop, so that a re-run after an
 * interrupt treats a workload an earlier run left at 0 the same way in both.
 */
import { splitRef } from './database-url.js';
import { RollbackError } from './errors.js';
import type { KubeScalePort, Log, RunRecord } from './ports.js';
import type { RunJournal } from './run-lock.js';

export interface WorkloadStop {
  ref: string;
  /** spec.replicas before the rollback, restored on failure. */
  replicas: number;
  /** Already at 0 when planned: an earlier run of this release stopped it (replicas: what it had before that run, from its record). */
  atZero?: boolean;
}

export interface ScaledEvent {
  type: 'scaled';
  ref: string;
  from: number;
  to: number;
}

/** Pure: the stops from the replicas read now; one at 0 that an earlier run stopped gets back what it had before that run. */
export function planStops(read: ReadonlyArray<{ ref: string; replicas: number }>, previousRun: RunRecord | undefined): WorkloadStop[] {
  return read.map(({ ref, replicas }): WorkloadStop =>
    (replicas > 0 ? { ref, replicas } : { ref, replicas: previousRun?.stopped.find((p) => p.ref === ref)?.replicas ?? 0, atZero: true }));
}

/**
 * Scales each workload to 0, one journaled step each, and returns the ones now stopped (in order)
 * through `scaled` as it goes, so that a failure part-way restores exactly those. `before` throws to
 * stop between workloads (an interrupt).
 */
export async function stopWorkloads(
  kube: KubeScalePort, stops: readonly WorkloadStop[], scaled: WorkloadStop[], journal: RunJournal,
  emit: (e: ScaledEvent) => void, before: (what: string) => void,
): Promise<void> {
  for (const w of stops) {
    before(`scaling ${w.ref}`);
    if (w.atZero) {
      // Stopped by an earlier run: nothing to do, but a failure restores it like the others.
      scaled.push(w);
      continue;
    }
    const [kind, name] = splitRef(w.ref);
    const step = await journal.begin(`scale ${w.ref} ${w.replicas}->0`);
    await kube.scale(kind, name, 0);
    scaled.push(w);
    await journal.end(step, 'ok');
    emit({ type: 'scaled', ref: w.ref, from: w.replicas, to: 0 });
  }
}

/** Starts the stopped workloads again, last stopped first; a failure is logged and the others still start. */
export async function restartWorkloads(kube: KubeScalePort, scaled: readonly WorkloadStop[], emit: (e: ScaledEvent) => void, log: Log): Promise<void> {
  for (const w of [...scaled].reverse()) {
    const [kind, name] = splitRef(w.ref);
    try {
      await kube.scale(kind, name, w.replicas);
      emit({ type: 'scaled', ref: w.ref, from: 0, to: w.replicas });
    } catch (err) {
      log.debug(`restoring ${w.ref} to ${w.replicas} failed: ${err instanceof RollbackError ? err.message : String(err)}`);
    }
  }
}
