/**
 * Fake controllers for Deployments, ReplicaSets, StatefulSets and DaemonSets: everything is
 * ready at once. What readiness means to each client (all of it checked against real binaries):
 * - Helm 3 `--wait` / Helm 4 `--wait=legacy`: a ReplicaSet owned by the Deployment (controller
 *   ownerReference) whose template equals the Deployment's minus `pod-template-hash`, with enough
 *   readyReplicas, and Deployment `status.observedGeneration == metadata.generation`.
 * - Helm 4 `--wait` (kstatus watcher): replicas/updated/ready/available all equal to spec and
 *   conditions Available=True plus Progressing=True reason NewReplicaSetAvailable.
 * Pods are created for the replicas (the kubelet marks them Running) so that
 * `kubectl get pods -l …` and `kubectl exec deploy/x` see them; scaling down deletes them.
 */
import { createHash } from 'node:crypto';
import type { KubeApi } from './api.js';
import { grKey, mustFind, type ResourceDef } from './registry.js';
import { clone, now, randomSuffix, type KubeObject, type OwnerReference } from './types.js';

const DEPLOYMENTS = mustFind({ group: 'apps', resource: 'deployments' });
const REPLICASETS = mustFind({ group: 'apps', resource: 'replicasets' });
const STATEFULSETS = mustFind({ group: 'apps', resource: 'statefulsets' });
const DAEMONSETS = mustFind({ group: 'apps', resource: 'daemonsets' });
const PODS = mustFind({ group: '', resource: 'pods' });
const REVISION = 'deployment.kubernetes.io/revision';

const ownerRef = (o: KubeObject): OwnerReference => ({
  apiVersion: o.apiVersion!,
  kind: o.kind!,
  name: o.metadata.name!,
  uid: o.metadata.uid!,
  controller: true,
  blockOwnerDeletion: true,
});
const ownedBy = (o: KubeObject, owner: KubeObject) => (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid && r.controller);

/** Go's omitempty: a template that went through typed clients gains `null`s and `{}`s. */
const isEmpty = (v: unknown): boolean =>
  v === null || v === undefined || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v).length === 0);

/**
 * JSON with sorted keys and empty values left out, so a template that round-tripped through a
 * client (`kubectl rollout undo` copies a ReplicaSet's) hashes like the original.
 */
const canonical = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (!v || typeof v !== 'object') return JSON.stringify(v);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().filter((k) => !isEmpty(o[k]));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
};

/** A stable short hash of a pod template, spelled like Kubernetes' pod-template-hash. */
function templateHash(template: unknown): string {
  const digest = createHash('sha256').update(canonical(template)).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...digest.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Keeps a timestamp of an unchanged condition, so a status rewrite is a no-op (no event loop). */
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function conditions(old: Condition[] | undefined, wanted: Condition[]): object[] {
  return wanted.map((w) => {
    const prev = old?.find((o) => o.type === w.type && o.status === w.status && o.reason === w.reason);
    const t = prev?.lastTransitionTime ?? now();
    return { ...w, lastUpdateTime: t, lastTransitionTime: t };
  });
}

export function startWorkloadControllers(api: KubeApi): void {
  api.store.subscribe((ev) => {
    const o = ev.object;
    if (ev.type === 'DELETED') {
      // A deleted pod is replaced, as a real ReplicaSet/StatefulSet does.
      if (ev.gr === grKey(PODS)) {
        const ref = o.metadata.ownerReferences?.find((r) => r.controller);
        const def = ref?.kind === 'ReplicaSet' ? REPLICASETS : ref?.kind === 'StatefulSet' ? STATEFULSETS : undefined;
        const owner = def && api.find(def, o.metadata.namespace, ref!.name);
        if (owner && owner.metadata.uid === ref!.uid) reconcilePods(api, owner);
      }
      return;
    }
    if (ev.gr === grKey(DEPLOYMENTS)) reconcileDeployment(api, o);
    else if (ev.gr === grKey(REPLICASETS) || ev.gr === grKey(STATEFULSETS)) {
      reconcilePods(api, o);
      setReplicaStatus(api, ev.gr === grKey(REPLICASETS) ? REPLICASETS : STATEFULSETS, o);
    } else if (ev.gr === grKey(DAEMONSETS)) {
      api.mutate(DAEMONSETS, o.metadata.namespace, o.metadata.name!, (d) => {
        const one = { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberAvailable: 1, numberReady: 1, updatedNumberScheduled: 1 };
        d.status = { ...one, numberMisscheduled: 0, observedGeneration: d.metadata.generation };
      }, { subresource: 'status' });
    }
  });
}

function reconcileDeployment(api: KubeApi, d: KubeObject): void {
  const ns = d.metadata.namespace;
  const replicas: number = d.spec.replicas ?? 1;
  const hash = templateHash(d.spec.template);
  const owned = api.list(REPLICASETS, ns).filter((rs) => ownedBy(rs, d));
  const maxRevision = Math.max(0, ...owned.map((rs) => Number(rs.metadata.annotations?.[REVISION] ?? 0)));
  let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
  if (!current) {
    const template = clone(d.spec.template);
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } };
    current = api.create(REPLICASETS, ns, {
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        labels: template.metadata.labels,
        annotations: { [REVISION]: String(maxRevision + 1) },
        ownerReferences: [ownerRef(d)],
      },
      spec: { replicas, selector: { ...d.spec.selector, matchLabels: { ...d.spec.selector?.matchLabels, 'pod-template-hash': hash } }, template },
    });
  }
  const revision = Number(current.metadata.annotations?.[REVISION] ?? 0) < maxRevision ? String(maxRevision + 1) : current.metadata.annotations?.[REVISION];
  api.mutate(REPLICASETS, ns, current.metadata.name!, (rs) => {
    rs.spec.replicas = replicas;
    rs.metadata.annotations = { ...rs.metadata.annotations, [REVISION]: revision! };
  });
  for (const old of owned.filter((rs) => rs.metadata.uid !== current!.metadata.uid)) {
    api.mutate(REPLICASETS, ns, old.metadata.name!, (rs) => (rs.spec.replicas = 0));
  }
  api.mutate(DEPLOYMENTS, ns, d.metadata.name!, (dep) => {
    dep.metadata.annotations = { ...dep.metadata.annotations, [REVISION]: revision! };
  });
  api.mutate(DEPLOYMENTS, ns, d.metadata.name!, (dep) => {
    dep.status = {
      observedGeneration: dep.metadata.generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: conditions(dep.status?.conditions, [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${current!.metadata.name}" has successfully progressed.`,
        },
      ]),
    };
  }, { subresource: 'status' });
}

function setReplicaStatus(api: KubeApi, def: ResourceDef, o: KubeObject): void {
  api.mutate(def, o.metadata.namespace, o.metadata.name!, (x) => {
    const n: number = x.spec.replicas ?? 1;
    const counts = { replicas: n, readyReplicas: n, availableReplicas: n, observedGeneration: x.metadata.generation };
    const revision = `${x.metadata.name}-${templateHash(x.spec.template)}`;
    x.status =
      def === STATEFULSETS
        ? { ...counts, currentReplicas: n, updatedReplicas: n, currentRevision: revision, updateRevision: revision, collisionCount: 0 }
        : { ...counts, fullyLabeledReplicas: n };
  }, { subresource: 'status' });
}

/** Makes the owner's pods match spec.replicas and its current template (StatefulSet pods are name-0…n-1). */
function reconcilePods(api: KubeApi, owner: KubeObject): void {
  const ns = owner.metadata.namespace;
  const isSts = owner.kind === 'StatefulSet';
  const want: number = owner.spec.replicas ?? 1;
  const hash = templateHash(owner.spec.template);
  const pods = api.list(PODS, ns).filter((p) => ownedBy(p, owner));
  // StatefulSet pods of an older template are replaced (a rolling update done at once).
  const stale = isSts ? pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] !== `${owner.metadata.name}-${hash}`) : [];
  const keep = pods.filter((p) => !stale.includes(p));
  const extra = isSts ? keep.filter((p) => Number(p.metadata.name!.split('-').pop()) >= want) : keep.slice(want);
  for (const p of [...stale, ...extra]) api.delete(PODS, ns, p.metadata.name!);
  const names = new Set(keep.filter((p) => !extra.includes(p)).map((p) => p.metadata.name));
  for (let i = 0; names.size < want && i < want * 2 + 10; i++) {
    const name = isSts ? `${owner.metadata.name}-${i}` : `${owner.metadata.name}-${randomSuffix()}`;
    if (names.has(name)) continue;
    names.add(name);
    const t = owner.spec.template ?? {};
    const stsLabels = isSts
      ? { 'controller-revision-hash': `${owner.metadata.name}-${hash}`, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i) }
      : {};
    api.create(PODS, ns, {
      metadata: { name, labels: { ...t.metadata?.labels, ...stsLabels }, annotations: t.metadata?.annotations, ownerReferences: [ownerRef(owner)] },
      spec: clone(t.spec ?? { containers: [] }),
    });
  }
}
