/**
 * The read-only kubectl calls of the plan's and status's critical path, and the run record's
 * writes, answered by the in-process API client (kube-api.ts) behind the same Kubectl interface:
 * the core does not know which one it talks to. What this file does not answer (exec, logs, Jobs,
 * scale, port-forward, a kind it has no path for) still goes to kubectl.
 */
import { CommandFailedError } from '../core/errors.js';
import type { KubeObject } from '../core/ports.js';
import type { SecretSink } from '../core/redact.js';
import { apiError, type KubeApi } from './kube-api.js';
import { accessReview, learnSecretValues, replicasOf, type Kubectl } from './kubectl.js';

interface ResourcePath {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
}

const CORE = (plural: string): ResourcePath => ({ group: '', version: 'v1', plural });
const APPS = (plural: string): ResourcePath => ({ group: 'apps', version: 'v1', plural });
const BATCH = (plural: string): ResourcePath => ({ group: 'batch', version: 'v1', plural });

/**
 * The names kubectl takes for the kinds the plugin reads (singular, plural, short, Kind, kind.group),
 * with the path each is served at. A name not here is read by kubectl, which asks discovery.
 */
const RESOURCES: Record<string, ResourcePath> = {};
for (const [names, path] of [
  [['pod', 'pods', 'po'], CORE('pods')],
  [['service', 'services', 'svc'], CORE('services')],
  [['secret', 'secrets'], CORE('secrets')],
  [['configmap', 'configmaps', 'cm'], CORE('configmaps')],
  [['serviceaccount', 'serviceaccounts', 'sa'], CORE('serviceaccounts')],
  [['persistentvolumeclaim', 'persistentvolumeclaims', 'pvc'], CORE('persistentvolumeclaims')],
  [['deployment', 'deployments', 'deploy', 'deployment.apps', 'deployments.apps'], APPS('deployments')],
  [['statefulset', 'statefulsets', 'sts', 'statefulset.apps', 'statefulsets.apps'], APPS('statefulsets')],
  [['daemonset', 'daemonsets', 'ds', 'daemonset.apps', 'daemonsets.apps'], APPS('daemonsets')],
  [['replicaset', 'replicasets', 'rs', 'replicaset.apps', 'replicasets.apps'], APPS('replicasets')],
  [['job', 'jobs', 'job.batch', 'jobs.batch'], BATCH('jobs')],
  [['cronjob', 'cronjobs', 'cj', 'cronjob.batch', 'cronjobs.batch'], BATCH('cronjobs')],
] as const) {
  for (const name of names) RESOURCES[name] = path;
}

/** The API path of a namespaced object of a kind kubectl would name so, or undefined when the kind is not one of RESOURCES. */
export function objectPath(kind: string, namespace: string, name: string): string | undefined {
  const r = RESOURCES[kind.toLowerCase()];
  if (!r) return undefined;
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${r.plural}/${encodeURIComponent(name)}`;
}

export interface KubeApiKubectlOptions {
  namespace: string;
  secrets?: SecretSink;
}

export function withKubeApi(kubectl: Kubectl, api: KubeApi, opts: KubeApiKubectlOptions): Kubectl {
  const ns = opts.namespace;
  const get = async (kind: string, name: string): Promise<KubeObject> => {
    const at = objectPath(kind, ns, name);
    if (!at) return kubectl.get(kind, name);
    return learnSecretValues(await api.json<KubeObject>('GET', at, { namespace: ns }), opts.secrets);
  };
  return {
    ...kubectl,
    get,
    async getObjects(refs) {
      // All or nothing, as the one kubectl call this replaces.
      return Promise.all(refs.map((r) => get(r.kind, r.name)));
    },
    async getReplicas(kind, name) {
      return replicasOf(await get(kind, name), kind, name);
    },
    async canI(requests) {
      return Promise.all(requests.map(async (r) => {
        const answer = await api.json<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { body: JSON.stringify(accessReview(r)) });
        return answer.status?.allowed === true;
      }));
    },
    async getRaw(path) {
      const res = await api.request('GET', path);
      if (res.status === 404) return undefined;
      if (res.status >= 200 && res.status < 300) return res.body;
      throw apiError('GET', path, res, ns);
    },
    async applyServerSide(object, fieldManager) {
      const at = objectPath(object.kind ?? '', ns, object.metadata.name);
      if (!at) return kubectl.applyServerSide(object, fieldManager);
      // kubectl apply --server-side --force-conflicts: a JSON body is valid apply-patch YAML.
      await api.json('PATCH', `${at}?fieldManager=${encodeURIComponent(fieldManager)}&fieldValidation=Strict&force=true`, {
        body: JSON.stringify(object), contentType: 'application/apply-patch+yaml', namespace: ns,
      });
    },
    async getIn(resource, namespace, name) {
      const dot = resource.indexOf('.');
      if (dot < 0) return kubectl.getIn(resource, namespace, name);
      const [plural, group] = [resource.slice(0, dot), resource.slice(dot + 1)];
      const noSuchType = () => new CommandFailedError(['kubectl', 'get', resource], 1, `error: the server doesn't have a resource type "${plural}"`);
      // The group's preferred version, as kubectl's discovery picks it; no group: no such resource type.
      const served = await api.request('GET', `/apis/${group}`);
      if (served.status === 404) throw noSuchType();
      if (served.status < 200 || served.status >= 300) throw apiError('GET', `/apis/${group}`, served);
      const version = parseJson<{ preferredVersion?: { version?: string } }>(served.body)?.preferredVersion?.version;
      if (!version) return kubectl.getIn(resource, namespace, name);
      const at = `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
      const res = await api.request('GET', at);
      if (res.status === 404) {
        // The object is missing (a NotFound naming it), or the resource itself is not served.
        const status = parseJson<{ reason?: string; details?: { name?: string } }>(res.body);
        if (status?.reason === 'NotFound' && status.details?.name === name) return undefined;
        throw noSuchType();
      }
      if (res.status < 200 || res.status >= 300) throw apiError('GET', at, res, namespace);
      return JSON.parse(res.body) as KubeObject;
    },
  };
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
