/**
 * The double's HTTP API and patch semantics, driven directly (no binaries): the behaviours the
 * real clients depend on and that would make them hang or silently misbehave if wrong.
 */
import assert from 'node:assert/strict';
import { tempDir, type TempDir } from './helpers.js';
import { startKubeDouble, type KubeDouble, type KubeObject } from './index.js';
import { strategicMerge } from './strategic-merge.js';

/** Reads newline-delimited watch events until `until` says stop. */
async function readEvents(res: Response, until: (events: { type: string; object: KubeObject }[]) => boolean): Promise<{ type: string; object: KubeObject }[]> {
  const events: { type: string; object: KubeObject }[] = [];
  const reader = res.body!.getReader();
  let buf = '';
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += Buffer.from(value).toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  }
  await reader.cancel();
  return events;
}

describe('kube double: API semantics', function () {
  this.timeout(10_000);
  let tmp: TempDir;
  let kube: KubeDouble;
  const api = (path: string, init: RequestInit = {}) => fetch(`${kube.url}${path}`, init);
  const send = (method: string, path: string, body: unknown, contentType = 'application/json') =>
    api(path, { method, headers: { 'Content-Type': contentType }, body: JSON.stringify(body) });
  const CMS = '/api/v1/namespaces/default/configmaps';

  before(async () => {
    tmp = tempDir('kube-api-');
    kube = await startKubeDouble({ dir: tmp.path });
  });
  after(async () => {
    await kube?.close();
    tmp?.remove();
  });

  it('answers a WatchList (sendInitialEvents) with ADDED events, the initial-events-end BOOKMARK, then live events', async () => {
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1' } });
    const res = await api(`${CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
    setTimeout(() => kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2' } }), 50);
    const events = await readEvents(res, (e) => e.some((x) => x.object.metadata.name === 'w2'));
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name ?? '']), [['ADDED', 'w1'], ['BOOKMARK', ''], ['ADDED', 'w2']]);
    assert.equal(events[1]!.object.metadata.annotations!['k8s.io/initial-events-end'], 'true');
    const bad = await api(`${CMS}?watch=true&sendInitialEvents=true`);
    assert.equal(bad.status, 400);
  });

  it('replays what happened after a LIST resourceVersion to a watch started from it', async () => {
    const list = (await (await api(CMS)).json()) as { metadata: { resourceVersion: string } };
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r1' }, data: { a: '1' } });
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'r1' }, data: { a: '2' } });
    kube.delete({ apiVersion: 'v1', kind: 'ConfigMap' }, 'r1');
    const res = await api(`${CMS}?watch=true&fieldSelector=metadata.name=r1&resourceVersion=${list.metadata.resourceVersion}`);
    const events = await readEvents(res, (e) => e.length >= 3);
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('answers errors as Status objects with the reasons clients branch on', async () => {
    const created = await send('POST', CMS, { metadata: { name: 'e1' } });
    assert.equal(created.status, 201);
    const stale = (await created.json()) as KubeObject;
    const dup = await send('POST', CMS, { metadata: { name: 'e1' } });
    assert.deepEqual([dup.status, ((await dup.json()) as KubeObject).reason], [409, 'AlreadyExists']);
    await send('PUT', `${CMS}/e1`, { ...stale, data: { x: '1' } });
    const conflict = await send('PUT', `${CMS}/e1`, { ...stale, data: { x: '2' } });
    assert.deepEqual([conflict.status, ((await conflict.json()) as KubeObject).reason], [409, 'Conflict']);
    const missing = (await (await api(`${CMS}/nope`)).json()) as KubeObject;
    assert.deepEqual([missing.code, missing.reason, missing.details], [404, 'NotFound', { name: 'nope', group: '', kind: 'configmaps' }]);
    const noNs = await send('POST', '/api/v1/namespaces/ghost/configmaps', { metadata: { name: 'x' } });
    assert.equal(noNs.status, 404);
  });

  it('refuses to change a Job template (immutable), like a real cluster on helm upgrade', async () => {
    const j = kube.put({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'imm' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'none', command: ['true'] }] } } },
    });
    const patch = { spec: { template: { spec: { containers: [{ name: 'c', image: 'other' }] } } } };
    const res = await send('PATCH', '/apis/batch/v1/namespaces/default/jobs/imm', patch, 'application/strategic-merge-patch+json');
    const status = (await res.json()) as KubeObject;
    assert.equal(res.status, 422);
    assert.match(status.message, /Job\.batch "imm" is invalid: spec\.template: .*field is immutable/);
    assert.equal(kube.get({ apiVersion: 'batch/v1', kind: 'Job' }, 'imm')!.spec.template.spec.containers[0].image, j.spec.template.spec.containers[0].image);
  });

  it('server-side apply prunes what a manager stopped applying, and keeps what others set', async () => {
    const apply = (body: unknown, manager: string) => send('PATCH', `${CMS}/ssa?fieldManager=${manager}`, body, 'application/apply-patch+yaml');
    const cm = (labels: Record<string, string>, data: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ssa', labels },
      data,
    });
    const first = await apply(cm({ a: '1', b: '2' }, { keep: '1', drop: '2' }), 'helm');
    assert.equal(first.status, 201);
    await send('PATCH', `${CMS}/ssa`, { data: { mine: 'kubectl' } }, 'application/merge-patch+json');
    await apply(cm({ a: '1' }, { keep: '1' }), 'helm');
    const live = kube.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'ssa')!;
    assert.deepEqual([live.metadata.labels, live.data], [{ a: '1' }, { keep: '1', mine: 'kubectl' }]);
  });

  it('applies strategic merge directives (merge keys, $patch delete, null, $deleteFromPrimitiveList, $retainKeys)', () => {
    const live = {
      metadata: { labels: { a: '1', b: '2' }, finalizers: ['x', 'y'] },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
        containers: [
          { name: 'app', image: 'v1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }] },
          { name: 'sidecar', image: 's1' },
        ],
      },
    };
    const patch = {
      metadata: { labels: { b: null, c: '3' }, '$deleteFromPrimitiveList/finalizers': ['x'] },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate' },
        '$setElementOrder/containers': [{ name: 'app' }],
        containers: [{ name: 'app', image: 'v2', env: [{ name: 'B', $patch: 'delete' }, { name: 'C', value: '3' }] }, { name: 'sidecar', $patch: 'delete' }],
      },
    };
    assert.deepEqual(strategicMerge(live, patch), {
      metadata: { labels: { a: '1', c: '3' }, finalizers: ['y'] },
      spec: {
        strategy: { type: 'Recreate' },
        containers: [{ name: 'app', image: 'v2', env: [{ name: 'A', value: '1' }, { name: 'C', value: '3' }], ports: [{ containerPort: 80 }] }],
      },
    });
  });

  it('serves kubectl-style Tables and JSON patches', async () => {
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 't1' }, data: { a: '1', b: '2' } });
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
    const table = (await (await api(`${CMS}/t1`, { headers: { Accept: accept } })).json()) as KubeObject;
    assert.equal(table.kind, 'Table');
    assert.deepEqual(table.rows[0].cells.slice(0, 2), ['t1', 2]);
    const ops = [{ op: 'test', path: '/data/a', value: '1' }, { op: 'remove', path: '/data/b' }];
    const res = await send('PATCH', `${CMS}/t1`, ops, 'application/json-patch+json');
    assert.equal(res.status, 200);
    assert.deepEqual(kube.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 't1')!.data, { a: '1' });
  });
});
