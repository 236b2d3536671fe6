/**
 * Field ownership, reduced to what makes server-side apply refuse a change: an apply that would
 * change a field last set by another manager fails with 409 unless `force=true`.
 *
 * Why it matters here: `kubectl scale deploy/x --replicas=0` makes "kubectl" (subresource scale)
 * the owner of `.spec.replicas`; a later Helm 4 upgrade or rollback, which applies with
 * `force=false`, then fails on a real cluster with
 *   Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas
 * unless it is given `--force-conflicts`. Helm 3 never applies, so it never conflicts.
 *
 * Simplifications: one owner per leaf field (the last writer), no `managedFields` in objects,
 * and a client-side-apply manager counts as its own server-side successor (kubectl and Helm 4
 * migrate those entries before applying, with csaupgrade).
 */
import { mergeKeyFor } from './strategic-merge.js';
import { ApiError, isPlainObject, jsonEqual, type KubeObject } from './types.js';

export interface Owner {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
}

/** Metadata the server maintains: never owned, never a conflict. */
const SERVER_METADATA = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp'];

/** Leaf fields as structured-merge-diff prints them: `.spec.template.spec.containers[name="app"].image`. */
export function leaves(obj: unknown, prefix = '', field = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (isPlainObject(obj) && Object.keys(obj).length > 0) {
    for (const [k, v] of Object.entries(obj)) {
      if (prefix === '' && (k === 'status' || k === 'apiVersion' || k === 'kind')) continue;
      if (prefix === '.metadata' && SERVER_METADATA.includes(k)) continue;
      if (v !== undefined && v !== null) leaves(v, `${prefix}.${k}`, k, out);
    }
  } else if (Array.isArray(obj) && obj.length > 0 && obj.every(isPlainObject) && mergeKeyFor(field, obj)) {
    const key = mergeKeyFor(field, obj)!;
    for (const item of obj as Record<string, unknown>[]) leaves(item, `${prefix}[${key}=${JSON.stringify(item[key])}]`, '', out);
  } else out.set(prefix, obj);
  return out;
}

const describe = (o: Owner): string =>
  `"${o.manager}"${o.subresource ? ` with subresource "${o.subresource}"` : ''}${o.operation === 'Update' ? ` using ${o.apiVersion}` : ''}`;

/**
 * Whether the applier may take the field silently. A real owner identity is manager + operation +
 * subresource, so "kubectl" applying conflicts with "kubectl" having scaled through the scale
 * subresource; client-side entries of the same client are migrated first (csaupgrade).
 */
const sameManager = (owner: Owner, applier: string): boolean =>
  (owner.manager === applier && !owner.subresource) || (applier === 'kubectl' && owner.manager === 'kubectl-client-side-apply');

export class FieldOwners {
  /** object uid → leaf path → last writer. */
  private readonly owners = new Map<string, Map<string, Owner>>();

  /** A create, update or non-apply patch: the writer takes the fields whose value it changed. */
  recordUpdate(uid: string, before: KubeObject | undefined, after: KubeObject, owner: Owner): void {
    const old = before ? leaves(before) : new Map<string, unknown>();
    const map = this.ownersOf(uid);
    for (const [path, value] of leaves(after)) if (!old.has(path) || !jsonEqual(old.get(path), value)) map.set(path, owner);
    this.retain(uid, after);
  }

  /** Throws the API's 409 Conflict when `applied` would change fields another manager owns. */
  checkApply(live: KubeObject, applied: KubeObject, manager: string): void {
    const map = this.owners.get(live.metadata.uid!);
    if (!map) return;
    const current = leaves(live);
    const conflicts: [string, Owner][] = [];
    for (const [path, value] of leaves(applied)) {
      const owner = map.get(path);
      if (owner && !sameManager(owner, manager) && current.has(path) && !jsonEqual(current.get(path), value)) conflicts.push([path, owner]);
    }
    if (conflicts.length === 0) return;
    const causes = conflicts.map(([path, o]) => ({ reason: 'FieldManagerConflict', message: `conflict with ${describe(o)}`, field: path }));
    let message: string;
    if (conflicts.length === 1) message = `Apply failed with 1 conflict: conflict with ${describe(conflicts[0]![1])}: ${conflicts[0]![0]}`;
    else {
      const byManager = new Map<string, string[]>();
      for (const [path, o] of conflicts) byManager.set(describe(o), [...(byManager.get(describe(o)) ?? []), path]);
      const parts = [...byManager].sort().flatMap(([m, paths]) => [`conflicts with ${m}:`, ...paths.map((p) => `- ${p}`)]);
      message = `Apply failed with ${conflicts.length} conflicts: ${parts.join('\n')}`;
    }
    throw new ApiError(409, 'Conflict', message, { causes });
  }

  /** A successful apply: the applier owns every field of its configuration. */
  recordApply(uid: string, applied: KubeObject, after: KubeObject, owner: Owner): void {
    const map = this.ownersOf(uid);
    for (const path of leaves(applied).keys()) map.set(path, owner);
    this.retain(uid, after);
  }

  /** Forgets fields that no longer exist. */
  private retain(uid: string, obj: KubeObject): void {
    const present = leaves(obj);
    const map = this.ownersOf(uid);
    for (const path of [...map.keys()]) if (!present.has(path)) map.delete(path);
  }

  private ownersOf(uid: string): Map<string, Owner> {
    const map = this.owners.get(uid) ?? new Map<string, Owner>();
    this.owners.set(uid, map);
    return map;
  }
}
