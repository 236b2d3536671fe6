/**
 * Strategic merge patch (application/strategic-merge-patch+json), approximated without schemas.
 *
 * Helm 3 upgrades and rollbacks send 3-way strategic patches, and so does client-side
 * `kubectl apply`. Real Kubernetes finds a list's merge key in the Go types; the double keys it
 * by field name (a small table below), which covers what charts put in workloads.
 * Directives handled: `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<f>`,
 * `$deleteFromPrimitiveList/<f>`, and `null` to delete a field.
 */
import { clone, isPlainObject } from './types.js';

type Obj = Record<string, unknown>;

const BY_NAME = ['containers', 'initContainers', 'ephemeralContainers', 'env', 'volumes', 'imagePullSecrets'];
const KEYS: Record<string, string> = {
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  conditions: 'type',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
};
/** Lists of scalars that merge as sets instead of being replaced. */
const SET_LISTS = ['finalizers'];

/**
 * The merge key of a list field, or undefined for an atomic list. `ports` is keyed by
 * `containerPort` in a container and by `port` in a Service, so the items decide.
 */
export function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (BY_NAME.includes(field)) return 'name';
  if (field === 'ports') return items.some((i) => isPlainObject(i) && 'containerPort' in i) ? 'containerPort' : 'port';
  return KEYS[field];
}

export const isSetList = (field: string): boolean => SET_LISTS.includes(field);

const stripDirectives = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.filter((i) => !(isPlainObject(i) && i.$patch !== undefined && Object.keys(i).length === 1)).map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
};

export function strategicMerge(original: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return undefined;
  const out: Obj = isPlainObject(original) ? clone(original) : {};
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(out)) if (!(patch.$retainKeys as string[]).includes(k)) delete out[k];
  }
  const orders: [string, unknown[]][] = [];
  const primitiveDeletes: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/')) orders.push([k.slice('$setElementOrder/'.length), v as unknown[]]);
    else if (k.startsWith('$deleteFromPrimitiveList/')) primitiveDeletes.push([k.slice('$deleteFromPrimitiveList/'.length), v as unknown[]]);
    else if (k.startsWith('$')) continue;
    else if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(k, out[k], v);
    else if (isPlainObject(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, values] of primitiveDeletes) {
    if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).filter((x) => !values.includes(x));
  }
  for (const [k, order] of orders) if (Array.isArray(out[k])) out[k] = reorder(k, out[k] as unknown[], order);
  return out;
}

function mergeList(field: string, original: unknown, patch: unknown[]): unknown[] {
  const orig = Array.isArray(original) ? clone(original) : [];
  if (patch.some((i) => isPlainObject(i) && i.$patch === 'replace')) return stripDirectives(patch) as unknown[];
  if (isSetList(field)) return [...orig, ...patch.filter((p) => !orig.includes(p))];
  const key = mergeKeyFor(field, [...orig, ...patch]);
  if (!key) return stripDirectives(patch) as unknown[];
  const out = orig;
  for (const item of patch) {
    if (!isPlainObject(item)) continue;
    const idx = out.findIndex((o) => isPlainObject(o) && o[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
    } else if (idx >= 0) out[idx] = strategicMerge(out[idx], item);
    else out.push(stripDirectives(item));
  }
  return out;
}

/** `$setElementOrder`: listed items first in the given order, the rest after in their old order. */
function reorder(field: string, list: unknown[], order: unknown[]): unknown[] {
  const key = mergeKeyFor(field, list);
  const id = (x: unknown) => (key && isPlainObject(x) ? x[key] : x);
  const wanted = order.map(id);
  const ranked = list.filter((x) => wanted.includes(id(x))).sort((a, b) => wanted.indexOf(id(a)) - wanted.indexOf(id(b)));
  return [...ranked, ...list.filter((x) => !wanted.includes(id(x)))];
}
