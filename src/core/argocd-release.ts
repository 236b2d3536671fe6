/**
 * Argo CD Applications with no Helm release (README "Argo CD without a Helm release"). Argo CD
 * renders a chart with `helm template` and applies the objects itself: Helm's storage holds no
 * release, so `helm get metadata` finds none. When --gitops is auto or argocd, the rollback then
 * reads the Application (--argocd-app, default the release's name, in --argocd-namespace, default
 * argocd) and takes the release's facts from it:
 *
 * - the chart: spec.source.chart, or the spec.sources[] entry with a chart, from its repoURL (an
 *   http(s) chart repository or an OCI registry); a chart read from a Git path is refused;
 * - the chart version that runs: spec.source.targetRevision when it is one exact version, else (a
 *   range, `*`) the version Argo CD resolved and deployed (status.history, status.sync.revision);
 * - the release name (spec.source.helm.releaseName, else the Application's name) and namespace
 *   (spec.destination.namespace: the workloads, the database Secret and the run record are there);
 * - the user's values (helm.valuesObject, else helm.values, then helm.parameters over them, as Argo
 *   CD passes them to helm template); values files live in Git, out of reach: refused, naming them.
 *
 * The chart is rendered with those values (the workloads the contract names must be there, and in
 * the cluster), and the rest of the run is GitOps mode (gitops.ts) with the Application as owner:
 * its auto-sync refused, the downs, then the Git change instead of helm upgrade. There is no Helm
 * release, so there is no hand-off dry run either: the plan says so.
 *
 * Pure over ports: the Application is read through GitOpsObjectsPort, charts through RepoChartsPort.
 */
import semver from 'semver';
import { parse as parseYaml } from 'yaml';
import { splitRef } from './database-url.js';
import { ClusterError, ReleaseNotFoundError, RefusedError, UsageError } from './errors.js';
import { ARGOCD_DEFAULT_NAMESPACE, detectGitOps, gitOpsFacts, GITOPS_RESOURCES, type GitOpsChoice, type GitOpsFacts, type GitOpsObjectsPort } from './gitops.js';
import type {
  ChartPort, ChartRenderPort, HelmPort, HelmUpgradePort, KubeObject, KubePort, ManifestObject, ReleaseInfo, ReleaseManifestPort, RepoChartRef, RepoChartsPort,
} from './ports.js';

/** Where to look for the Application: --argocd-app (default: the release's name), --argocd-namespace (default: argocd). */
export interface ArgoAppChoice {
  app?: string;
  namespace?: string;
}

/** A release as Argo CD deploys it, read from its Application. */
export interface ArgoRelease {
  release: ReleaseInfo;
  source: RepoChartRef;
  /** How the chart reads in the plan and as the target's ref: "kagent in https://charts.example.com", or the oci:// reference. */
  ref: string;
  /** The Application's user values (never printed: they may hold secrets); the chart's defaults apply under them. */
  values: Record<string, unknown>;
  /** The owner for GitOps mode: the Application itself. */
  gitops: GitOpsFacts;
  /** The objects the current chart renders with those values (identity only: a rendered Secret holds its data). */
  rendered: ManifestObject[];
}

type Helm = HelmPort & ChartPort & HelmUpgradePort & ChartRenderPort & ReleaseManifestPort;

/**
 * The Application that deploys `release`, read into a release's facts; undefined when there is no
 * such Application (the caller keeps its release-not-found error). Throws what makes the
 * Application unusable: another cluster or namespace, a chart from Git, values files, a version
 * range Argo CD has not resolved.
 */
export async function readArgoRelease(
  ports: { objects: GitOpsObjectsPort; charts: RepoChartsPort },
  c: { release: string; namespace: string; choice: ArgoAppChoice; chart?: string },
): Promise<ArgoRelease | undefined> {
  const appName = c.choice.app ?? c.release;
  const appNamespace = c.choice.namespace ?? ARGOCD_DEFAULT_NAMESPACE;
  const app = await ports.objects.get(GITOPS_RESOURCES.argocd.resource, appNamespace, appName);
  if (!app) return undefined;
  const who = `Argo CD Application ${appNamespace}/${appName}`;
  const spec = (app.spec ?? {}) as Record<string, unknown>;
  const namespace = destinationNamespace(who, spec, c.namespace);
  if (c.chart !== undefined) {
    throw new UsageError(`--chart ${c.chart}: release ${c.release} has no Helm release, and ${who} names its chart itself`, {
      hint: 'drop --chart: the target version is read from the Application\'s chart repository',
    });
  }
  const { source, at } = chartSource(who, spec);
  const helm = (source['helm'] ?? {}) as Record<string, unknown>;
  refuseValueFiles(who, helm, at);
  const sourceRef: RepoChartRef = { repoURL: String(source['repoURL'] ?? ''), chart: String(source['chart']) };
  const version = runningVersion(who, String(source['targetRevision'] ?? ''), (app as { status?: unknown }).status, at);
  const name = typeof helm['releaseName'] === 'string' && helm['releaseName'] !== '' ? helm['releaseName'] : appName;
  const values = argoValues(helm);
  const [chart, objects] = await Promise.all([
    ports.charts.showChart(sourceRef, version),
    ports.charts.renderChart(sourceRef, { release: name, version, values }),
  ]);
  const detectedFrom = `no Helm release ${c.release} in namespace ${c.namespace}: ${c.choice.app ? `--argocd-app ${appName}` : 'the Application named like the release'}, rendered with helm template`;
  return {
    release: {
      name, namespace, revision: 0, status: 'deployed', chart: chart.name, version,
      ...(chart.appVersion === undefined ? {} : { appVersion: chart.appVersion }), annotations: chart.annotations,
    },
    source: sourceRef,
    ref: chartRefText(sourceRef),
    values,
    gitops: gitOpsFacts({ controller: 'argocd', namespace: appNamespace, name: appName, detectedFrom }, app),
    rendered: objects.map((o) => ({ apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) })),
  };
}

/**
 * Helm found no release named `release`: with --gitops auto or argocd, the Argo CD Application that
 * deploys it; else, or when there is none, `notFound` (its hint then naming --argocd-app).
 */
export async function argoReleaseInstead(
  ports: { objects?: GitOpsObjectsPort | undefined; charts?: RepoChartsPort | undefined },
  c: { release: string; namespace: string; gitops: GitOpsChoice; choice: ArgoAppChoice; chart?: string },
  notFound: ReleaseNotFoundError,
): Promise<ArgoRelease> {
  const { objects, charts } = ports;
  if ((c.gitops !== 'auto' && c.gitops !== 'argocd') || !objects || !charts) throw notFound;
  let argo: ArgoRelease | undefined;
  try {
    argo = await readArgoRelease({ objects, charts }, c);
  } catch (err) {
    // auto, no Application named: a cluster without Argo CD's CRD is a release not found, said with why.
    if (c.gitops === 'auto' && !c.choice.app && err instanceof ClusterError) throw noReleaseNorApplication(notFound, c.choice, err.message);
    throw err;
  }
  if (!argo) throw noReleaseNorApplication(notFound, c.choice);
  return argo;
}

/** The release-not-found error, its hint also naming the Application looked for (and why it was not usable, if it was not read). */
export function noReleaseNorApplication(err: ReleaseNotFoundError, choice: ArgoAppChoice, why?: string): ReleaseNotFoundError {
  const app = `${choice.namespace ?? ARGOCD_DEFAULT_NAMESPACE}/${choice.app ?? err.release}`;
  return new ReleaseNotFoundError(err.release, err.namespace,
    `${err.hint}; no Argo CD Application ${app} deploys it either${why ? ` (${why})` : ''}: if Argo CD deploys it under another name, pass --argocd-app NAME (and --argocd-namespace NS when it is not in argocd)`);
}

/**
 * The helm ports as the rest of the gather uses them, answered from the Application: the release
 * it describes, its values over the chart's defaults, the chart from its repository; no manifest
 * for helm upgrade to patch and no release storage, since no helm upgrade runs.
 */
export function argoHelm<H extends Helm>(helm: H, charts: RepoChartsPort, argo: ArgoRelease): H {
  const { source, release } = argo;
  let computed: Promise<Record<string, unknown>> | undefined;
  const noRelease = (what: string) => async (): Promise<never> => {
    throw new Error(`${what}: release ${release.name} has no Helm release (${argo.gitops.kind} ${argo.gitops.namespace}/${argo.gitops.name} deploys it)`);
  };
  return {
    ...helm,
    releaseStorage: undefined,
    getRelease: async () => release,
    deployedRelease: async () => release,
    manifestObjects: async () => [],
    // `helm get values --all`: the user's values over the chart's own defaults.
    getValues: () => (computed ??= charts.showValues(source, release.version).then((defaults) => coalesceValues(defaults, argo.values))),
    findChartRef: async () => argo.ref,
    showChart: (ref: string, version: string) => (ref === argo.ref ? charts.showChart(source, version) : helm.showChart(ref, version)),
    renderChart: (r: { release: string; chart: string; version: string; extra?: string[] }) =>
      (r.chart === argo.ref ? charts.renderChart(source, { release: r.release, version: r.version, values: argo.values, ...(r.extra ? { extra: r.extra } : {}) }) : helm.renderChart(r)),
    checkUpgrade: noRelease('helm upgrade --dry-run'),
    upgrade: noRelease('helm upgrade'),
  };
}

/**
 * The contract's workloads (the one holding the code, the ones to stop), each rendered by the
 * Application's chart and present in the cluster, and not deployed by another Application.
 */
export async function checkArgoWorkloads(kube: KubePort, argo: ArgoRelease, refs: readonly string[], from: string): Promise<void> {
  const who = `${argo.gitops.kind} ${argo.gitops.namespace}/${argo.gitops.name}`;
  const chart = `chart ${argo.release.chart} ${argo.release.version}`;
  const live: KubeObject[] = [];
  for (const ref of new Set(refs)) {
    const [kind, name] = splitRef(ref);
    if (!argo.rendered.some((o) => o.kind.toLowerCase() === kind.toLowerCase() && o.name === name)) {
      throw new ClusterError(`${ref} (named by ${from}) is not among the objects ${chart} renders with the values of ${who}`, {
        hint: `check the names the contract renders ({{ .Release.Name }} is ${argo.release.name}); give the right ones with --workload / --stop`,
      });
    }
    try {
      live.push(await kube.get(kind, name));
    } catch (err) {
      if (!(err instanceof ClusterError)) throw err;
      throw new ClusterError(`${ref} (named by ${from}, rendered by ${chart}) is not in namespace ${argo.release.namespace}: ${who} has not created it`, {
        hint: `check the Application's state (argocd app get ${appRef(argo.gitops)}): sync it once so that its workloads exist, then run again`,
        cause: err,
      });
    }
  }
  const owner = detectGitOps(live);
  if (owner && (owner.controller !== 'argocd' || owner.namespace !== argo.gitops.namespace || owner.name !== argo.gitops.name)) {
    throw new ClusterError(`the workloads of release ${argo.release.name} are deployed by ${owner.controller === 'argocd' ? `Argo CD Application ${owner.namespace}/${owner.name}` : 'Flux'} (${owner.detectedFrom}), not by ${who}`, {
      hint: owner.controller === 'argocd' ? `pass --argocd-app ${owner.name}${owner.namespace === ARGOCD_DEFAULT_NAMESPACE ? '' : ` --argocd-namespace ${owner.namespace}`}` : 'name the controller that deploys it with --gitops',
    });
  }
}

/** The chart's reference for people and as the plan's target ref. */
export function chartRefText(ref: RepoChartRef): string {
  const oci = ociChartRef(ref);
  return oci ?? `${ref.chart} in ${ref.repoURL}`;
}

/**
 * The oci:// reference of a chart in an OCI registry: repoURL oci://REGISTRY/PATH, or Argo CD's
 * scheme-less REGISTRY/PATH (a repository declared with enableOCI); undefined for an http(s)
 * chart repository.
 */
export function ociChartRef(ref: RepoChartRef): string | undefined {
  if (/^https?:\/\//.test(ref.repoURL)) return undefined;
  const path = ref.repoURL.replace(/^oci:\/\//, '').replace(/\/+$/, '');
  return `oci://${path}/${ref.chart}`;
}

/** spec.destination: this cluster, and the namespace this run acts in (its adapters are bound to it). */
function destinationNamespace(who: string, spec: Record<string, unknown>, namespace: string): string {
  const destination = (spec['destination'] ?? {}) as { server?: string; name?: string; namespace?: string };
  const server = destination.server ?? '';
  const inCluster = (server === '' || /^https:\/\/kubernetes\.default\.svc(\.cluster\.local)?(:443)?\/?$/.test(server)) && (destination.name ?? 'in-cluster') === 'in-cluster';
  if (!inCluster) {
    throw new UsageError(`${who} deploys to another cluster (spec.destination ${destination.name ? `name ${destination.name}` : `server ${server}`}), not the one it lives in`, {
      hint: 'run the rollback with the kube context of that cluster (helm --kube-context CTX), where the workloads and the database are',
    });
  }
  const wanted = destination.namespace;
  if (wanted && wanted !== namespace) {
    throw new UsageError(`${who} deploys into namespace ${wanted}, and this run acts in namespace ${namespace}`, {
      hint: `run it in the Application's destination namespace: helm -n ${wanted} schema-rollback ... (the workloads, the database Secret and the run record are there)`,
    });
  }
  return namespace;
}

/** The source that names a chart: spec.source, or the first of spec.sources with a chart. */
function chartSource(who: string, spec: Record<string, unknown>): { source: Record<string, unknown>; at: string } {
  const single = spec['source'] as Record<string, unknown> | undefined;
  const sources = (spec['sources'] as Array<Record<string, unknown>> | undefined) ?? [];
  const index = single ? -1 : sources.findIndex((s) => typeof s['chart'] === 'string' && s['chart'] !== '');
  const source = single ?? sources[index];
  if (!source || typeof source['chart'] !== 'string' || source['chart'] === '') {
    const path = (single ?? sources[0])?.['path'];
    throw new RefusedError([`${who} takes its chart from Git${path ? ` (path ${String(path)})` : ''}, not from a chart repository: there is no published chart version to roll back to`], 'roll back with the chart in Git: revert the Git change, or run the downs with the tools themselves');
  }
  return { source, at: single ? 'spec.source' : `spec.sources[${index}]` };
}

/** Values files (and file parameters) live in Git, where the plugin cannot read them: without them the chart would not render as Argo CD renders it. */
function refuseValueFiles(who: string, helm: Record<string, unknown>, at: string): void {
  const files = [
    ...((helm['valueFiles'] as unknown[] | undefined) ?? []).map((f) => `${at}.helm.valueFiles: ${String(f)}`),
    ...((helm['fileParameters'] as Array<{ name?: string; path?: string }> | undefined) ?? []).map((f) => `${at}.helm.fileParameters: ${f.name ?? ''}=${f.path ?? ''}`),
  ];
  if (files.length === 0) return;
  throw new RefusedError([`${who} takes values from files in Git (${files.join('; ')}): the plugin cannot read them, so it cannot render the chart (its workloads, their names) as Argo CD does`],
    'put those values in the Application itself (spec.source.helm.valuesObject or values; argocd app set APP --values-literal-file FILE), let it sync, and run again');
}

/**
 * The chart version that runs: targetRevision when it is one exact version; for a range or `*`
 * (or when Argo CD deployed another version than Git now says), the one Argo CD last deployed
 * (status.history) or resolved (status.sync.revision).
 */
export function runningVersion(who: string, targetRevision: string, status: unknown, at: string): string {
  const s = (status ?? {}) as { sync?: { revision?: string; revisions?: string[] }; history?: Array<{ revision?: string; revisions?: string[] }> };
  const index = /^spec\.sources\[(\d+)\]$/.exec(at)?.[1];
  const pick = (one?: string, many?: string[]) => (index === undefined ? one : many?.[Number(index)]);
  const last = s.history?.at(-1);
  const deployed = exact(pick(last?.revision, last?.revisions));
  const resolved = exact(pick(s.sync?.revision, s.sync?.revisions));
  const wanted = exact(targetRevision);
  if (wanted) {
    if (deployed && deployed !== wanted) {
      throw new RefusedError([`${who} says chart version ${wanted} (${at}.targetRevision), but Argo CD last deployed ${deployed} (status.history): the version that runs is not the one Git says`],
        `sync the Application so that ${wanted} runs (or set ${at}.targetRevision back to ${deployed} in Git), then run again`);
    }
    return wanted;
  }
  const known = deployed ?? resolved;
  if (known) return known;
  throw new RefusedError([`${who} asks for chart version ${JSON.stringify(targetRevision || '(none)')} (${at}.targetRevision), a range, and its status names no exact version deployed: the chart version that runs is unknown`],
    `set ${at}.targetRevision to the exact version that runs, in Git, and let Argo CD sync it (argocd app get ${who.split(' ').at(-1)} shows its status)`);
}

function exact(version: string | undefined): string | undefined {
  return version && semver.valid(version) ? version : undefined;
}

/**
 * The user's values as Argo CD gives them to helm template: valuesObject, else the values string
 * (valuesObject wins whole: Argo CD's ValuesYAML), then each parameter as --set (or --set-string
 * with forceString).
 */
export function argoValues(helm: Record<string, unknown>): Record<string, unknown> {
  const object = helm['valuesObject'];
  const text = helm['values'];
  const base = object && typeof object === 'object' ? structuredClone(object) as Record<string, unknown>
    : typeof text === 'string' && text.trim() !== '' ? (parseYaml(text) ?? {}) as Record<string, unknown> : {};
  for (const p of (helm['parameters'] as Array<{ name?: string; value?: string; forceString?: boolean }> | undefined) ?? []) {
    if (!p.name) continue;
    setValue(base, p.name, p.forceString ? String(p.value ?? '') : typedValue(String(p.value ?? '')));
  }
  return base;
}

/** helm --set's typing of a value (strvals typedVal): booleans, null, integers without a leading 0, {a,b} lists; else a string. */
function typedValue(value: string): unknown {
  if (/^\{.*\}$/s.test(value)) return value.slice(1, -1).split(',').filter((v) => v !== '').map(typedValue);
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  if (/^null$/i.test(value)) return null;
  if (value === '0' || /^-?[1-9]\d*$/.test(value)) {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  return value;
}

/** Sets a --set path (a.b, a\.b for a dot in a key, list[0]) in `values`. */
export function setValue(values: Record<string, unknown>, path: string, value: unknown): void {
  const keys: Array<string | number> = [];
  for (const part of path.split(/(?<!\\)\./)) {
    const m = /^(.*?)((?:\[\d+\])*)$/.exec(part.replace(/\\\./g, '.'))!;
    keys.push(m[1]!, ...[...m[2]!.matchAll(/\[(\d+)\]/g)].map((i) => Number(i[1])));
  }
  let node: Record<string | number, unknown> = values;
  keys.forEach((key, i) => {
    // helm fills the elements a list index skips with null.
    if (Array.isArray(node) && typeof key === 'number') while (node.length < key) node.push(null);
    if (i === keys.length - 1) {
      node[key] = value;
      return;
    }
    const next = keys[i + 1];
    const child = node[key];
    if (typeof next === 'number' ? !Array.isArray(child) : (child === null || typeof child !== 'object' || Array.isArray(child))) node[key] = typeof next === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  });
}

/** Helm's coalescing of user values over a chart's defaults: maps merge, anything else replaces, null removes the default. */
export function coalesceValues(defaults: Record<string, unknown>, user: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(user)) {
    const base = out[key];
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(base)) out[key] = coalesceValues(base, value);
    else out[key] = value;
  }
  return out;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function appRef(g: Pick<GitOpsFacts, 'namespace' | 'name'>): string {
  return g.namespace === ARGOCD_DEFAULT_NAMESPACE ? g.name : `${g.namespace}/${g.name}`;
}
