/**
 * What the API server's defaulting and validation would do to an object on write, limited to
 * what clients observe: Helm 3's `--wait` needs a Service to have a clusterIP, `kubectl logs
 * job/x` needs the Job selector the server defaults, and a changed Job template must be refused
 * as immutable exactly like a real cluster refuses it on `helm upgrade`.
 */
import type { ResourceDef } from './registry.js';
import { ApiError, isPlainObject, jsonEqual, type KubeObject } from './types.js';

let nextIp = 10;
const allocateClusterIp = (): string => `10.96.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`;

/** Runs on every write: Secret.stringData is write-only and folded into data. */
export function normalize(def: ResourceDef, obj: KubeObject): void {
  if (def.kind === 'Secret') {
    if (isPlainObject(obj.stringData)) {
      obj.data = { ...(obj.data ?? {}) };
      for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v)).toString('base64');
    }
    delete obj.stringData;
    obj.type ??= 'Opaque';
  }
  // The API server's 1 MiB cap on a Secret's or ConfigMap's data (core.MaxSecretSize), in decoded bytes.
  if (def.kind === 'Secret' || def.kind === 'ConfigMap') {
    const decoded = (values: unknown, base64: boolean) => Object.values(isPlainObject(values) ? values : {}).reduce((n: number, v) => n + (base64 ? Buffer.from(String(v), 'base64') : Buffer.from(String(v))).length, 0);
    const size = def.kind === 'Secret' ? decoded(obj.data, true) : decoded(obj.data, false) + decoded(obj.binaryData, true);
    if (size > MAX_DATA_BYTES) throw invalid(def, obj.metadata.name ?? '', def.kind === 'Secret' ? 'data' : '[]', `Too long: may not be more than ${MAX_DATA_BYTES} bytes`);
  }
}

const MAX_DATA_BYTES = 1024 * 1024;

/** Runs on create only, after the uid is assigned. */
export function defaultOnCreate(def: ResourceDef, obj: KubeObject): void {
  const spec = obj.spec;
  switch (def.kind) {
    case 'Namespace':
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name! };
      obj.spec = { finalizers: ['kubernetes'], ...spec };
      obj.status = { phase: 'Active' };
      break;
    case 'Service':
      defaultService(obj);
      break;
    case 'Deployment':
      spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
      break;
    case 'StatefulSet':
    case 'ReplicaSet':
      spec.replicas ??= 1;
      break;
    case 'Job':
      defaultJob(obj);
      break;
    case 'Pod':
      spec.restartPolicy ??= 'Always';
      spec.nodeName ??= 'double-node'; // scheduled at once: there is one node
      spec.serviceAccountName ??= 'default';
      obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    case 'PersistentVolumeClaim':
      obj.status = { phase: 'Bound', accessModes: spec?.accessModes ?? [], capacity: spec?.resources?.requests ?? {} };
      break;
  }
}

function defaultService(obj: KubeObject): void {
  const spec = (obj.spec ??= {});
  spec.type ??= 'ClusterIP';
  if (spec.type !== 'ExternalName' && !spec.clusterIP) spec.clusterIP = allocateClusterIp();
  if (spec.clusterIP) spec.clusterIPs ??= [spec.clusterIP];
  spec.sessionAffinity ??= 'None';
  for (const p of spec.ports ?? []) {
    p.protocol ??= 'TCP';
    p.targetPort ??= p.port;
  }
  // Helm's --wait wants an ingress for LoadBalancer Services; there is no cloud, so say localhost.
  obj.status = spec.type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: '127.0.0.1' }] } } : { loadBalancer: {} };
}

/** The job controller finds its pods by this selector; kubectl logs job/x reads it too. */
function defaultJob(obj: KubeObject): void {
  const spec = (obj.spec ??= {});
  const uid = obj.metadata.uid!;
  const name = obj.metadata.name!;
  if (!spec.manualSelector) {
    spec.selector ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    const meta = (spec.template.metadata ??= {});
    meta.labels = {
      ...meta.labels,
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    };
  }
  spec.backoffLimit ??= 6;
  spec.completions ??= 1;
  spec.parallelism ??= 1;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
}

const invalid = (def: ResourceDef, name: string, field: string, detail: string): ApiError => {
  const gk = def.group ? `${def.kind}.${def.group}` : def.kind;
  return new ApiError(422, 'Invalid', `${gk} "${name}" is invalid: ${field}: ${detail}`, {
    name,
    group: def.group,
    kind: def.kind,
    causes: [{ reason: 'FieldValueInvalid', message: detail, field }],
  });
};

export function validateCreate(def: ResourceDef, obj: KubeObject): void {
  if (def.kind === 'Job' || def.kind === 'CronJob') {
    const podSpec = def.kind === 'Job' ? obj.spec?.template?.spec : obj.spec?.jobTemplate?.spec?.template?.spec;
    const rp = podSpec?.restartPolicy;
    if (rp !== 'Never' && rp !== 'OnFailure') {
      const field = def.kind === 'Job' ? 'spec.template.spec.restartPolicy' : 'spec.jobTemplate.spec.template.spec.restartPolicy';
      throw invalid(def, obj.metadata.name!, field, `Required value: valid values: "OnFailure", "Never"`);
    }
  }
}

export function validateUpdate(def: ResourceDef, old: KubeObject, next: KubeObject): void {
  const name = old.metadata.name!;
  const immutable = (field: string, a: unknown, b: unknown) => {
    if (!jsonEqual(a, b)) throw invalid(def, name, field, `Invalid value: ${JSON.stringify(b)}: field is immutable`);
  };
  if (['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job'].includes(def.kind)) {
    immutable('spec.selector', old.spec?.selector, next.spec?.selector);
  }
  if (def.kind === 'Job') immutable('spec.template', old.spec?.template, next.spec?.template);
  if ((def.kind === 'Secret' || def.kind === 'ConfigMap') && old.immutable === true) {
    immutable('data', old.data, next.data);
  }
}
