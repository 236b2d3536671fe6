/**
 * GitOps mode (README "GitOps (Argo CD, Flux)"): a release whose objects an Argo CD Application or
 * a Flux HelmRelease reconciles from Git. The rollback does everything up to the hand-off (stop,
 * copy, downs, checks); the hand-off is then not `helm upgrade`, which the controller would undo
 * at its next sync, but the exact change to make in Git, rendered from the live object.
 *
 * With the controller's automatic sync on, the plan is refused before any change: after the downs
 * it would re-apply the newer chart, whose workloads migrate the schema up again (and self-heal
 * would scale the stopped workloads back). The sync must be paused first, and resumed only once
 * Git holds the change.
 *
 * Detection and the read of the Application/HelmRelease are the gather's (readGitOps, through a
 * port); everything else here is pure.
 */
import { stringify } from 'yaml';
import { ClusterError, ExitCode } from './errors.js';
import { splitRef } from './database-url.js';
import type { KubeObject, KubePort, ManifestObject } from './ports.js';

export type GitOpsController = 'argocd' | 'flux';
/** --gitops: detect from the release's objects (default), force one controller, or never (none). */
export type GitOpsChoice = 'auto' | GitOpsController | 'none';

/** The label Argo CD sets when told to track by it (the default app.kubernetes.io/instance is every chart's own: not a sign). */
export const ARGOCD_INSTANCE_LABEL = 'argocd.argoproj.io/instance';
/** Argo CD's default tracking since 3.0: APP:GROUP/KIND:NAMESPACE/NAME, APP being NAMESPACE_NAME for Applications outside argocd's namespace. */
export const ARGOCD_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
/** Flux helm-controller's origin labels on every object of a release it manages. */
export const FLUX_NAME_LABEL = 'helm.toolkit.fluxcd.io/name';
export const FLUX_NAMESPACE_LABEL = 'helm.toolkit.fluxcd.io/namespace';
/** Where Argo CD keeps Applications unless told otherwise (apps in any namespace name theirs in the tracking id). */
export const ARGOCD_DEFAULT_NAMESPACE = 'argocd';

export const GITOPS_RESOURCES: Record<GitOpsController, { resource: string; kind: 'Application' | 'HelmRelease' }> = {
  argocd: { resource: 'applications.argoproj.io', kind: 'Application' },
  flux: { resource: 'helmreleases.helm.toolkit.fluxcd.io', kind: 'HelmRelease' },
};

/** Reading an Application or HelmRelease in its own namespace (not the release's). */
export interface GitOpsObjectsPort {
  /** The object, or undefined when there is none of that name. */
  get(resource: string, namespace: string, name: string): Promise<KubeObject | undefined>;
}

/** Who owns the release, and what it was told by. */
export interface GitOpsOwner {
  controller: GitOpsController;
  namespace: string;
  name: string;
  /** "annotation argocd.argoproj.io/tracking-id on deployment/x", or "--gitops flux". */
  detectedFrom: string;
}

/** The controller's object as read, as far as the plan needs it (never its values: they may hold secrets). */
export interface GitOpsFacts extends GitOpsOwner {
  kind: 'Application' | 'HelmRelease';
  apiVersion: string;
  /** Argo CD: spec.syncPolicy.automated (not enabled: false); Flux: spec.suspend is not true. */
  autoSync: boolean;
  /** Argo CD: automated.selfHeal (it reverts a live change, such as a scale to 0, within seconds). */
  selfHeal: boolean;
  /** Where the chart version is set in the object, and the slice of it a diff shows; absent when the object does not hold it. */
  version?: { path: string[]; current: string; slice: Record<string, unknown> };
  /** Why the version is not in the object (a chart read from a Git path; a Flux chartRef), and where it is. */
  versionElsewhere?: string;
}

/** The Git change the operator makes instead of helm upgrade, and what follows it. */
export interface GitOpsHandoff {
  controller: GitOpsController;
  object: string;
  detectedFrom: string;
  /** A unified diff of the live object's version line, or undefined when the version lives elsewhere. */
  diff?: string;
  /** The change in words (also when a diff is given). */
  change: string;
  /** How the sync is resumed once Git holds the change. */
  resume: string;
}

/** The owner named by the release's objects' labels and annotations, the first that has any. */
export function detectGitOps(objects: readonly KubeObject[]): GitOpsOwner | undefined {
  for (const o of objects) {
    const where = `${(o.kind ?? 'object').toLowerCase()}/${o.metadata.name}`;
    const labels = o.metadata.labels ?? {};
    const tracking = o.metadata.annotations?.[ARGOCD_TRACKING_ANNOTATION];
    if (tracking) {
      const app = tracking.split(':')[0]!;
      return { controller: 'argocd', ...argoApp(app), detectedFrom: `annotation ${ARGOCD_TRACKING_ANNOTATION} on ${where}` };
    }
    if (labels[ARGOCD_INSTANCE_LABEL]) {
      return { controller: 'argocd', ...argoApp(labels[ARGOCD_INSTANCE_LABEL]), detectedFrom: `label ${ARGOCD_INSTANCE_LABEL} on ${where}` };
    }
    if (labels[FLUX_NAME_LABEL] && labels[FLUX_NAMESPACE_LABEL]) {
      return { controller: 'flux', namespace: labels[FLUX_NAMESPACE_LABEL], name: labels[FLUX_NAME_LABEL], detectedFrom: `labels ${FLUX_NAME_LABEL}, ${FLUX_NAMESPACE_LABEL} on ${where}` };
    }
  }
  return undefined;
}

/** Argo CD names an Application outside its own namespace NAMESPACE_NAME (names cannot hold "_"). */
function argoApp(app: string): { namespace: string; name: string } {
  const sep = app.indexOf('_');
  return sep > 0 ? { namespace: app.slice(0, sep), name: app.slice(sep + 1) } : { namespace: ARGOCD_DEFAULT_NAMESPACE, name: app };
}

/**
 * The gather's read: the release's owner from its objects (the workload and the stopped ones, else
 * the manifest's first), or as --gitops names it, then its Application or HelmRelease. Undefined
 * for a release no controller owns.
 */
export async function readGitOps(
  kube: KubePort,
  objects: GitOpsObjectsPort,
  c: { choice: GitOpsChoice; release: string; namespace: string; refs: readonly string[]; manifest: Promise<readonly ManifestObject[]> },
): Promise<GitOpsFacts | undefined> {
  if (c.choice === 'none') return undefined;
  let refs = c.refs;
  if (refs.length === 0) {
    const first = (await c.manifest).find((m) => !m.namespace || m.namespace === c.namespace);
    refs = first ? [`${first.kind}/${first.name}`] : [];
  }
  // An object that cannot be read is reported by the read that needs it (the URL, the replicas).
  const live = (await Promise.all(refs.map((ref) => kube.get(...splitRef(ref)).catch(() => undefined)))).filter((o): o is KubeObject => o !== undefined);
  const detected = detectGitOps(live);
  let owner: GitOpsOwner | undefined = detected;
  if (c.choice !== 'auto') {
    if (detected && detected.controller !== c.choice) {
      throw new ClusterError(`--gitops ${c.choice}, but the release's objects say ${detected.controller === 'argocd' ? 'Argo CD' : 'Flux'} manages it (${detected.detectedFrom})`, {
        hint: `drop --gitops (the labels are read), or pass --gitops ${detected.controller}`,
      });
    }
    owner = detected ?? {
      controller: c.choice, name: c.release, namespace: c.choice === 'argocd' ? ARGOCD_DEFAULT_NAMESPACE : c.namespace, detectedFrom: `--gitops ${c.choice}`,
    };
  }
  if (!owner) return undefined;
  const { resource, kind } = GITOPS_RESOURCES[owner.controller];
  const obj = await objects.get(resource, owner.namespace, owner.name);
  if (!obj) {
    throw new ClusterError(`${kind} ${owner.namespace}/${owner.name} not found (release ${c.release} is managed by ${owner.controller === 'argocd' ? 'Argo CD' : 'Flux'}: ${owner.detectedFrom})`, {
      hint: owner.detectedFrom.startsWith('--gitops')
        ? `--gitops ${owner.controller} looks for the ${kind} named like the release; drop --gitops if no controller manages it`
        : `check that the ${kind} still exists (kubectl get ${resource} -n ${owner.namespace}); --gitops none rolls back with helm upgrade, which the controller would undo`,
    });
  }
  return gitOpsFacts(owner, obj);
}

/** What the plan needs of the live Application or HelmRelease. */
export function gitOpsFacts(owner: GitOpsOwner, obj: KubeObject): GitOpsFacts {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const base = { ...owner, kind: GITOPS_RESOURCES[owner.controller].kind, apiVersion: obj.apiVersion ?? '' };
  if (owner.controller === 'argocd') {
    const automated = (spec['syncPolicy'] as Record<string, unknown> | undefined)?.['automated'] as Record<string, unknown> | undefined;
    // Argo CD 3.x: automated.enabled: false keeps the block but turns it off.
    const autoSync = automated !== undefined && automated !== null && automated['enabled'] !== false;
    return { ...base, autoSync, selfHeal: autoSync && automated?.['selfHeal'] === true, ...argoVersion(spec) };
  }
  return { ...base, autoSync: spec['suspend'] !== true, selfHeal: false, ...fluxVersion(spec) };
}

function argoVersion(spec: Record<string, unknown>): Pick<GitOpsFacts, 'version' | 'versionElsewhere'> {
  const source = spec['source'] as Record<string, unknown> | undefined;
  const sources = (spec['sources'] as Array<Record<string, unknown>> | undefined) ?? [];
  const at = source ? -1 : sources.findIndex((s) => typeof s['chart'] === 'string');
  const chartSource = source ?? sources[at];
  if (!chartSource || typeof chartSource['chart'] !== 'string') {
    const path = (source ?? sources[0])?.['path'];
    return { versionElsewhere: `the chart is read from Git${path ? ` (path ${String(path)})` : ''}: its version is the Chart.yaml at the Application's targetRevision` };
  }
  const key = source ? 'source' : 'sources';
  // The chart's coordinates only: its helm values may hold secrets.
  const { repoURL, chart, targetRevision } = chartSource as { repoURL?: string; chart: string; targetRevision?: string };
  const picked = { ...(repoURL ? { repoURL } : {}), chart, targetRevision: String(targetRevision ?? '') };
  return {
    version: {
      path: source ? ['spec', 'source', 'targetRevision'] : ['spec', 'sources', String(at), 'targetRevision'],
      current: String(targetRevision ?? ''),
      slice: { spec: { [key]: source ? picked : sources.map((s, i) => (i === at ? picked : { repoURL: s['repoURL'] ?? '' })) } },
    },
  };
}

function fluxVersion(spec: Record<string, unknown>): Pick<GitOpsFacts, 'version' | 'versionElsewhere'> {
  const chartRef = spec['chartRef'] as { kind?: string; name?: string } | undefined;
  if (chartRef) return { versionElsewhere: `the chart comes from spec.chartRef (${chartRef.kind ?? 'OCIRepository'} ${chartRef.name ?? ''}): its version is that object's spec.ref` };
  const chartSpec = ((spec['chart'] as Record<string, unknown> | undefined)?.['spec'] ?? {}) as Record<string, unknown>;
  const { chart, version, sourceRef } = chartSpec as { chart?: string; version?: string; sourceRef?: { kind?: string; name?: string } };
  const current = String(version ?? '*');
  return {
    version: {
      path: ['spec', 'chart', 'spec', 'version'],
      current,
      slice: { spec: { chart: { spec: { chart: chart ?? '', version: current, ...(sourceRef ? { sourceRef: { kind: sourceRef.kind, name: sourceRef.name } } : {}) } } } },
    },
  };
}

/** How the operator pauses the controller's sync, for the refusal's hint. */
export function pauseCommand(g: Pick<GitOpsFacts, 'controller' | 'namespace' | 'name'>): string {
  return g.controller === 'argocd'
    ? `argocd app set ${appRef(g)} --sync-policy none (or remove spec.syncPolicy.automated from the Application in Git, and let that sync)`
    : `flux suspend helmrelease ${g.name} -n ${g.namespace}`;
}

function appRef(g: Pick<GitOpsFacts, 'namespace' | 'name'>): string {
  return g.namespace === ARGOCD_DEFAULT_NAMESPACE ? g.name : `${g.namespace}/${g.name}`;
}

/**
 * The plan's refusals for a GitOps release: its sync is on (the controller would re-apply the
 * newer chart over the rolled-back schema, and scale the stopped workloads back up); helm flags
 * after "--", which only helm upgrade would take.
 */
export function gitOpsRefusals(g: GitOpsFacts | undefined, c: { release: string; current: string; to: string; extraHelmArgs: readonly string[] }): Array<{ code: ExitCode; reason: string; hint: string }> {
  if (!g) return [];
  const who = `${g.kind} ${g.namespace}/${g.name}`;
  const out: Array<{ code: ExitCode; reason: string; hint: string }> = [];
  if (g.autoSync) {
    out.push({
      code: ExitCode.refused,
      reason: `release ${c.release} is managed by ${g.controller === 'argocd' ? 'Argo CD' : 'Flux'} ${who} with its ${g.controller === 'argocd' ? `automated sync on${g.selfHeal ? ' (self-heal too)' : ''}` : 'reconciliation on (not suspended)'}: ` +
        `after the downs it would re-apply chart ${c.current}, whose workloads migrate the schema up again${g.selfHeal || g.controller === 'flux' ? ', and put the stopped workloads back' : ''}`,
      hint: `pause it first: ${pauseCommand(g)}; then run again, commit the Git change it prints, and resume the sync`,
    });
  }
  if (c.extraHelmArgs.length > 0) {
    out.push({
      code: ExitCode.usage,
      reason: `helm flags after "--" (${c.extraHelmArgs.length}) are for helm upgrade, which a GitOps release does not get: ${g.controller === 'argocd' ? 'Argo CD' : 'Flux'} applies what Git says`,
      hint: `drop them, and put values in Git with the version (${g.controller === 'argocd' ? "the Application's spec.source.helm" : "the HelmRelease's spec.values"})`,
    });
  }
  return out;
}

/** The change to make in Git instead of helm upgrade, rendered from the live object. */
export function gitOpsHandoff(g: GitOpsFacts, to: string): GitOpsHandoff {
  const who = `${g.kind} ${g.namespace}/${g.name}`;
  const resume = g.controller === 'argocd'
    ? `once Git holds the change: restore the sync policy (argocd app set ${appRef(g)} --sync-policy automated, with --self-heal if it had it), or sync it once (argocd app sync ${appRef(g)})`
    : `once Git holds the change and Flux's source has it: flux resume helmrelease ${g.name} -n ${g.namespace}`;
  if (!g.version) {
    return { controller: g.controller, object: who, detectedFrom: g.detectedFrom, change: `in Git, set chart version ${to} for ${who}: ${g.versionElsewhere ?? 'no chart version in the object'}`, resume };
  }
  const path = g.version.path.join('.');
  return {
    controller: g.controller,
    object: who,
    detectedFrom: g.detectedFrom,
    diff: unifiedDiff(g, to),
    change: `in the Git file that holds ${who}, set ${path.replace(/\.(\d+)\./, '[$1].')} from ${g.version.current} to ${to} (values unchanged: the rollback keeps the release's values)`,
    resume,
  };
}

/** The object's header and its version's slice as YAML, before and after, as one unified diff hunk. */
function unifiedDiff(g: GitOpsFacts, to: string): string {
  const doc = (version: string) => stringify({
    apiVersion: g.apiVersion, kind: g.kind, metadata: { name: g.name, namespace: g.namespace }, ...withVersion(g.version!.slice, g.version!.path, version),
  }).trimEnd().split('\n');
  const before = doc(g.version!.current);
  const after = doc(to);
  const lines = before.flatMap((line, i) => (line === after[i] ? [` ${line}`] : [`-${line}`, `+${after[i]}`]));
  const file = `${g.kind} ${g.namespace}/${g.name}`;
  return [`--- a/${file} (live)`, `+++ b/${file}`, `@@ -1,${before.length} +1,${after.length} @@`, ...lines].join('\n');
}

/** A copy of the slice with the version at `path` (spec.sources.N: the Nth element) set. */
function withVersion(slice: Record<string, unknown>, path: readonly string[], version: string): Record<string, unknown> {
  const copy = structuredClone(slice);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path.at(-1)!] = version;
  return copy;
}
