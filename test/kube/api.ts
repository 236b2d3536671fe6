/**
 * The verbs of the API (get, list, create, update, patch, delete) over the store, with the
 * metadata bookkeeping a real server does: uid, generation (bumped only when more than metadata
 * and status change, which Helm's --wait compares with status.observedGeneration), optimistic
 * concurrency on resourceVersion, status kept apart from the main resource, namespaces that must
 * exist, dry runs. The HTTP layer and the fake controllers both write through here.
 */
import { randomUUID } from 'node:crypto';
import { defaultOnCreate, normalize, validateCreate, validateUpdate } from './defaults.js';
import { jsonPatch, mergePatch } from './json-patches.js';
import { apiVersionOf, grKey, mustFind, RESOURCES, type ResourceDef } from './registry.js';
import { fieldMatcher, labelMatcher } from './selectors.js';
import { FieldOwners } from './field-owners.js';
import { ApplyState } from './server-side-apply.js';
import { Store } from './store.js';
import { strategicMerge } from './strategic-merge.js';
import { ApiError, clone, jsonEqual, notFound, now, randomSuffix, type KubeObject } from './types.js';

export interface WriteOptions {
  dryRun?: boolean;
  /** Who writes (recorded as field owner); undefined for the double's own controllers. */
  fieldManager?: string;
  /** `status` replaces only status; `scale` writes the main resource but is recorded as the scale subresource. */
  subresource?: 'status' | 'scale';
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export const PATCH_TYPES: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

const NAMESPACES = grKey(mustFind({ group: '', resource: 'namespaces' }));
/** Groups whose objects carry metadata.generation (core objects like ConfigMaps do not). */
const GENERATION_GROUPS = ['apps', 'batch', 'networking.k8s.io', 'policy', 'apiextensions.k8s.io'];
const PROTECTED_NAMESPACES = ['default', 'kube-system', 'kube-public'];

/** Everything except metadata and status: a change here bumps metadata.generation. */
const specOf = (o: KubeObject): KubeObject => {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest as KubeObject;
};

export class KubeApi {
  readonly store = new Store();
  private readonly applyState = new ApplyState();
  private readonly owners = new FieldOwners();

  constructor() {
    // "other" is the namespace of the kubeconfig's double-other context (test/harness/cluster.ts
    // creates it on a real cluster too).
    for (const name of [...PROTECTED_NAMESPACES, 'kube-node-lease', 'other']) this.ensureNamespace(name);
  }

  /** Creates a namespace if missing: for test set-up and store accessors, never for HTTP writes. */
  ensureNamespace(name: string): void {
    if (this.store.get(NAMESPACES, undefined, name)) return;
    this.create(mustFind({ group: '', resource: 'namespaces' }), undefined, { metadata: { name } });
  }

  get(def: ResourceDef, ns: string | undefined, name: string): KubeObject {
    const obj = this.store.get(grKey(def), def.namespaced ? ns : undefined, name);
    if (!obj) throw notFound(def.group, def.resource, name);
    return obj;
  }

  find(def: ResourceDef, ns: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(grKey(def), def.namespaced ? ns : undefined, name);
  }

  list(def: ResourceDef, ns?: string, labelSelector?: string | null, fieldSelector?: string | null): KubeObject[] {
    const byLabel = labelMatcher(labelSelector);
    const byField = fieldMatcher(fieldSelector);
    return this.store.list(grKey(def), def.namespaced ? ns : undefined).filter((o) => byLabel(o) && byField(o));
  }

  create(def: ResourceDef, ns: string | undefined, body: KubeObject, opts: WriteOptions = {}): KubeObject {
    const obj = clone(body);
    obj.metadata ??= {};
    if (def.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = ns ?? obj.metadata.namespace ?? 'default';
      this.requireNamespace(obj.metadata.namespace);
    } else delete obj.metadata.namespace;
    if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = obj.metadata.generateName + randomSuffix();
    if (!obj.metadata.name) throw new ApiError(422, 'Invalid', `${def.kind} is invalid: metadata.name: Required value: name or generateName is required`);
    if (this.find(def, obj.metadata.namespace, obj.metadata.name)) {
      const gr = def.group ? `${def.resource}.${def.group}` : def.resource;
      const details = { name: obj.metadata.name, group: def.group, kind: def.resource };
      throw new ApiError(409, 'AlreadyExists', `${gr} "${obj.metadata.name}" already exists`, details);
    }
    Object.assign(obj, { apiVersion: apiVersionOf(def), kind: def.kind });
    if (def.subresources?.includes('status')) delete obj.status;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = now();
    if (GENERATION_GROUPS.includes(def.group)) obj.metadata.generation = 1;
    else delete obj.metadata.generation;
    delete obj.metadata.resourceVersion;
    normalize(def, obj);
    defaultOnCreate(def, obj);
    validateCreate(def, obj);
    if (opts.dryRun) return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.store.resourceVersion) } };
    const stored = this.store.write(grKey(def), obj);
    if (opts.fieldManager) this.owners.recordUpdate(stored.metadata.uid!, undefined, stored, this.owner(def, opts, 'Update'));
    return stored;
  }

  update(def: ResourceDef, ns: string | undefined, name: string, body: KubeObject, opts: WriteOptions = {}): KubeObject {
    const old = this.get(def, ns, name);
    const rv = body.metadata?.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) {
      const gr = def.group ? `${def.resource}.${def.group}` : def.resource;
      const msg =
        `Operation cannot be fulfilled on ${gr} "${name}": ` +
        'the object has been modified; please apply your changes to the latest version and try again';
      throw new ApiError(409, 'Conflict', msg, { name, group: def.group, kind: def.resource });
    }
    const next = opts.subresource === 'status' ? { ...old, status: clone(body.status) } : clone(body);
    next.metadata = { ...next.metadata };
    for (const k of ['uid', 'creationTimestamp', 'namespace', 'name'] as const) next.metadata[k] = old.metadata[k];
    Object.assign(next, { apiVersion: apiVersionOf(def), kind: def.kind });
    if (opts.subresource !== 'status' && def.subresources?.includes('status')) next.status = old.status;
    if (def.kind === 'Service' && !next.spec?.clusterIP && old.spec?.clusterIP) {
      next.spec = { ...next.spec, clusterIP: old.spec.clusterIP, clusterIPs: old.spec.clusterIPs };
    }
    normalize(def, next);
    validateUpdate(def, old, next);
    const changed = !jsonEqual(specOf(old), specOf(next));
    if (GENERATION_GROUPS.includes(def.group)) next.metadata.generation = (old.metadata.generation ?? 1) + (changed ? 1 : 0);
    else delete next.metadata.generation;
    if (opts.dryRun) return next;
    if (jsonEqual(old, { ...next, metadata: { ...next.metadata, resourceVersion: old.metadata.resourceVersion } })) return old;
    const stored = this.store.write(grKey(def), next);
    if (opts.fieldManager && opts.subresource !== 'status') this.owners.recordUpdate(stored.metadata.uid!, old, stored, this.owner(def, opts, 'Update'));
    return stored;
  }

  /**
   * Returns the result and whether it was created (server-side apply creates missing objects).
   * An apply that would change fields another manager owns fails with 409 unless `force`.
   */
  patch(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    type: PatchType,
    body: unknown,
    opts: WriteOptions & { force?: boolean } = {},
  ): { object: KubeObject; created: boolean } {
    const live = this.find(def, ns, name);
    if (type === 'apply') {
      const config = body as KubeObject;
      if (!config?.metadata) throw new ApiError(400, 'BadRequest', 'an apply configuration needs metadata');
      const manager = opts.fieldManager;
      if (!manager) throw new ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      if (live && !opts.force) this.owners.checkApply(live, config, manager);
      const merged = this.applyState.apply(live, config, manager);
      merged.metadata = { ...merged.metadata, name, ...(def.namespaced ? { namespace: ns } : {}) };
      const unconditional = { ...merged, metadata: { ...merged.metadata, resourceVersion: undefined } };
      const inner = { ...opts, fieldManager: undefined }; // ownership is recorded as Apply below
      const object = live ? this.update(def, ns, name, unconditional, inner) : this.create(def, ns, merged, inner);
      if (!opts.dryRun) {
        this.applyState.record(object.metadata.uid!, manager, config);
        this.owners.recordApply(object.metadata.uid!, config, object, this.owner(def, opts, 'Apply'));
      }
      return { object, created: !live };
    }
    if (!live) throw notFound(def.group, def.resource, name);
    const patched = (type === 'merge' ? mergePatch(live, body) : type === 'json' ? jsonPatch(live, body) : strategicMerge(live, body)) as KubeObject;
    return { object: this.update(def, ns, name, patched, opts), created: false };
  }

  /** Deletes at once (no graceful termination, finalizers ignored) and collects dependents. */
  delete(def: ResourceDef, ns: string | undefined, name: string, opts: { dryRun?: boolean; orphan?: boolean } = {}): KubeObject {
    const obj = this.get(def, ns, name);
    if (def.kind === 'Namespace' && PROTECTED_NAMESPACES.includes(name)) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    if (opts.dryRun) return obj;
    if (def.kind === 'Namespace') {
      for (const d of RESOURCES.filter((r) => r.namespaced)) for (const o of this.list(d, name)) this.store.remove(grKey(d), name, o.metadata.name!);
    }
    return this.store.remove(grKey(def), def.namespaced ? ns : undefined, name, opts.orphan) ?? obj;
  }

  /**
   * Reads, changes and writes an object in one step, only when `fn` changed it: controllers call
   * this on every event, so writing unchanged objects would loop forever.
   */
  mutate(def: ResourceDef, ns: string | undefined, name: string, fn: (o: KubeObject) => void, opts: WriteOptions = {}): KubeObject | undefined {
    const cur = this.find(def, ns, name);
    if (!cur) return undefined;
    const next = clone(cur);
    fn(next);
    if (jsonEqual(cur, next)) return cur;
    return this.update(def, ns, name, { ...next, metadata: { ...next.metadata, resourceVersion: undefined } }, opts);
  }

  private owner(def: ResourceDef, opts: WriteOptions, operation: 'Apply' | 'Update') {
    return { manager: opts.fieldManager!, operation, apiVersion: apiVersionOf(def), ...(opts.subresource === 'scale' ? { subresource: 'scale' } : {}) };
  }

  private requireNamespace(ns: string): void {
    if (!this.store.get(NAMESPACES, undefined, ns)) throw notFound('', 'namespaces', ns);
  }
}
