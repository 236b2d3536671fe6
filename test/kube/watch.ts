/**
 * WATCH: a newline-delimited stream of `{"type":…,"object":…}` events.
 *
 * Three ways in, all of them used by real clients:
 * - `resourceVersion=N` (kubectl wait, Helm 3): replay history after N, then live events;
 * - no RV or RV 0: synthetic ADDED for what exists, then live;
 * - `sendInitialEvents=true` (Helm 4 WatchList, client-go 1.35): ADDED for what exists, then a
 *   BOOKMARK annotated `k8s.io/initial-events-end`. Ignoring the parameter makes Helm 4 hang
 *   until its --timeout ("hasn't received required bookmark event").
 */
import type { ServerResponse } from 'node:http';
import type { KubeApi } from './api.js';
import { apiVersionOf, grKey, type ResourceDef } from './registry.js';
import { fieldMatcher, labelMatcher } from './selectors.js';
import type { StoreEvent } from './store.js';
import { ApiError, type KubeObject } from './types.js';

export function serveWatch(
  res: ServerResponse,
  api: KubeApi,
  def: ResourceDef,
  ns: string | undefined,
  query: URLSearchParams,
  open: Set<ServerResponse>,
): void {
  const byLabel = labelMatcher(query.get('labelSelector'));
  const byField = fieldMatcher(query.get('fieldSelector'));
  const gr = grKey(def);
  const matches = (o: KubeObject) => (!def.namespaced || ns === undefined || o.metadata.namespace === ns) && byLabel(o) && byField(o);
  const initial = query.get('sendInitialEvents') === 'true';
  if (initial && query.get('resourceVersionMatch') !== 'NotOlderThan') {
    throw new ApiError(400, 'BadRequest', 'sendInitialEvents requires resourceVersionMatch=NotOlderThan');
  }
  const rvParam = query.get('resourceVersion') ?? '';
  const replay = !initial && rvParam !== '' && rvParam !== '0' ? api.store.eventsSince(gr, Number(rvParam)) : [];

  // Node sends no headers before the first write; client-go waits for them, so flush now
  // (without this `kubectl wait --timeout=10s` hung for minutes, ignoring its timeout).
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  const send = (type: string, object: KubeObject) => res.write(`${JSON.stringify({ type, object })}\n`);

  if (replay === undefined) {
    const status = new ApiError(410, 'Expired', `too old resource version: ${rvParam} (${api.store.resourceVersion})`);
    send('ERROR', status.toStatus());
    res.end();
    return;
  }
  if (initial || rvParam === '' || rvParam === '0') {
    for (const o of api.store.list(gr, def.namespaced ? ns : undefined)) if (matches(o)) send('ADDED', o);
  }
  for (const ev of replay) if (matches(ev.object)) send(ev.type, ev.object);
  if (initial) {
    send('BOOKMARK', {
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      metadata: { resourceVersion: String(api.store.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } },
    });
  }

  const unsubscribe = api.store.subscribe((ev: StoreEvent) => {
    if (ev.gr === gr && matches(ev.object)) send(ev.type, ev.object);
  });
  const timeout = Number(query.get('timeoutSeconds') ?? 0);
  const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
  open.add(res);
  // Not req.on('close'): in Node 20 that fires once the request body is read, which removed
  // watchers right after the replay and starved them of live events.
  res.on('close', () => {
    unsubscribe();
    clearTimeout(timer);
    open.delete(res);
  });
}
