/**
 * Server-side apply, reduced to what Helm 4 and `kubectl apply --server-side` depend on.
 *
 * Plain merging is wrong for SSA: after a chart drops a ConfigMap key or an env entry, Helm 4
 * sends an apply body that simply omits it and expects it gone. So the double remembers each
 * field manager's last applied configuration (per object uid), prunes from the live object what
 * that manager applied before but no longer applies (per merge key inside lists), then merges the
 * new configuration. Fields set by other managers survive. Conflicts with other managers are
 * checked before this runs (field-owners.ts).
 */
import { mergeKeyFor, isSetList } from './strategic-merge.js';
import { clone, isPlainObject, type KubeObject } from './types.js';

type Obj = Record<string, unknown>;

const keyed = (items: unknown[], key: string, value: unknown): Obj | undefined =>
  items.find((i): i is Obj => isPlainObject(i) && i[key] === value);

function prune(live: unknown, prev: unknown, next: unknown): unknown {
  if (!isPlainObject(live) || !isPlainObject(prev)) return live;
  const out: Obj = { ...live };
  for (const [k, p] of Object.entries(prev)) {
    const n = isPlainObject(next) ? next[k] : undefined;
    if (n === undefined || n === null) delete out[k];
    else out[k] = pruneField(k, out[k], p, n);
  }
  return out;
}

function pruneField(field: string, live: unknown, prev: unknown, next: unknown): unknown {
  if (isPlainObject(prev) && isPlainObject(next)) return prune(live, prev, next);
  if (!Array.isArray(live) || !Array.isArray(prev) || !Array.isArray(next)) return live;
  if (isSetList(field)) return live.filter((x) => !(prev.includes(x) && !next.includes(x)));
  const key = mergeKeyFor(field, [...prev, ...next, ...live]);
  if (!key) return live;
  return live
    .filter((i) => !isPlainObject(i) || !keyed(prev, key, i[key]) || keyed(next, key, i[key]))
    .map((i) => (isPlainObject(i) ? prune(i, keyed(prev, key, i[key]), keyed(next, key, i[key])) : i));
}

function merge(field: string, live: unknown, cfg: unknown): unknown {
  if (isPlainObject(cfg)) {
    const out: Obj = isPlainObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(cfg)) if (v !== null && v !== undefined) out[k] = merge(k, out[k], v);
    return out;
  }
  if (!Array.isArray(cfg)) return cfg;
  if (!Array.isArray(live)) return clone(cfg);
  if (isSetList(field)) return [...cfg, ...live.filter((x) => !cfg.includes(x))];
  const key = mergeKeyFor(field, [...cfg, ...live]);
  if (!key) return clone(cfg);
  // Applied items in applied order, then items only other managers know about.
  const applied = cfg.map((c) => (isPlainObject(c) ? merge('', keyed(live, key, c[key]), c) : c));
  return [...applied, ...live.filter((l) => !isPlainObject(l) || !keyed(cfg, key, l[key]))];
}

export class ApplyState {
  private readonly applied = new Map<string, Map<string, KubeObject>>();

  /** The object that results from `manager` applying `config` onto `live` (undefined: create). */
  apply(live: KubeObject | undefined, config: KubeObject, manager: string): KubeObject {
    const cfg = clone(config);
    delete cfg.status; // status is ignored when applying to the main resource
    const prev = live?.metadata.uid ? this.applied.get(live.metadata.uid)?.get(manager) : undefined;
    const base = live ? prune(clone(live), prev, cfg) : {};
    return merge('', base, cfg) as KubeObject;
  }

  /** Called once the result is stored, so the next apply by `manager` can prune against it. */
  record(uid: string, manager: string, config: KubeObject): void {
    const byManager = this.applied.get(uid) ?? new Map<string, KubeObject>();
    byManager.set(manager, clone(config));
    this.applied.set(uid, byManager);
  }
}
