/**
 * A workload read with the Secrets and ConfigMaps it named last time, in one kubectl call (issue 12):
 * the live workload stays the truth, a joint read that fails falls back to reading it alone, and
 * what was read ahead is handed out once. kubectl is a double that records its calls; the name
 * lists live in a temporary HELM_CACHE_HOME.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { namedObjects, withWorkloadPrefetch } from '../../src/adapters/workload-prefetch.js';
import { ClusterError } from '../../src/core/errors.js';
import type { KubeObject } from '../../src/core/ports.js';

const deployment = (secret: string): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app' },
  spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: secret, key: 'url' } } }], envFrom: [{ configMapRef: { name: 'settings' } }] }] } } },
});
const secret = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { url: Buffer.from(`postgres://${name}`).toString('base64') } });

describe('workload read with the objects it names (one kubectl call)', () => {
  let home: string;
  let calls: string[];
  let live: { secretName: string; forbidden: Set<string> };
  const log = { debug: () => undefined };
  const kubectl = () => ({
    async run(args: string[]) {
      calls.push(`run ${args.join(' ')}`);
      return '';
    },
    async get(kind: string, name: string): Promise<KubeObject> {
      calls.push(`get ${kind}/${name}`);
      if (kind === 'deployment') return deployment(live.secretName);
      if (kind === 'secret') return secret(name);
      return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: {} };
    },
    async getObjects(refs: ReadonlyArray<{ kind: string; name: string }>): Promise<KubeObject[]> {
      calls.push(`get ${refs.map((r) => `${r.kind}/${r.name}`).join(' ')}`);
      const denied = refs.find((r) => live.forbidden.has(r.name));
      if (denied) throw new ClusterError(`secrets "${denied.name}" is forbidden`);
      return refs.map((r) => (r.kind === 'deployment' ? deployment(live.secretName) : r.kind === 'secret' ? secret(r.name) : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: r.name }, data: {} }));
    },
  });
  const kube = () => withWorkloadPrefetch(kubectl(), { namespace: 'ai', env: { HELM_CACHE_HOME: home }, log, helmSetting: async () => home });

  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'hsr-workload-refs-'));
    calls = [];
    live = { secretName: 'db', forbidden: new Set() };
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('names each Secret and ConfigMap of env and envFrom once, in order', () => {
    assert.deepEqual(namedObjects(deployment('db')), [{ kind: 'secret', name: 'db' }, { kind: 'configmap', name: 'settings' }]);
  });

  it('reads alone the first time; the next run reads the workload and what it named in one call, each handed out once', async () => {
    const first = kube();
    await first.get('deployment', 'app');
    await first.get('secret', 'db');
    assert.deepEqual(calls, ['get deployment/app', 'get secret/db']);

    calls = [];
    const next = kube();
    const [a, b] = await Promise.all([next.get('deployment', 'app'), next.get('deployment', 'app')]);
    assert.equal(a, b);
    assert.equal(Buffer.from(String((await next.get('secret', 'db')).data!['url']), 'base64').toString(), 'postgres://db');
    await next.get('configmap', 'settings');
    await next.get('secret', 'db');
    assert.deepEqual(calls, ['get deployment/app secret/db configmap/settings', 'get secret/db']);
  });

  it('a workload that names another Secret now: the live one is read, and the names are learnt again', async () => {
    await kube().get('deployment', 'app');
    live.secretName = 'db-v2';
    calls = [];
    const next = kube();
    await next.get('deployment', 'app');
    await next.get('secret', 'db-v2');
    assert.deepEqual(calls, ['get deployment/app secret/db configmap/settings', 'get secret/db-v2']);
    calls = [];
    await kube().get('deployment', 'app');
    assert.deepEqual(calls, ['get deployment/app secret/db-v2 configmap/settings']);
  });

  it('a joint read that fails (a named Secret forbidden) reads the workload alone, and alone again until its names change', async () => {
    await kube().get('deployment', 'app');
    live.forbidden.add('db');
    calls = [];
    assert.equal((await kube().get('deployment', 'app')).kind, 'Deployment');
    await kube().get('deployment', 'app');
    assert.deepEqual(calls, ['get deployment/app secret/db configmap/settings', 'get deployment/app', 'get deployment/app']);
    live.secretName = 'db-v2';
    live.forbidden.clear();
    calls = [];
    await kube().get('deployment', 'app');
    await kube().get('deployment', 'app');
    assert.deepEqual(calls, ['get deployment/app', 'get deployment/app secret/db-v2 configmap/settings']);
  });
});
