/**
 * Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
 * kubectl get works with a plain List too but then prints only NAME and AGE; these columns match
 * what a real server prints for the kinds tests look at, so human-readable output is realistic.
 * `?includeObject=Object` (Helm 4 status) embeds whole objects; the default embeds metadata.
 */
import type { ResourceDef } from './registry.js';
import type { KubeObject } from './types.js';

type Column = [name: string, type: string, cell: (o: KubeObject) => string | number];

export function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function podStatus(p: KubeObject): string {
  for (const c of p.status?.containerStatuses ?? []) {
    if (c.state?.waiting?.reason) return c.state.waiting.reason;
    if (c.state?.terminated?.reason && p.status?.phase !== 'Succeeded') return c.state.terminated.reason;
  }
  return p.status?.phase === 'Succeeded' ? 'Completed' : (p.status?.phase ?? 'Unknown');
}

function jobStatus(j: KubeObject): string {
  const cond = (t: string) => (j.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === t && c.status === 'True');
  if (cond('Complete')) return 'Complete';
  if (cond('Failed')) return 'Failed';
  return 'Running';
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    ['Ready', 'string', (p) => `${(p.status?.containerStatuses ?? []).filter((c: { ready: boolean }) => c.ready).length}/${p.spec?.containers?.length ?? 0}`],
    ['Status', 'string', podStatus],
    ['Restarts', 'string', () => '0'],
  ],
  Deployment: [
    ['Ready', 'string', (d) => `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`],
    ['Up-to-date', 'integer', (d) => d.status?.updatedReplicas ?? 0],
    ['Available', 'integer', (d) => d.status?.availableReplicas ?? 0],
  ],
  ReplicaSet: [
    ['Desired', 'integer', (r) => r.spec?.replicas ?? 0],
    ['Current', 'integer', (r) => r.status?.replicas ?? 0],
    ['Ready', 'integer', (r) => r.status?.readyReplicas ?? 0],
  ],
  StatefulSet: [['Ready', 'string', (s) => `${s.status?.readyReplicas ?? 0}/${s.spec?.replicas ?? 0}`]],
  DaemonSet: [
    ['Desired', 'integer', (d) => d.status?.desiredNumberScheduled ?? 0],
    ['Ready', 'integer', (d) => d.status?.numberReady ?? 0],
  ],
  PersistentVolumeClaim: [['Status', 'string', (p) => p.status?.phase ?? '']],
  Job: [
    ['Status', 'string', jobStatus],
    ['Completions', 'string', (j) => `${j.status?.succeeded ?? 0}/${j.spec?.completions ?? 1}`],
  ],
  Service: [
    ['Type', 'string', (s) => s.spec?.type ?? ''],
    ['Cluster-IP', 'string', (s) => s.spec?.clusterIP ?? '<none>'],
    ['Port(s)', 'string', (s) => (s.spec?.ports ?? []).map((p: { port: number; protocol: string }) => `${p.port}/${p.protocol}`).join(',') || '<none>'],
  ],
  Secret: [
    ['Type', 'string', (s) => s.type ?? ''],
    ['Data', 'integer', (s) => Object.keys(s.data ?? {}).length],
  ],
  ConfigMap: [['Data', 'integer', (c) => Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length]],
  Namespace: [['Status', 'string', (n) => n.status?.phase ?? '']],
};

export const wantsTable = (accept: string | undefined): boolean => /as=Table/.test(accept ?? '');

export function toTable(def: ResourceDef, objs: KubeObject[], includeObject: string | null, resourceVersion: string): object {
  const columns: Column[] = [
    ['Name', 'string', (o) => o.metadata.name ?? ''],
    ...(COLUMNS[def.kind] ?? []),
    ['Age', 'string', (o) => age(o.metadata.creationTimestamp)],
  ];
  const embed = (o: KubeObject) =>
    includeObject === 'None'
      ? undefined
      : includeObject === 'Object'
        ? o
        : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: columns.map(([name, type], i) => ({ name, type, format: i === 0 ? 'name' : '', description: '', priority: 0 })),
    rows: objs.map((o) => ({ cells: columns.map(([, , cell]) => cell(o)), object: embed(o) })),
  };
}
