/**
 * The resources the double serves, and the legacy discovery documents built from them.
 *
 * Clients ask for aggregated discovery first; answering with plain `application/json` legacy
 * documents makes both kubectl and helm fall back, so aggregated discovery is not implemented.
 * Every group listed in /apis is fetched by every client on a cold cache, so the list stays short.
 */

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lower-case: the URL segment. */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  /** `all` makes the resource appear in `kubectl get all`. */
  categories?: string[];
  /** Subresources served; `scale` answers autoscaling/v1 Scale. */
  subresources?: string[];
  /** Verbs in discovery, when not every verb (SelfSubjectAccessReview: create only). */
  verbs?: string[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

const def = (
  gv: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceDef> = {},
): ResourceDef => {
  const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
  return { group, version, resource, kind, singular: kind.toLowerCase(), namespaced, ...extra };
};

export const RESOURCES: ResourceDef[] = [
  def('v1', 'namespaces', 'Namespace', false, { shortNames: ['ns'], subresources: ['status'] }),
  def('v1', 'pods', 'Pod', true, { shortNames: ['po'], categories: ['all'], subresources: ['status', 'log', 'exec', 'portforward'] }),
  def('v1', 'secrets', 'Secret', true),
  def('v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  def('v1', 'services', 'Service', true, { shortNames: ['svc'], categories: ['all'], subresources: ['status'] }),
  def('v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'] }),
  def('v1', 'events', 'Event', true, { shortNames: ['ev'] }),
  def('v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true, { shortNames: ['pvc'], subresources: ['status'] }),
  def('v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  def('apps/v1', 'deployments', 'Deployment', true, {
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  def('apps/v1', 'replicasets', 'ReplicaSet', true, { shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'] }),
  def('apps/v1', 'statefulsets', 'StatefulSet', true, { shortNames: ['sts'], categories: ['all'], subresources: ['status', 'scale'] }),
  def('apps/v1', 'daemonsets', 'DaemonSet', true, { shortNames: ['ds'], categories: ['all'], subresources: ['status'] }),
  def('batch/v1', 'jobs', 'Job', true, { categories: ['all'], subresources: ['status'] }),
  def('batch/v1', 'cronjobs', 'CronJob', true, { shortNames: ['cj'], categories: ['all'], subresources: ['status'] }),
  def('rbac.authorization.k8s.io/v1', 'roles', 'Role', true),
  def('rbac.authorization.k8s.io/v1', 'rolebindings', 'RoleBinding', true),
  def('rbac.authorization.k8s.io/v1', 'clusterroles', 'ClusterRole', false),
  def('rbac.authorization.k8s.io/v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  // Created, never stored: answered from the double's Authorizer (authorization.ts).
  def('authorization.k8s.io/v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false, { verbs: ['create'] }),
  def('networking.k8s.io/v1', 'ingresses', 'Ingress', true, { shortNames: ['ing'], subresources: ['status'] }),
  def('policy/v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, { shortNames: ['pdb'], subresources: ['status'] }),
  // GitOps controllers' objects (GitOps mode reads them; no controller runs in the double).
  def('argoproj.io/v1alpha1', 'applications', 'Application', true, { shortNames: ['app'] }),
  def('helm.toolkit.fluxcd.io/v2', 'helmreleases', 'HelmRelease', true, { shortNames: ['hr'] }),
  def('apiextensions.k8s.io/v1', 'customresourcedefinitions', 'CustomResourceDefinition', false, {
    shortNames: ['crd', 'crds'],
    subresources: ['status'],
  }),
];

/** Store key of a resource: the version is left out so one object serves every version. */
export const grKey = (d: { group: string; resource: string }): string => `${d.group}/${d.resource}`;

export const apiVersionOf = (d: ResourceDef): string => (d.group ? `${d.group}/${d.version}` : d.version);

export function findByPath(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((d) => d.group === group && d.version === version && d.resource === resource);
}

export function findByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((d) => apiVersionOf(d) === apiVersion && d.kind === kind);
}

export function findByGroupResource(group: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((d) => d.group === group && d.resource === resource);
}

export function mustFind(ref: { apiVersion: string; kind: string } | { group: string; resource: string }): ResourceDef {
  const d = 'kind' in ref ? findByKind(ref.apiVersion, ref.kind) : findByGroupResource(ref.group, ref.resource);
  if (!d) throw new Error(`kube double: resource ${JSON.stringify(ref)} is not registered (see test/kube/registry.ts)`);
  return d;
}

export const VERSION_INFO = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.24.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const groupVersions = (): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const d of RESOURCES) if (d.group && !m.get(d.group)?.includes(d.version)) m.set(d.group, [...(m.get(d.group) ?? []), d.version]);
  return m;
};

function apiGroup(name: string, versions: string[]): object {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: vs, preferredVersion: vs[0] };
}

/** Legacy discovery: returns the document for a discovery path, or undefined if it is not one. */
export function discovery(path: string): object | undefined {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  if (p === '/apis') {
    const groups = [...groupVersions()].map(([name, versions]) => apiGroup(name, versions));
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const m = /^\/apis\/([^/]+)$/.exec(p);
  if (m) {
    const versions = groupVersions().get(m[1]!);
    return versions ? apiGroup(m[1]!, versions) : undefined;
  }
  const gv = p === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(p)?.[1];
  if (!gv) return undefined;
  const defs = RESOURCES.filter((d) => apiVersionOf(d) === gv);
  if (defs.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: defs.flatMap(resourceEntries) };
}

function resourceEntries(d: ResourceDef): object[] {
  const main = {
    name: d.resource,
    singularName: d.singular,
    namespaced: d.namespaced,
    kind: d.kind,
    verbs: d.verbs ?? VERBS,
    ...(d.shortNames ? { shortNames: d.shortNames } : {}),
    ...(d.categories ? { categories: d.categories } : {}),
  };
  const subs = (d.subresources ?? []).map((s) => {
    const base = { name: `${d.resource}/${s}`, singularName: '', namespaced: d.namespaced };
    if (s === 'scale') return { ...base, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] };
    if (s === 'log') return { ...base, kind: 'Pod', verbs: ['get'] };
    if (s === 'exec') return { ...base, kind: 'PodExecOptions', verbs: ['create', 'get'] };
    return { ...base, kind: d.kind, verbs: ['get', 'patch', 'update'] };
  });
  return [main, ...subs];
}

/**
 * OpenAPI v3 stub. Default field validation (kubectl create/apply, helm install/upgrade) looks for
 * a PATCH operation carrying the object's GVK and a `fieldValidation` query parameter on the
 * operation itself (cli-runtime query_param_verifier_v3.go). Finding one, the client leaves
 * validation to the server and downloads no schema; without it, it falls back to /openapi/v2
 * and fails hard when that is missing too.
 */
export function openapiV3(path: string): object | undefined {
  const p = path.replace(/\/+$/, '');
  const gvs = [...new Set(RESOURCES.map(apiVersionOf))];
  const urlOf = (gv: string) => (gv === 'v1' ? 'api/v1' : `apis/${gv}`);
  if (p === '/openapi/v3') {
    return { paths: Object.fromEntries(gvs.map((gv) => [urlOf(gv), { serverRelativeURL: `/openapi/v3/${urlOf(gv)}?hash=double` }])) };
  }
  const gv = gvs.find((g) => p === `/openapi/v3/${urlOf(g)}`);
  if (!gv) return undefined;
  const paths: Record<string, object> = {};
  for (const d of RESOURCES.filter((r) => apiVersionOf(r) === gv)) {
    const ns = d.namespaced ? 'namespaces/{namespace}/' : '';
    paths[`/${urlOf(gv)}/${ns}${d.resource}/{name}`] = {
      patch: {
        operationId: `patch${d.kind}`,
        'x-kubernetes-group-version-kind': { group: d.group, version: d.version, kind: d.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion }, paths };
}
