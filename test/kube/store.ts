/**
 * In-memory object store with one global resourceVersion counter and an event history.
 *
 * The history lets a watch started at a LIST's resourceVersion replay what happened in between
 * (kubectl wait and Helm 3 do LIST then WATCH from that RV). Events are dispatched through a
 * queue, so a controller that writes while handling an event cannot make watchers see events out
 * of resourceVersion order.
 */
import { clone, type KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface StoreEvent {
  type: EventType;
  /** `group/resource`, e.g. `apps/deployments`, `/pods`. */
  gr: string;
  /** A snapshot: listeners must not mutate it. */
  object: KubeObject;
  rv: number;
}
export type Listener = (ev: StoreEvent) => void;

/** Enough for any test; a watch from an older RV gets 410 Gone, as from a real server. */
const HISTORY_LIMIT = 20000;

const keyOf = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

export class Store {
  private rv = 100;
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly queue: StoreEvent[] = [];
  private dispatching = false;

  get resourceVersion(): number {
    return this.rv;
  }

  get(gr: string, ns: string | undefined, name: string): KubeObject | undefined {
    return clone(this.data.get(gr)?.get(keyOf(ns, name)));
  }

  /** All objects of a resource, in one namespace or all, sorted like a real LIST (namespace, name). */
  list(gr: string, ns?: string): KubeObject[] {
    const objs = [...(this.data.get(gr)?.values() ?? [])].filter((o) => ns === undefined || o.metadata.namespace === ns);
    const key = (o: KubeObject) => keyOf(o.metadata.namespace, o.metadata.name ?? '');
    return objs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).map(clone);
  }

  /** Stores a full object (metadata already complete) and returns the stored copy with its new RV. */
  write(gr: string, obj: KubeObject): KubeObject {
    const bucket = this.data.get(gr) ?? new Map<string, KubeObject>();
    this.data.set(gr, bucket);
    const key = keyOf(obj.metadata.namespace, obj.metadata.name!);
    const type: EventType = bucket.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    bucket.set(key, stored);
    this.emit({ type, gr, object: clone(stored), rv: this.rv });
    return clone(stored);
  }

  /**
   * Removes an object and, unless `orphan`, everything that names it in ownerReferences
   * (a naive garbage collector: without it a Job's pod outlives `kubectl delete job`).
   */
  remove(gr: string, ns: string | undefined, name: string, orphan = false): KubeObject | undefined {
    const bucket = this.data.get(gr);
    const obj = bucket?.get(keyOf(ns, name));
    if (!bucket || !obj) return undefined;
    bucket.delete(keyOf(ns, name));
    obj.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', gr, object: clone(obj), rv: this.rv });
    if (!orphan) {
      for (const [depGr, deps] of this.data) {
        for (const dep of [...deps.values()]) {
          if (dep.metadata.ownerReferences?.some((r) => r.uid === obj.metadata.uid)) {
            this.remove(depGr, dep.metadata.namespace, dep.metadata.name!);
          }
        }
      }
    }
    return clone(obj);
  }

  /** Events after `rv` for one resource, or undefined when the history no longer reaches back that far. */
  eventsSince(gr: string, rv: number): StoreEvent[] | undefined {
    const oldest = this.history[0]?.rv ?? this.rv + 1;
    if (rv + 1 < oldest && rv < this.rv) return undefined;
    return this.history.filter((e) => e.gr === gr && e.rv > rv);
  }

  /** Listeners run synchronously, in order, for every event; returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    this.queue.push(ev);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        for (const l of [...this.listeners]) {
          try {
            l(next);
          } catch (err) {
            // A bug in a controller must be loud, but must not stop other listeners (watches).
            console.error(`kube double: listener failed on ${next.type} ${next.gr} ${next.object.metadata.name}:`, err);
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }
}
