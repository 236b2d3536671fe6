/**
 * Fake Job controller: one pod at a time, run by the fake kubelet.
 *
 * Success sets `succeeded` and the conditions SuccessCriteriaMet + Complete (what
 * `kubectl wait --for=condition=complete` and Helm hook waits look for); failure retries with a
 * new pod until `backoffLimit` failures are exceeded (0 means no retry), then FailureTarget +
 * Failed reason BackoffLimitExceeded. `activeDeadlineSeconds` kills the running pod and fails
 * the Job with DeadlineExceeded; `ttlSecondsAfterFinished` deletes it. Retries wait 100 ms
 * instead of the real 10 s exponential back-off, to keep tests fast.
 */
import type { KubeApi } from './api.js';
import type { Kubelet } from './kubelet.js';
import { grKey, mustFind } from './registry.js';
import { now, type KubeObject } from './types.js';

const JOBS = mustFind({ group: 'batch', resource: 'jobs' });
const PODS = mustFind({ group: '', resource: 'pods' });
const RETRY_DELAY_MS = 100;

const condition = (type: string, reason: string, message: string) => ({
  type,
  status: 'True',
  reason,
  message,
  lastProbeTime: now(),
  lastTransitionTime: now(),
});

const isFinished = (job: KubeObject) =>
  (job.status?.conditions ?? []).some((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

export class JobController {
  private readonly timers = new Map<string, Set<NodeJS.Timeout>>();
  private readonly handledPods = new Set<string>();

  constructor(private readonly api: KubeApi, private readonly kubelet: Kubelet) {
    api.store.subscribe((ev) => {
      if (ev.gr === grKey(JOBS)) {
        if (ev.type === 'ADDED' && !ev.object.spec?.suspend) this.start(ev.object);
        if (ev.type === 'DELETED') this.clearTimers(ev.object.metadata.uid!);
      } else if (ev.gr === grKey(PODS) && ev.type !== 'ADDED') {
        // A pod deleted while running counts as failed (the job-tracking finalizer does this in
        // a real cluster), so `kubectl delete pod` makes the Job retry or fail, never hang.
        const phase = ev.type === 'DELETED' ? 'Failed' : ev.object.status?.phase;
        if ((phase === 'Succeeded' || phase === 'Failed') && !this.handledPods.has(ev.object.metadata.uid!)) {
          this.handledPods.add(ev.object.metadata.uid!);
          this.podFinished(ev.object, phase === 'Succeeded');
        }
      }
    });
  }

  close(): void {
    for (const uid of this.timers.keys()) this.clearTimers(uid);
  }

  private start(job: KubeObject): void {
    this.setStatus(job, (s) => ({ ...s, startTime: now(), active: 1, ready: 0, terminating: 0 }));
    this.createPod(job);
    const deadline = job.spec.activeDeadlineSeconds;
    if (typeof deadline === 'number') this.after(job, deadline * 1000, () => this.deadlineExceeded(job));
  }

  private createPod(job: KubeObject): void {
    const t = job.spec.template ?? {};
    this.api.create(PODS, job.metadata.namespace, {
      metadata: {
        generateName: `${job.metadata.name}-`,
        labels: { ...t.metadata?.labels },
        annotations: t.metadata?.annotations,
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name!, uid: job.metadata.uid!, controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: structuredClone(t.spec),
    });
  }

  private podFinished(pod: KubeObject, succeeded: boolean): void {
    const ref = pod.metadata.ownerReferences?.find((r) => r.kind === 'Job' && r.controller);
    const job = ref && this.api.find(JOBS, pod.metadata.namespace, ref.name);
    if (!job || job.metadata.uid !== ref!.uid || isFinished(job)) return;
    if (succeeded) {
      const count = (job.status?.succeeded ?? 0) + 1;
      if (count < (job.spec.completions ?? 1)) {
        this.setStatus(job, (s) => ({ ...s, succeeded: count }));
        return this.createPod(job);
      }
      const msg = 'Reached expected number of succeeded pods';
      this.finish(job, (s) => ({
        ...s,
        succeeded: count,
        completionTime: now(),
        conditions: [condition('SuccessCriteriaMet', 'CompletionsReached', msg), condition('Complete', 'CompletionsReached', msg)],
      }));
      return;
    }
    const failed = (job.status?.failed ?? 0) + 1;
    if (failed > (job.spec.backoffLimit ?? 6)) {
      return this.fail(job, failed, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
    }
    this.setStatus(job, (s) => ({ ...s, failed }));
    this.after(job, RETRY_DELAY_MS, () => {
      const cur = this.api.find(JOBS, job.metadata.namespace, job.metadata.name!);
      if (cur && cur.metadata.uid === job.metadata.uid && !isFinished(cur)) this.createPod(cur);
    });
  }

  private deadlineExceeded(job: KubeObject): void {
    const cur = this.api.find(JOBS, job.metadata.namespace, job.metadata.name!);
    if (!cur || cur.metadata.uid !== job.metadata.uid || isFinished(cur)) return;
    const active = this.api.list(PODS, job.metadata.namespace).filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === job.metadata.uid));
    for (const p of active) if (p.status?.phase === 'Running' || p.status?.phase === 'Pending') this.handledPods.add(p.metadata.uid!);
    const failed = (cur.status?.failed ?? 0) + active.filter((p) => p.status?.phase === 'Running').length;
    this.fail(cur, failed, 'DeadlineExceeded', 'Job was active longer than specified deadline');
    for (const p of active) this.kubelet.kill(p.metadata.uid!, 'DeadlineExceeded');
  }

  private fail(job: KubeObject, failed: number, reason: string, message: string): void {
    this.finish(job, (s) => ({ ...s, failed, conditions: [condition('FailureTarget', reason, message), condition('Failed', reason, message)] }));
  }

  private finish(job: KubeObject, fn: (s: Record<string, unknown>) => Record<string, unknown>): void {
    this.setStatus(job, (s) => ({ ...fn(s), active: 0, ready: 0 }));
    const ttl = job.spec.ttlSecondsAfterFinished;
    this.clearTimers(job.metadata.uid!);
    if (typeof ttl === 'number') {
      this.after(job, ttl * 1000, () => {
        const cur = this.api.find(JOBS, job.metadata.namespace, job.metadata.name!);
        if (cur?.metadata.uid === job.metadata.uid) this.api.delete(JOBS, job.metadata.namespace, job.metadata.name!);
      });
    }
  }

  private setStatus(job: KubeObject, fn: (s: Record<string, unknown>) => Record<string, unknown>): void {
    this.api.mutate(JOBS, job.metadata.namespace, job.metadata.name!, (j) => (j.status = fn(j.status ?? {})), { subresource: 'status' });
  }

  private after(job: KubeObject, ms: number, fn: () => void): void {
    const uid = job.metadata.uid!;
    const set = this.timers.get(uid) ?? new Set<NodeJS.Timeout>();
    this.timers.set(uid, set);
    const t = setTimeout(() => {
      set.delete(t);
      fn();
    }, ms);
    set.add(t);
  }

  private clearTimers(uid: string): void {
    for (const t of this.timers.get(uid) ?? []) clearTimeout(t);
    this.timers.delete(uid);
  }
}
