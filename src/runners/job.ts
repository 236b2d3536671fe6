/**
 * The job runner: a track's downs run in a Kubernetes Job cloned from the current release's pod
 * template, so they run with the newer image (which has the down migrations the older one lacks,
 * helm/helm#5825), the same env, Secrets, volumes and service account as the app itself.
 *
 * The database URL never passes through here: the Job's container inherits the app's env, and the
 * tool reads the URL from there exactly as the app does.
 */
import { randomBytes } from 'node:crypto';
import { InterruptedError, RefusedError, StepFailedError, UsageError } from '../core/errors.js';
import { failureOutput, revisionRange, TAIL_LINES } from './step-text.js';
import type { JobOutcome, KubeJobPort, KubeObject, Log, ProbePort, Runner, RunnerContext, TrackStep } from '../core/ports.js';

export const MANAGED_BY = 'helm-schema-rollback';
export const DEFAULT_DEADLINE_SECONDS = 600;
/** Extra wait beyond the Job's own deadline, for the controller to mark it Failed. */
const WAIT_GRACE_SECONDS = 30;
/** How long the log may still drain once the Job has ended. */
const LOG_DRAIN_MS = 5000;

type Json = Record<string, unknown>;

interface Container extends Json {
  name: string;
  image?: string;
  volumeMounts?: Array<{ name: string }>;
  volumeDevices?: Array<{ name: string }>;
}

interface PodSpec extends Json {
  containers?: Container[];
  initContainers?: Array<Container & { restartPolicy?: string }>;
  volumes?: Array<{ name: string }>;
  affinity?: { nodeAffinity?: unknown };
  serviceAccount?: string;
}

export interface JobOptions {
  release: string;
  namespace: string;
  /** activeDeadlineSeconds; default 600. */
  deadlineSeconds?: number;
  /** The name's random part; tests fix it. */
  suffix?: string;
  /** Why the Job runs when it is not a track's downs (annotation helm-schema-rollback/purpose), e.g. "discover". */
  purpose?: string;
  /** Env vars that replace the app's own of the same name (set after them, so $(VAR) references after see them too). */
  env?: Readonly<Record<string, string>>;
}

/**
 * Container fields kept: what the app needs to reach the database and run its tool the same way.
 * Dropped: ports, probes, lifecycle hooks, stdin/tty, resizePolicy, restartPolicy (they serve a
 * long-running server, and a probe would kill a long migration), args (the command is complete).
 */
const CONTAINER_FIELDS = ['name', 'image', 'imagePullPolicy', 'workingDir', 'env', 'envFrom', 'volumeMounts', 'volumeDevices', 'resources', 'securityContext'];

/**
 * Pod fields kept: identity (service account), where it may run and pull from (node selector,
 * tolerations, node affinity, pull secrets, runtime class), how it resolves the database host.
 * Kept: native sidecars (initContainers with restartPolicy: Always, Kubernetes 1.29+), e.g. the
 * cloud-sql-proxy many apps reach their database through; the kubelet stops them once the Job's
 * container ends, so they do not keep the Job from completing.
 * Dropped: other initContainers (the app's start-up steps, which often run "migrate up" and would
 * re-apply what this Job reverts, or wait for services a migration does not need), other
 * containers (sidecars that never exit would keep the Job from completing), pod (anti-)affinity and
 * topology spread (they spread the app's replicas and could leave the Job unschedulable).
 */
const POD_FIELDS = [
  'serviceAccountName', 'automountServiceAccountToken', 'securityContext', 'imagePullSecrets', 'nodeSelector', 'tolerations',
  'hostAliases', 'dnsPolicy', 'dnsConfig', 'enableServiceLinks', 'priorityClassName', 'runtimeClassName',
];

function pick<T extends Json>(from: T, keys: string[]): Json {
  const out: Json = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = structuredClone(from[k]);
  return out;
}

/** The pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job; a CronJob's job template's. */
export function podTemplateSpec(workload: KubeObject): PodSpec {
  const spec = (workload.spec ?? {}) as { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } };
  const pod = spec.template?.spec ?? spec.jobTemplate?.spec?.template?.spec;
  if (!pod) throw new UsageError(`${workload.kind}/${workload.metadata.name} has no pod template to run a Job from`);
  return pod;
}

/** A DNS-1123 label: `<release>-schema-rollback-<track>-<suffix>`, shortened to 63 characters. */
export function jobName(release: string, track: string, suffix: string): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  const base = clean(`${release}-schema-rollback-${track}`).slice(0, 62 - suffix.length).replace(/-+$/, '');
  return `${base}-${clean(suffix)}`;
}

/** Label values: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
const labelValue = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');

/** The Job that runs `step.command` in `container` (or the first container) of the workload's pod template. */
export function jobFromWorkload(workload: KubeObject, container: string | undefined, step: Pick<TrackStep, 'track' | 'command'>, opts: JobOptions): KubeObject {
  const ref = `${workload.kind}/${workload.metadata.name}`;
  if (!step.command?.length) {
    throw new RefusedError([`track ${step.track}: no down command to run in a Job`], 'the chart contract or the flags must give the command that runs the downs in the app image');
  }
  const pod = podTemplateSpec(workload);
  const containers = pod.containers ?? [];
  const chosen = container === undefined ? containers[0] : containers.find((c) => c.name === container);
  if (!chosen) {
    throw new UsageError(`${ref} has no container ${container === undefined ? 'at all' : `named "${container}"`}`, {
      hint: `containers: ${containers.map((c) => c.name).join(', ') || 'none'}; choose one with --container (annotation schema-rollback.io/container)`,
    });
  }
  const c: Json = { ...pick(chosen, CONTAINER_FIELDS), command: [...step.command] };
  if (opts.env) {
    const replaced = new Set(Object.keys(opts.env));
    // A plain env entry wins over envFrom, so the app's Secret cannot bring the live value back.
    c['env'] = [...((c['env'] as Array<{ name: string }> | undefined) ?? []).filter((e) => !replaced.has(e.name)), ...Object.entries(opts.env).map(([name, value]) => ({ name, value }))];
  }
  const sidecars = (pod.initContainers ?? []).filter((i) => i.restartPolicy === 'Always').map((i) => structuredClone(i));
  const used = new Set([chosen, ...sidecars].flatMap((x) => [...(x.volumeMounts ?? []), ...(x.volumeDevices ?? [])]).map((m) => m.name));
  const volumes = (pod.volumes ?? []).filter((v) => used.has(v.name)).map((v) => structuredClone(v));
  const spec: Json = { ...pick(pod, POD_FIELDS), restartPolicy: 'Never', ...(sidecars.length ? { initContainers: sidecars } : {}), containers: [c] };
  if (!spec['serviceAccountName'] && pod.serviceAccount) spec['serviceAccountName'] = pod.serviceAccount; // the deprecated alias
  if (pod.affinity?.nodeAffinity) spec['affinity'] = { nodeAffinity: structuredClone(pod.affinity.nodeAffinity) };
  if (volumes.length) spec['volumes'] = volumes;
  const name = jobName(opts.release, step.track, opts.suffix ?? randomSuffix());
  // Not the app's labels: a Service selecting them would send traffic to this pod.
  const labels = {
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'helm-schema-rollback/release': labelValue(opts.release),
    'helm-schema-rollback/track': labelValue(step.track),
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: opts.namespace, labels, annotations: { 'helm-schema-rollback/workload': ref, ...(opts.purpose ? { 'helm-schema-rollback/purpose': opts.purpose } : {}) } },
    spec: {
      // One attempt: a failed down must be looked at, not retried over a half-reverted schema.
      backoffLimit: 0,
      activeDeadlineSeconds: opts.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS,
      // No ttlSecondsAfterFinished: a failed Job is kept for its log; we delete a successful one.
      template: {
        metadata: {
          labels,
          // An injected mesh proxy never exits, so the Job would never complete.
          annotations: { 'sidecar.istio.io/inject': 'false', 'linkerd.io/inject': 'disabled' },
        },
        spec,
      },
    },
  };
}

function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
}

export interface JobRunnerDeps {
  kube: KubeJobPort;
  /** The current release's workload, already fetched (kubectl get -o json). */
  workload: KubeObject;
  container: string | undefined;
  release: string;
  namespace: string;
  /** The Job's activeDeadlineSeconds; default 600. */
  timeoutSeconds?: number;
  /** Keep a failed Job for its log (default true). */
  keepOnFailure?: boolean;
}

export function createJobRunner(deps: JobRunnerDeps): Runner {
  const deadline = deps.timeoutSeconds ?? DEFAULT_DEADLINE_SECONDS;
  return {
    name: 'job',
    /** The same Job with another command (the tool's offline SQL; --verify-downs' steps on the dev database, given in `env`); always deleted, its output returned. */
    async capture(step: TrackStep, command: string[], ctx: RunnerContext, env?: Readonly<Record<string, string>>): Promise<string[]> {
      const job = jobFromWorkload(deps.workload, deps.container, { ...step, command }, { release: deps.release, namespace: deps.namespace, deadlineSeconds: deadline, ...(env ? { env } : {}) });
      return captureJob(deps.kube, job, deadline, ctx.log);
    },
    async run(step: TrackStep, ctx: RunnerContext): Promise<void> {
      const job = jobFromWorkload(deps.workload, deps.container, step, { release: deps.release, namespace: deps.namespace, deadlineSeconds: deadline, ...(ctx.env ? { env: ctx.env } : {}) });
      const name = job.metadata.name;
      const image = ((job.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!.image) ?? '?';
      await deps.kube.createJob(job);
      ctx.onOutput(`job/${name} started (image ${image})`);
      const tail: string[] = [];
      const onLine = (line: string) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        ctx.onOutput(line);
      };
      const stopLogs = new AbortController();
      const logs = deps.kube
        .followJobLogs(name, onLine, { signal: stopLogs.signal, podRunningTimeoutSeconds: deadline })
        .catch((err: unknown) => ctx.log.debug(`job/${name}: cannot follow the log: ${err instanceof Error ? err.message : String(err)}`));
      let outcome;
      try {
        outcome = await untilAborted(deps.kube.waitForJob(name, deadline + WAIT_GRACE_SECONDS), ctx.abort);
      } catch (err) {
        stopLogs.abort();
        if (err instanceof InterruptedError) {
          // A Job cannot be cut mid-step safely (the tool's transaction is in the pod): it is left to end.
          throw new InterruptedError(`track ${step.track}: stopped waiting for job/${name}, which is still running in the cluster; its end decides where the track stands`, {
            hint: `follow it with "kubectl logs -f job/${name} -n ${deps.namespace}", then "helm schema-rollback status ${deps.release}" and run the same command again`,
          });
        }
        throw new StepFailedError(step.track, revisionRange(step), err, keptHint(name, deps.namespace));
      }
      if (outcome.status === 'not-started') {
        // Deleted even when failed Jobs are kept: it ran nothing, has no log, and kept it would run
        // the downs whenever the image came, long after this run restored the workloads.
        stopLogs.abort();
        await logs;
        await deps.kube.deleteJob(name);
        throw new StepFailedError(step.track, revisionRange(step), new Error(`${notStarted(name, outcome)}; the Job ran nothing and was deleted`), pullHint(outcome.image));
      }
      // The container has ended; give kubectl a moment to deliver the last lines.
      const drained = setTimeout(() => stopLogs.abort(), LOG_DRAIN_MS);
      await logs;
      clearTimeout(drained);
      if (outcome.status === 'complete') {
        await deps.kube.deleteJob(name);
        ctx.log.debug(`job/${name} completed and was deleted`);
        return;
      }
      const why = outcome.status === 'timeout'
        ? `did not finish within ${deadline + WAIT_GRACE_SECONDS}s`
        : `failed (${[outcome.reason, outcome.message].filter(Boolean).join(': ') || 'no reason given'})`;
      const last = tail.length ? `; last output: ${failureOutput(tail)}` : '';
      const cause = new Error(`job/${name} ${why}${last}`);
      if (deps.keepOnFailure === false) {
        await deps.kube.deleteJob(name);
        throw new StepFailedError(step.track, revisionRange(step), cause);
      }
      throw new StepFailedError(step.track, revisionRange(step), cause, keptHint(name, deps.namespace));
    },
  };
}

/** The promise, or an InterruptedError as soon as the operator's second interrupt aborts the signal. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new InterruptedError('interrupted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Runs a Job whose command only reads, and returns its output lines. The Job is deleted however it ends. */
async function captureJob(kube: KubeJobPort, job: KubeObject, deadline: number, log: Log): Promise<string[]> {
  const name = job.metadata.name;
  await kube.createJob(job);
  const lines: string[] = [];
  const stopLogs = new AbortController();
  const logs = kube
    .followJobLogs(name, (line) => lines.push(line), { signal: stopLogs.signal, podRunningTimeoutSeconds: deadline })
    .catch((err: unknown) => log.debug(`job/${name}: cannot follow the log: ${err instanceof Error ? err.message : String(err)}`));
  try {
    const outcome = await kube.waitForJob(name, deadline + WAIT_GRACE_SECONDS);
    if (outcome.status === 'not-started') throw new Error(notStarted(name, outcome));
    const drained = setTimeout(() => stopLogs.abort(), LOG_DRAIN_MS);
    await logs;
    clearTimeout(drained);
    if (outcome.status !== 'complete') {
      const why = outcome.status === 'timeout' ? 'did not finish' : `failed (${[outcome.reason, outcome.message].filter(Boolean).join(': ') || 'no reason given'})`;
      throw new Error(`job/${name} ${why}${lines.length ? `; last output: ${failureOutput(lines)}` : ''}`);
    }
    return lines;
  } finally {
    stopLogs.abort();
    await kube.deleteJob(name);
  }
}

export interface JobProbeDeps {
  kube: KubeJobPort;
  release: string;
  namespace: string;
  log: Log;
  /** The probe Job's activeDeadlineSeconds; default 120: a heads command reads files, it does not migrate. */
  timeoutSeconds?: number;
}

/**
 * The ProbePort on Jobs: a read-only command (alembic heads) in a Job cloned from a workload that
 * may exist only in a render of another chart version, so it runs in that version's image with its
 * env and volumes. Always deleted; its output returned.
 */
export function createJobProbe(deps: JobProbeDeps): ProbePort {
  const deadline = deps.timeoutSeconds ?? 120;
  return {
    async probe(workload, container, command, label) {
      const job = jobFromWorkload(workload, container, { track: label, command }, { release: deps.release, namespace: deps.namespace, deadlineSeconds: deadline, purpose: 'discover' });
      return captureJob(deps.kube, job, deadline, deps.log);
    },
  };
}

function notStarted(name: string, outcome: JobOutcome): string {
  return `job/${name} never started: its image ${outcome.image ?? '(unnamed)'} cannot be pulled (${[outcome.reason, outcome.message].filter(Boolean).join(': ')})`;
}

function pullHint(image: string | undefined): string {
  return `check that the cluster can pull ${image ?? 'the image'} (its name and tag in the release's values, the registry, imagePullSecrets; "kubectl describe pod" on a pod of the release shows the kubelet's error)`;
}

function keptHint(name: string, namespace: string): string {
  return `the Job is kept: read its output with "kubectl logs job/${name} -n ${namespace}", then remove it with "kubectl delete job ${name} -n ${namespace}"`;
}
