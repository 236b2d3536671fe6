/**
 * The Kubernetes permissions a rollback needs, checked before its first change. A user who may
 * scale the workload but not create Jobs, exec into pods or update the release's Secrets would
 * otherwise find out half-way: after the controller was stopped, or after the downs ran and
 * `helm upgrade` was refused, with the database already on the older schema and the release on the
 * newer chart. So the plan lists every request the run will make, in RBAC's terms, asks the API
 * server about all of them at once (SelfSubjectAccessReviews, what `kubectl auth can-i` creates),
 * and refuses naming each missing one and the Role rule that grants it.
 *
 * What is checked (in the release's namespace unless an object says otherwise):
 * - every workload the rollback stops: get, and patch of its scale subresource (`kubectl scale`
 *   reads the object, then patches /scale); the same call restores it on failure;
 * - the Secrets the database URL was read from: get;
 * - the job runner: create, get, list, watch and delete jobs (created, waited for, deleted with
 *   `kubectl delete --wait`); list and watch pods and get pods/log (`kubectl logs -f job/NAME`);
 * - the exec runner: get the workload, list and get pods (a Running pod is looked up, then
 *   `kubectl exec` reads it), create pods/exec;
 * - `helm upgrade`: list, create and update of the resource the release is stored in (Secrets by
 *   default, ConfigMaps with HELM_DRIVER=configmap), and get and patch of every object in the
 *   release's current manifest, by name (Helm 3 reads and patches each; Helm 4 applies each
 *   server-side, which is a patch).
 * Not checked: objects that only the target chart has (helm creates them) or only the current one
 * (helm deletes them), and what hooks do; the target's manifest would need a render.
 */
import { runRecordName } from './run-lock.js';
import { PermissionDeniedError } from './errors.js';
import { splitRef } from './database-url.js';
import type { AccessRequest, AccessReviewPort, Log, ManifestObject, ReleaseManifestPort } from './ports.js';

/** A request the run makes, and what it is for (shown when it is missing). */
export interface PermissionNeed extends AccessRequest {
  for: string;
}

export interface PermissionInputs {
  namespace: string;
  release: string;
  runner: string;
  /** KIND/NAME of each workload scaled to 0 before the downs. */
  stop: string[];
  /** KIND/NAME of the workload the job runner clones or the exec runner enters. */
  workload?: string;
  /** Names of the Secrets the database URL was read from. */
  urlSecrets: string[];
  releaseStorage: ReleaseManifestPort['releaseStorage'];
  manifest: ManifestObject[];
}

/** What the plan says about the check: every request asked about, or why it could not be asked. */
export interface PermissionsCheck {
  checked: PermissionNeed[];
  /** The API could not be asked (the plan goes on, saying so). */
  error?: string;
}

/** kubectl's short and plural kind names → RBAC's group and resource, for KIND/NAME references. */
const WORKLOAD_RESOURCES: Record<string, { group: string; resource: string }> = {
  deployment: { group: 'apps', resource: 'deployments' },
  statefulset: { group: 'apps', resource: 'statefulsets' },
  replicaset: { group: 'apps', resource: 'replicasets' },
  daemonset: { group: 'apps', resource: 'daemonsets' },
  job: { group: 'batch', resource: 'jobs' },
  cronjob: { group: 'batch', resource: 'cronjobs' },
  pod: { group: '', resource: 'pods' },
};
const KIND_ALIASES: Record<string, string> = {
  deploy: 'deployment', deployments: 'deployment', sts: 'statefulset', statefulsets: 'statefulset', rs: 'replicaset', replicasets: 'replicaset',
  ds: 'daemonset', daemonsets: 'daemonset', jobs: 'job', cj: 'cronjob', cronjobs: 'cronjob', po: 'pod', pods: 'pod',
};

/** Kinds without a namespace among those charts ship: a review of them must name none. */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'APIService', 'IngressClass', 'RuntimeClass', 'CSIDriver', 'VolumeSnapshotClass', 'ClusterIssuer',
]);

/** The group and resource of a KIND/NAME reference, or undefined for a kind this table does not know. */
export function workloadResource(ref: string): { group: string; resource: string; name: string } | undefined {
  const [kind, name] = splitRef(ref);
  const k = kind.toLowerCase();
  const r = WORKLOAD_RESOURCES[KIND_ALIASES[k] ?? k];
  return r && { ...r, name };
}

/**
 * A manifest object's resource, as Kubernetes' own fallback guesses it from the kind
 * (apimachinery's UnsafeGuessKindToResource: lower case, then -s, -es after s, -ies for -y).
 */
export function kindToResource(apiVersion: string, kind: string): { group: string; resource: string } {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const singular = kind.toLowerCase();
  const resource = singular.endsWith('endpoints')
    ? singular
    : singular.endsWith('s')
      ? `${singular}es`
      : singular.endsWith('y')
        ? `${singular.slice(0, -1)}ies`
        : `${singular}s`;
  return { group, resource };
}

/** Every request the run will make, in the order of the run, each once. */
export function requiredPermissions(i: PermissionInputs): PermissionNeed[] {
  const ns = i.namespace;
  const needs: PermissionNeed[] = [];
  const add = (verbs: string[], group: string, resource: string, rest: { subresource?: string; name?: string; namespace?: string | null }, why: string) => {
    for (const verb of verbs) {
      const namespace = rest.namespace === null ? undefined : (rest.namespace ?? ns);
      needs.push({ verb, group, resource, ...(rest.subresource ? { subresource: rest.subresource } : {}), ...(rest.name ? { name: rest.name } : {}), ...(namespace ? { namespace } : {}), for: why });
    }
  };
  for (const ref of i.stop) {
    const w = workloadResource(ref);
    if (!w) continue;
    add(['get'], w.group, w.resource, { name: w.name }, `to read ${ref}'s replicas`);
    add(['patch'], w.group, w.resource, { subresource: 'scale', name: w.name }, `to scale ${ref} to 0 before the downs (and back on failure)`);
  }
  for (const secret of i.urlSecrets) add(['get'], '', 'secrets', { name: secret }, 'to read the database URL');
  // The run record beside the release (src/core/run-lock.ts): read, written at each step, removed at the end.
  add(['get', 'patch', 'delete'], '', 'configmaps', { name: runRecordName(i.release) }, 'to keep the run record (who rolls the release back, since when, how far it got)');
  add(['create'], '', 'configmaps', {}, 'to create the run record');
  if (i.runner === 'job') {
    const w = i.workload ? workloadResource(i.workload) : undefined;
    if (w) add(['get'], w.group, w.resource, { name: w.name }, `to clone ${i.workload} into a Job`);
    add(['create', 'get', 'list', 'watch', 'delete'], 'batch', 'jobs', {}, 'to run the downs in a Job, wait for it and remove it');
    add(['list', 'watch'], '', 'pods', {}, 'to find the Job\'s pod');
    add(['get'], '', 'pods', { subresource: 'log' }, 'to stream the Job\'s log');
  } else if (i.runner === 'exec') {
    const w = i.workload ? workloadResource(i.workload) : undefined;
    if (w) add(['get'], w.group, w.resource, { name: w.name }, `to find the pods of ${i.workload}`);
    add(['list', 'get'], '', 'pods', {}, 'to find a Running pod to exec into');
    add(['create'], '', 'pods', { subresource: 'exec' }, 'to run the down command by kubectl exec');
  }
  if (i.releaseStorage) {
    add(['list', 'create', 'update'], '', i.releaseStorage, {}, `for helm upgrade to read the release's revisions and record the new one (Helm stores them in ${i.releaseStorage})`);
  }
  for (const o of i.manifest) {
    const { group, resource } = kindToResource(o.apiVersion, o.kind);
    const namespace = CLUSTER_SCOPED.has(o.kind) ? null : (o.namespace ?? ns);
    add(['get', 'patch'], group, resource, { name: o.name, namespace }, `for helm upgrade to update ${o.kind} ${o.name} of the release`);
  }
  const seen = new Set<string>();
  return needs.filter((n) => {
    const key = requestText(n);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Asks the API server about every request the run will make, throwing PermissionDeniedError
 * listing the missing ones. When the API cannot be asked (an old or unusual authorizer), the plan
 * goes on and says the permissions were not checked: the requests themselves are still authorized
 * when made.
 */
export async function checkPermissions(access: AccessReviewPort, inputs: PermissionInputs, log: Log): Promise<PermissionsCheck> {
  const review = await reviewPermissions(access, inputs, log);
  if (review.missing.length > 0) throw permissionsMissing(review.missing);
  return review.error === undefined ? { checked: review.checked } : { checked: review.checked, error: review.error };
}

/** What the review found, as a fact for the planner: the requests asked about, the missing ones, or why none could be asked. */
export interface PermissionsReview extends PermissionsCheck {
  missing: PermissionNeed[];
}

/** The same questions as checkPermissions, the answer kept rather than thrown (the rollback's gather step). */
export async function reviewPermissions(access: AccessReviewPort, inputs: PermissionInputs, log: Log): Promise<PermissionsReview> {
  const needs = requiredPermissions(inputs);
  let allowed: boolean[];
  try {
    allowed = await access.canI(needs.map(({ for: _why, ...request }) => request));
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    log.debug(`permissions not checked: ${error}`);
    return { checked: [], missing: [], error };
  }
  const missing = needs.filter((_, k) => allowed[k] !== true);
  return missing.length > 0 ? { checked: [], missing } : { checked: needs, missing: [] };
}

/** The refusal of a run whose user lacks some of the permissions it needs. */
export function permissionsMissing(missing: ReadonlyArray<AccessRequest & { for?: string }>): PermissionDeniedError {
  return permissionDenied(missing, 'the Kubernetes user lacks permissions the rollback needs; nothing was changed');
}

/** `patch deployments/scale (group apps) kagent-controller in namespace ai`: what RBAC is asked, in words. */
export function requestText(r: AccessRequest): string {
  const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  return `${r.verb} ${resource}${r.group ? ` (group ${r.group})` : ''}${r.name ? ` ${r.name}` : ''}${r.namespace ? ` in namespace ${r.namespace}` : ''}`;
}

/**
 * The error for missing permissions: each request and what it is for, and as the fix the Role
 * rules that grant exactly those (RBAC rules are additive: adding them to the user's Role is enough).
 */
export function permissionDenied(missing: ReadonlyArray<AccessRequest & { for?: string }>, headline: string): PermissionDeniedError {
  const lines = missing.map((m) => `${requestText(m)}${m.for ? `: ${m.for}` : ''}`);
  const namespaces = [...new Set(missing.map((m) => m.namespace))];
  const where = namespaces.every((n) => n !== undefined) ? `a Role in namespace ${namespaces.join(', ')}` : 'a ClusterRole';
  return new PermissionDeniedError(`${headline}:\n  - ${lines.join('\n  - ')}`, {
    hint: `grant them (${where}, bound to the user), e.g. these rules:\n${roleRules(missing).map((r) => `    ${r}`).join('\n')}\n  ` +
      'README "Kubernetes permissions" has the least-privilege Role for each runner; check with kubectl auth can-i VERB RESOURCE -n NAMESPACE',
  });
}

/** RBAC rules granting the requests, one per group, resource and name set, in YAML flow style. */
export function roleRules(requests: readonly AccessRequest[]): string[] {
  const rules = new Map<string, { group: string; resource: string; names: string[]; verbs: string[] }>();
  for (const r of requests) {
    const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
    const key = `${r.group}\0${resource}\0${r.name ?? ''}`;
    const rule = rules.get(key) ?? { group: r.group, resource, names: r.name ? [r.name] : [], verbs: [] };
    if (!rule.verbs.includes(r.verb)) rule.verbs.push(r.verb);
    rules.set(key, rule);
  }
  const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
  return [...rules.values()].map(
    (r) => `- {apiGroups: ${list([r.group])}, resources: ${list([r.resource])}, ${r.names.length ? `resourceNames: ${list(r.names)}, ` : ''}verbs: ${list(r.verbs)}}`,
  );
}
