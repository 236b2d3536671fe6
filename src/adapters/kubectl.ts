/**
 * Kubernetes, through kubectl. kubectl ignores Helm's HELM_* variables, so the connection settings
 * Helm resolved (context, namespace, API server, token, ...) are turned into kubectl flags here, in
 * one place, for every call.
 */
import { parseAllDocuments } from 'yaml';
import { ClusterError, CommandFailedError, ExitCode, RollbackError, UsageError } from '../core/errors.js';
import { permissionDenied } from '../core/permissions.js';
import type { AccessRequest, AccessReviewPort, JobOutcome, KubeExecPort, KubeJobPort, KubeObject, KubePort, KubeScalePort, Log } from '../core/ports.js';
import type { SecretSink } from '../core/redact.js';
import { maskArgv, runCommand, streamCommand } from './command.js';

export interface KubectlOptions {
  /** $SCHEMA_ROLLBACK_KUBECTL, or "kubectl" from PATH. */
  bin: string;
  namespace: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Learns every value read from a Secret, so that no output of the run shows it. */
  secrets?: SecretSink;
}

export interface Kubectl extends KubePort, KubeScalePort, KubeJobPort, KubeExecPort, AccessReviewPort {
  run(args: string[], input?: string): Promise<string>;
  /** Several objects in one kubectl call, in the order asked. Throws when any of them cannot be read. */
  getObjects(refs: ReadonlyArray<{ kind: string; name: string }>): Promise<KubeObject[]>;
  /** The raw answer to GET PATH (`kubectl get --raw`), or undefined when the object does not exist. */
  getRaw(path: string): Promise<string | undefined>;
  /** Creates or replaces an object of the namespace whole (`kubectl apply --server-side --force-conflicts`). */
  applyServerSide(object: KubeObject, fieldManager: string): Promise<void>;
  /**
   * One object of a resource named plural.group (an Argo CD Application, a Flux HelmRelease) in another
   * namespace, or undefined when there is none. CommandFailedError "doesn't have a resource type" when
   * the cluster does not serve the resource.
   */
  getIn(resource: string, namespace: string, name: string): Promise<KubeObject | undefined>;
}

/** How often waitForJob asks, at most: a Job is a matter of seconds to minutes. */
const POLL_MAX_MS = 2000;
/** Kinds whose spec.replicas the scale subresource sets. */
export const SCALABLE = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

/**
 * kubectl flags for the connection settings Helm passes to plugins as environment variables
 * (`helm --kube-context`, `--kube-token`, ...). Empty values are Helm's "not set".
 */
export function kubectlConnectionArgs(env: NodeJS.ProcessEnv): string[] {
  const pairs: Array<[string, string]> = [
    ['HELM_KUBECONTEXT', '--context'],
    ['HELM_KUBEAPISERVER', '--server'],
    ['HELM_KUBETOKEN', '--token'],
    ['HELM_KUBEASUSER', '--as'],
    ['HELM_KUBECAFILE', '--certificate-authority'],
    ['HELM_KUBETLS_SERVER_NAME', '--tls-server-name'],
  ];
  const args: string[] = [];
  for (const [name, flag] of pairs) {
    const value = env[name];
    if (value) args.push(flag, value);
  }
  for (const group of (env['HELM_KUBEASGROUPS'] ?? '').split(',').filter(Boolean)) args.push('--as-group', group);
  if (env['HELM_KUBEINSECURE_SKIP_TLS_VERIFY'] === 'true') args.push('--insecure-skip-tls-verify=true');
  return args;
}

export function createKubectl(opts: KubectlOptions): Kubectl {
  const connection = kubectlConnectionArgs(opts.env);
  const run = async (args: string[], input?: string): Promise<string> => {
    const argv = [...connection, '--namespace', opts.namespace, ...args];
    const result = await runCommand(opts.bin, argv, { env: opts.env, log: opts.log, input });
    if (result.spawnError) {
      throw new RollbackError(ExitCode.commandFailed, `cannot run kubectl (${opts.bin}): ${result.spawnError}`, {
        hint: 'install kubectl on PATH, or set SCHEMA_ROLLBACK_KUBECTL to its path',
      });
    }
    if (result.exitCode !== 0) throw kubectlError([opts.bin, ...argv], result.exitCode, result.stderr, opts.namespace);
    return result.stdout;
  };
  const learn = (obj: KubeObject): KubeObject => learnSecretValues(obj, opts.secrets);
  const get = async (kind: string, name: string): Promise<KubeObject> => learn(JSON.parse(await run(['get', kind, name, '-o', 'json'])) as KubeObject);
  return {
    run,
    get,
    async getObjects(refs) {
      // One process for several objects (kubectl get KIND/NAME KIND/NAME): fails whole when any is missing or forbidden.
      const out = JSON.parse(await run(['get', ...refs.map((r) => `${r.kind}/${r.name}`), '-o', 'json'])) as KubeObject & { items?: KubeObject[] };
      return (refs.length === 1 && out.kind !== 'List' ? [out] : (out.items ?? [])).map(learn);
    },
    async getRaw(path) {
      // --raw, not "get --ignore-not-found": on a 404 that also GETs the namespace, which a Role
      // bound in the namespace cannot grant (namespaces are cluster-scoped).
      try {
        return await run(['get', '--raw', path]);
      } catch (err) {
        if (err instanceof Error && /\(NotFound\)|not found/.test(err.message)) return undefined;
        throw err;
      }
    },
    async applyServerSide(object, fieldManager) {
      await run(['apply', '--server-side', '--force-conflicts', `--field-manager=${fieldManager}`, '-f', '-'], JSON.stringify(object));
    },
    async getIn(resource, namespace, name) {
      // The later -n wins over the release's namespace kubectl is given first.
      const out = await run(['get', resource, name, '-n', namespace, '--ignore-not-found', '-o', 'json']);
      return out.trim() === '' ? undefined : (JSON.parse(out) as KubeObject);
    },
    async scale(kind, name, replicas) {
      await run(scaleArgs(kind, name, replicas));
    },
    async getReplicas(kind, name) {
      return replicasOf(await get(kind, name), kind, name);
    },
    async createJob(job) {
      return JSON.parse(await run(['create', '-f', '-', '-o', 'json'], JSON.stringify(job))) as KubeObject;
    },
    async waitForJob(name, timeoutSeconds) {
      const deadline = Date.now() + timeoutSeconds * 1000;
      for (let delay = 250; ; delay = Math.min(delay * 2, POLL_MAX_MS)) {
        const outcome = jobOutcome(await get('job', name)) ?? unpullable(JSON.parse(await run(['get', 'pods', '-l', `job-name=${name}`, '-o', 'json'])) as { items?: KubeObject[] });
        if (outcome) return outcome;
        const left = deadline - Date.now();
        if (left <= 0) return { status: 'timeout' };
        await sleep(Math.min(delay, left));
      }
    },
    async followJobLogs(name, onLine, o = {}) {
      const argv = [...connection, '--namespace', opts.namespace, ...logsArgs(name, o.podRunningTimeoutSeconds)];
      // `kubectl logs` fails at once while the container is still being created (image pull,
      // init), rather than waiting: try again until it streams, the Job ends or the caller aborts.
      for (;;) {
        const result = await streamCommand(opts.bin, argv, { env: opts.env, log: opts.log, signal: o.signal, from: 'stdout', onLine });
        if (o.signal?.aborted || result.exitCode === 0) return;
        if (result.spawnError || !/waiting to start|ContainerCreating|PodInitializing/.test(result.stderr)) {
          throw kubectlError([opts.bin, ...argv], result.exitCode, result.stderr || (result.spawnError ?? ''), opts.namespace);
        }
        await sleep(1000, o.signal);
      }
    },
    async findRunningPod(kind, name) {
      const workload = await get(kind, name);
      const selector = podSelector(workload);
      if (!selector) throw new ClusterError(`${kind}/${name} has no spec.selector.matchLabels to find its pods by`);
      const pods = JSON.parse(await run(['get', 'pods', '-l', selector, '--field-selector=status.phase=Running', '-o', 'json'])) as { items?: KubeObject[] };
      // Not one being deleted; the oldest name first, so that repeated runs pick the same pod.
      const names = (pods.items ?? [])
        .filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp)
        .map((p) => p.metadata.name)
        .sort();
      if (names.length === 0) {
        throw new ClusterError(`${kind}/${name} has no Running pod to exec into (selector ${selector})`, {
          hint: 'start the workload (kubectl scale), name another one with --workload, or use --runner job',
        });
      }
      return names[0]!;
    },
    async exec(pod, container, argv, onLine) {
      const args = [...connection, '--namespace', opts.namespace, 'exec', pod, ...(container ? ['-c', container] : []), '--', ...argv];
      const result = await streamCommand(opts.bin, args, { env: opts.env, log: opts.log, from: 'all', onLine });
      if (result.spawnError) {
        throw new RollbackError(ExitCode.commandFailed, `cannot run kubectl (${opts.bin}): ${result.spawnError}`, {
          hint: 'install kubectl on PATH, or set SCHEMA_ROLLBACK_KUBECTL to its path',
        });
      }
      return result.exitCode ?? 1;
    },
    async canI(requests) {
      if (requests.length === 0) return [];
      // One process for all: a stream of SelfSubjectAccessReviews, each answered in order (what
      // `kubectl auth can-i` creates, one per call). --validate=false: the objects are ours, and
      // validating them would download the cluster's whole OpenAPI v2 document (a SelfSubjectAccessReview
      // has no PATCH operation for server-side validation to be found by).
      const stream = requests.map((r) => JSON.stringify(accessReview(r))).join('\n---\n');
      const answers = parseAllDocuments(await run(['create', '-f', '-', '-o', 'yaml', '--validate=false'], stream)).map((d) => d.toJS() as AccessReviewAnswer);
      return requests.map((r, k) => {
        const a = answers[k]?.spec?.resourceAttributes;
        if (!a || a.verb !== r.verb || a.resource !== r.resource || (a.subresource ?? '') !== (r.subresource ?? '') || (a.name ?? '') !== (r.name ?? '')) {
          throw new Error(`kubectl create answered ${answers.length} SelfSubjectAccessReviews for ${requests.length}, not in order`);
        }
        return answers[k]!.status?.allowed === true;
      });
    },
    async deleteJob(name) {
      // Foreground: the Job goes only after its pods, so when --wait returns nothing of it is left.
      await run(['delete', 'job', name, '--cascade=foreground', '--ignore-not-found', '--wait=true']);
    },
  };
}

/** Learns a Secret's values (both forms: helm --debug prints a release's manifests, Secrets' base64 data included), so that no output shows them. */
export function learnSecretValues(obj: KubeObject, secrets: SecretSink | undefined): KubeObject {
  if (obj.kind === 'Secret') {
    for (const value of Object.values(obj.data ?? {})) for (const form of [String(value), Buffer.from(String(value), 'base64').toString('utf8')]) secrets?.add(form);
  }
  return obj;
}

/** A SelfSubjectAccessReview (authorization.k8s.io/v1) asking about one request. */
export function accessReview(r: AccessRequest): object {
  const { verb, group, resource, subresource, name, namespace } = r;
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb, group, resource, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}), ...(namespace ? { namespace } : {}) } },
  };
}

interface AccessReviewAnswer {
  spec?: { resourceAttributes?: Partial<AccessRequest> };
  status?: { allowed?: boolean };
}

/**
 * RBAC's refusal as the API server words it and kubectl prints it:
 * `Error from server (Forbidden): secrets "db" is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "ai"`.
 */
export function parseForbidden(stderr: string): AccessRequest | undefined {
  const m = /(?:(\S+) "([^"]*)"|\S+) is forbidden: User "[^"]*" cannot (\S+) resource "([^"/]+)(?:\/([^"]+))?" in API group "([^"]*)"(?: in the namespace "([^"]*)")?/.exec(stderr);
  if (!m) return undefined;
  const [, , name, verb, resource, subresource, group, namespace] = m;
  return { verb: verb!, group: group!, resource: resource!, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}), ...(namespace ? { namespace } : {}) };
}

/** The workload's spec.selector.matchLabels as a kubectl label selector (k=v,k=v), or undefined. */
export function podSelector(workload: KubeObject): string | undefined {
  const labels = (workload.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
  if (!labels || Object.keys(labels).length === 0) return undefined;
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

export function scaleArgs(kind: string, name: string, replicas: number): string[] {
  if (!Number.isInteger(replicas) || replicas < 0) throw new RangeError(`replicas must be a whole number >= 0, got ${replicas}`);
  return ['scale', `${kind}/${name}`, `--replicas=${replicas}`];
}

/**
 * `kubectl logs -f job/NAME`. --pod-running-timeout (default 20s) is how long kubectl waits for the
 * Job's pod to exist and run; an image pull can take longer than that, so the caller sets it.
 */
export function logsArgs(job: string, podRunningTimeoutSeconds?: number): string[] {
  const args = ['logs', '-f', `job/${job}`];
  if (podRunningTimeoutSeconds !== undefined) args.push(`--pod-running-timeout=${podRunningTimeoutSeconds}s`);
  return args;
}

/** A Job's end from its conditions (Complete or Failed, status True), or undefined while it runs. */
export function jobOutcome(job: KubeObject): JobOutcome | undefined {
  const conditions = ((job as { status?: { conditions?: JobCondition[] } }).status?.conditions ?? []).filter((c) => c.status === 'True');
  if (conditions.some((c) => c.type === 'Complete')) return { status: 'complete' };
  const failed = conditions.find((c) => c.type === 'Failed');
  return failed ? { status: 'failed', reason: failed.reason, message: failed.message } : undefined;
}

/** Waiting reasons of a container whose image the kubelet cannot pull: retried with a back-off, never started. */
const IMAGE_PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/** A Job's pod whose container waits on an image that cannot be pulled: the Job has run nothing. */
export function unpullable(pods: { items?: KubeObject[] }): JobOutcome | undefined {
  for (const pod of pods.items ?? []) {
    const status = (pod as { status?: unknown }).status as { initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] } | undefined;
    for (const c of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && IMAGE_PULL_FAILURES.has(waiting.reason)) return { status: 'not-started', reason: waiting.reason, message: waiting.message, image: c.image };
    }
  }
  return undefined;
}

interface ContainerStatus {
  image?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}

interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

function kubectlError(argv: string[], exitCode: number | undefined, stderr: string, namespace: string): RollbackError {
  // `kubectl scale` words it "error: no objects passed to scale deployments.apps "x" not found".
  const notFound = /Error from server \(NotFound\): (.*)/.exec(stderr) ?? /no objects passed to \w+ (\S+ "[^"]*" not found)/.exec(stderr);
  if (notFound) {
    return new ClusterError(`${notFound[1]!.trim()} (namespace "${namespace}")`, {
      hint: 'check the name in the chart annotations or flags (schema-rollback.io/workload, --workload) and the namespace (-n)',
    });
  }
  const forbidden = parseForbidden(stderr);
  if (forbidden) return permissionDenied([forbidden], 'Kubernetes refused a request (Forbidden)');
  if (/Unable to connect to the server|connection refused|no such host|i\/o timeout|context .* does not exist/i.test(stderr)) {
    return new ClusterError(`kubectl cannot reach the cluster: ${stderr.trim().split('\n').pop()}`, {
      hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
    });
  }
  return new CommandFailedError(maskArgv(argv), exitCode, stderr);
}

/** spec.replicas of a workload the plugin may stop by scaling; a kind with none is the user's mistake. */
export function replicasOf(obj: KubeObject, kind: string, name: string): number {
  if (!SCALABLE.has(obj.kind ?? '')) {
    throw new UsageError(`${kind}/${name} is a ${obj.kind}, which has no replicas to scale`, {
      hint: 'only Deployments, StatefulSets and ReplicaSets can be stopped by scaling; list those in schema-rollback.io/stop',
    });
  }
  return (obj.spec as { replicas?: number } | undefined)?.replicas ?? 1;
}
