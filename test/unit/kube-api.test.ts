/**
 * The in-process Kubernetes client resolves the connection kubectl would make (kubeconfig merge,
 * Helm's --kube-* settings), or says why it cannot and leaves the run to kubectl and helm.
 */
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createKubeApi, kubeconfigPaths, parseKubeconfig, resolveKubeConnection, type KubeConnection } from '../../src/adapters/kube-api.js';
import { withKubeApi } from '../../src/adapters/kube-api-kubectl.js';
import type { Kubectl } from '../../src/adapters/kubectl.js';
import { ClusterError, PermissionDeniedError } from '../../src/core/errors.js';

const files = (map: Record<string, object>) => (file: string) => {
  const config = map[file];
  if (!config) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  return JSON.stringify(config);
};

function kubeconfig(opts: { current?: string; cluster?: object; user?: object; name?: string } = {}): object {
  const name = opts.name ?? 'one';
  return {
    clusters: [{ name, cluster: opts.cluster ?? { server: `https://${name}.example:6443` } }],
    users: [{ name, user: opts.user ?? { token: `token-${name}` } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    ...(opts.current === undefined ? {} : { 'current-context': opts.current }),
  };
}

const connection = (env: NodeJS.ProcessEnv, map: Record<string, object>): KubeConnection => {
  const r = resolveKubeConnection(env, files(map));
  assert.ok('connection' in r, `fell back: ${'fallback' in r ? r.fallback : ''}`);
  return r.connection;
};
const fallback = (env: NodeJS.ProcessEnv, map: Record<string, object>): string => {
  const r = resolveKubeConnection(env, files(map));
  assert.ok('fallback' in r, 'expected a fallback');
  return r.fallback;
};

describe('kube-api: the connection kubectl would make', () => {
  it('reads $KUBECONFIG as a list (missing files skipped), else ~/.kube/config', () => {
    assert.deepEqual(kubeconfigPaths({ KUBECONFIG: '/a:/b::/a', HOME: '/h' }), ['/a', '/b']);
    assert.deepEqual(kubeconfigPaths({ HOME: '/h' }), ['/h/.kube/config']);
  });

  it('merges files first-wins: current-context, and each context, cluster and user by name', () => {
    const env = { KUBECONFIG: '/missing:/a:/b' };
    const map = { '/a': kubeconfig({ current: 'two', name: 'one' }), '/b': { ...kubeconfig({ current: 'one', name: 'two' }), users: [{ name: 'one', user: { token: 'shadowed' } }, { name: 'two', user: { token: 'token-two' } }] } };
    const c = connection(env, map);
    assert.equal(c.context, 'two');
    assert.equal(c.server, 'https://two.example:6443');
    assert.deepEqual(c.auth, { type: 'token', token: 'token-two' });
    assert.deepEqual(connection({ ...env, HELM_KUBECONTEXT: 'one' }, map).auth, { type: 'token', token: 'token-one' }, 'the first file that names user "one" wins');
  });

  it("takes Helm's --kube-apiserver, --kube-token, --kube-as-user/--kube-as-group, --kube-tls-server-name over the kubeconfig", () => {
    const c = connection({ KUBECONFIG: '/a', HELM_KUBEAPISERVER: 'https://other:443/', HELM_KUBETOKEN: 'flag-token', HELM_KUBEASUSER: 'alice', HELM_KUBEASGROUPS: 'ops,dev', HELM_KUBETLS_SERVER_NAME: 'api.internal' }, { '/a': kubeconfig({ current: 'one' }) });
    assert.equal(c.server, 'https://other');
    assert.deepEqual(c.auth, { type: 'token', token: 'flag-token' });
    assert.deepEqual(c.impersonate, { user: 'alice', groups: ['ops', 'dev'] });
    assert.equal(c.tls.serverName, 'api.internal');
  });

  it('client certificates and CA from -data fields, basic auth, insecure-skip-tls-verify', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const c = connection({ KUBECONFIG: '/a' }, { '/a': kubeconfig({ current: 'one', cluster: { server: 'https://k:6443', 'certificate-authority-data': b64('CA') }, user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') } }) });
    assert.deepEqual([c.tls.ca?.toString(), c.tls.cert?.toString(), c.tls.key?.toString(), c.auth.type], ['CA', 'CERT', 'KEY', 'none']);
    const basic = connection({ KUBECONFIG: '/a' }, { '/a': kubeconfig({ current: 'one', cluster: { server: 'https://k', 'insecure-skip-tls-verify': true }, user: { username: 'u', password: 'p' } }) });
    assert.deepEqual([basic.auth, basic.tls.insecure], [{ type: 'basic', username: 'u', password: 'p' }, true]);
  });

  it('an exec credential plugin: its command relative to the kubeconfig that names it', () => {
    const c = connection({ KUBECONFIG: '/conf/a' }, { '/conf/a': kubeconfig({ current: 'one', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/cred', args: ['x'], interactiveMode: 'Never' } } }) });
    assert.equal(c.auth.type, 'exec');
    assert.equal(c.auth.type === 'exec' && c.auth.exec.command, '/conf/bin/cred');
  });

  it('falls back to kubectl for what it does not do, saying why', () => {
    const one = (user: object, cluster?: object) => ({ '/a': kubeconfig({ current: 'one', user, ...(cluster ? { cluster } : {}) }) });
    assert.match(fallback({ KUBECONFIG: '/a' }, one({ 'auth-provider': { name: 'oidc' } })), /auth-provider/);
    assert.match(fallback({ KUBECONFIG: '/a' }, one({ token: 't' }, { server: 'https://k', 'proxy-url': 'http://proxy:3128' })), /proxy-url/);
    assert.match(fallback({ KUBECONFIG: '/a', HTTPS_PROXY: 'http://proxy:3128' }, one({ token: 't' })), /proxy/);
    assert.match(fallback({ KUBECONFIG: '/a' }, one({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'c', interactiveMode: 'Always' } })), /terminal/);
    assert.match(fallback({ KUBECONFIG: '/a', HELM_KUBECONTEXT: 'nope' }, one({ token: 't' })), /context nope/);
    assert.match(fallback({ KUBECONFIG: '/a', HSR_KUBE_CLIENT: 'kubectl' }, one({ token: 't' })), /HSR_KUBE_CLIENT/);
    assert.match(fallback({ KUBECONFIG: '/a' }, one({ token: 't', username: 'u', password: 'p' })), /both/);
  });

  it('reads a kubeconfig written as YAML or as JSON to the same connection; a YAML flow mapping is still YAML', () => {
    const yamlText = [
      'apiVersion: v1',
      'current-context: one',
      'clusters: [{name: one, cluster: {server: "https://one.example:6443"}}]',
      'users:',
      '- name: one',
      '  user: {token: token-one}',
      'contexts:',
      '- {name: one, context: {cluster: one, user: one}}',
    ].join('\n');
    const fromYaml = resolveKubeConnection({ KUBECONFIG: '/y' }, () => yamlText);
    const fromJson = resolveKubeConnection({ KUBECONFIG: '/j' }, () => `  ${JSON.stringify(parseKubeconfig(yamlText), null, 2)}\n`);
    assert.ok('connection' in fromYaml && 'connection' in fromJson);
    assert.deepEqual(fromJson, fromYaml);
    assert.equal(fromJson.connection.server, 'https://one.example:6443');
    // Starts with "{" yet is not JSON: the YAML parser reads it.
    assert.deepEqual(parseKubeconfig('{current-context: one, clusters: []}'), { 'current-context': 'one', clusters: [] });
    assert.match(fallback({ KUBECONFIG: '/a' }, {}), /no kube context/);
    const broken = resolveKubeConnection({ KUBECONFIG: '/b' }, () => '{"clusters": [');
    assert.ok('fallback' in broken && /does not parse/.test(broken.fallback), 'a broken JSON kubeconfig is reported as the YAML parser sees it');
  });

  it('a loopback server is never proxied', () => {
    const c = connection({ KUBECONFIG: '/a', HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'http://proxy:3128' }, { '/a': kubeconfig({ current: 'one', cluster: { server: 'http://127.0.0.1:8080' } }) });
    assert.equal(c.server, 'http://127.0.0.1:8080');
  });
});

describe('kube-api: requests', () => {
  let server: http.Server;
  let seen: Array<{ method: string; url: string; auth?: string; impersonate?: string | string[] }>;
  let answer: (req: http.IncomingMessage) => { status: number; body: object };
  const quiet = { debug: () => undefined };
  const base = (): KubeConnection => ({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, context: 'c', tls: { insecure: false }, auth: { type: 'none' } });

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, impersonate: req.headers['impersonate-group'] });
      const a = answer(req);
      res.writeHead(a.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(a.body));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  });
  beforeEach(() => {
    seen = [];
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));

  it("an exec plugin's token is kept until it expires, and fetched again after a 401", async () => {
    let runs = 0;
    const tokens = ['first', 'second'];
    let refuse = false;
    answer = (req) => (refuse && req.headers.authorization === 'Bearer first' ? { status: 401, body: { kind: 'Status', message: 'Unauthorized' } } : { status: 200, body: { kind: 'Namespace' } });
    const api = createKubeApi({ ...base(), auth: { type: 'exec', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'cred', args: [], env: [], provideClusterInfo: false }, cluster: { server: 'x' } } }, quiet, async (_exec, info) => {
      assert.equal(JSON.parse(info).kind, 'ExecCredential');
      return JSON.stringify({ status: { token: tokens[runs++], expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } });
    });
    await api.json('GET', '/api/v1/namespaces/a');
    await api.json('GET', '/api/v1/namespaces/b');
    assert.equal(runs, 1, 'one plugin run for two requests');
    refuse = true;
    await api.json('GET', '/api/v1/namespaces/c');
    assert.equal(runs, 2);
    assert.deepEqual(seen.map((s) => s.auth), ['Bearer first', 'Bearer first', 'Bearer first', 'Bearer second']);
  });

  it('impersonation headers; 404 and 403 answers become the errors the kubectl path raises', async () => {
    const api = createKubeApi({ ...base(), auth: { type: 'token', token: 't' }, impersonate: { user: 'alice', groups: ['ops', 'dev'] } }, quiet, () => Promise.reject(new Error('no exec')));
    answer = () => ({ status: 404, body: { kind: 'Status', reason: 'NotFound', message: 'deployments.apps "web" not found' } });
    await assert.rejects(api.json('GET', '/apis/apps/v1/namespaces/ai/deployments/web', { namespace: 'ai' }), (err: Error) => err instanceof ClusterError && err.message === 'deployments.apps "web" not found (namespace "ai")');
    assert.equal(seen[0]!.impersonate, 'ops, dev', 'one Impersonate-Group header per group');
    answer = () => ({ status: 403, body: { kind: 'Status', reason: 'Forbidden', message: 'secrets "db" is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "ai"' } });
    await assert.rejects(api.json('GET', '/api/v1/namespaces/ai/secrets/db', { namespace: 'ai' }), (err: Error) => err instanceof PermissionDeniedError && /secrets/.test(err.message) && /db/.test(err.message));
  });

  it('a server that does not answer is a ClusterError naming the server', async () => {
    const api = createKubeApi({ ...base(), server: 'http://127.0.0.1:1' }, quiet, () => Promise.reject(new Error('no exec')));
    await assert.rejects(api.json('GET', '/version'), (err: Error) => err instanceof ClusterError && /127\.0\.0\.1:1/.test(err.message));
  });
});

describe('kube-api: the writes of a run (scale, the run record\'s removal) as kubectl sends them', () => {
  let server: http.Server;
  let seen: Array<{ method: string; url: string; type?: string; body: string }>;
  let status: (req: http.IncomingMessage) => number;
  const byKubectl: string[] = [];
  // What the API client does not answer goes to kubectl: recorded here instead of run.
  const kubectl = {
    scale: async (kind: string, name: string, replicas: number) => void byKubectl.push(`scale ${kind}/${name} ${replicas}`),
    deleteIfPresent: async (kind: string, name: string) => void byKubectl.push(`delete ${kind}/${name}`),
  } as unknown as Kubectl;
  const kube = () => withKubeApi(kubectl, createKubeApi({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, context: 'c', tls: { insecure: false }, auth: { type: 'none' } }, { debug: () => undefined }, () => Promise.reject(new Error('no exec'))), { namespace: 'ai' });

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body });
        const code = status(req);
        const answer = code === 404 ? { kind: 'Status', reason: 'NotFound', message: 'deployments.apps "web" not found' }
          : code === 403 ? { kind: 'Status', reason: 'Forbidden', message: 'deployments.apps "web" is forbidden: User "u" cannot patch resource "deployments/scale" in API group "apps" in the namespace "ai"' }
          : { kind: 'Scale' };
        res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  });
  beforeEach(() => {
    seen = [];
    byKubectl.length = 0;
    status = () => 200;
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));

  it("scale: a merge patch of the scale subresource's spec.replicas; a missing or forbidden workload is the error kubectl's path raises; a DaemonSet goes to kubectl", async () => {
    await kube().scale('deployment', 'web', 0);
    await kube().scale('statefulsets.apps', 'db', 3);
    assert.deepEqual(seen, [
      { method: 'PATCH', url: '/apis/apps/v1/namespaces/ai/deployments/web/scale', type: 'application/merge-patch+json', body: '{"spec":{"replicas":0}}' },
      { method: 'PATCH', url: '/apis/apps/v1/namespaces/ai/statefulsets/db/scale', type: 'application/merge-patch+json', body: '{"spec":{"replicas":3}}' },
    ]);
    await assert.rejects(kube().scale('deployment', 'web', -1), RangeError);
    status = () => 404;
    await assert.rejects(kube().scale('deployment', 'web', 0), (err: Error) => err instanceof ClusterError && err.message === 'deployments.apps "web" not found (namespace "ai")');
    status = () => 403;
    await assert.rejects(kube().scale('deployment', 'web', 0), (err: Error) => err instanceof PermissionDeniedError && /deployments\/scale/.test(err.message));
    await kube().scale('daemonset', 'agent', 0);
    await kube().scale('widget', 'w', 0);
    assert.deepEqual(byKubectl, ['scale daemonset/agent 0', 'scale widget/w 0']);
  });

  it('the run record removed with one DELETE; one already gone is no error; a refusal is', async () => {
    await kube().deleteIfPresent('configmap', 'kagent-schema-rollback-run');
    status = () => 404;
    await kube().deleteIfPresent('configmap', 'kagent-schema-rollback-run');
    assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), Array(2).fill('DELETE /api/v1/namespaces/ai/configmaps/kagent-schema-rollback-run'));
    status = () => 403;
    await assert.rejects(kube().deleteIfPresent('configmap', 'kagent-schema-rollback-run'));
    await kube().deleteIfPresent('widget', 'w');
    assert.deepEqual(byKubectl, ['delete widget/w']);
  });
});

describe('kube-api: TLS as kubectl does it (CA, client certificate, tls-server-name, insecure-skip-tls-verify)', function () {
  this.timeout(20_000);
  let dir: string;
  let server: https.Server;
  let port: number;
  const pem = (name: string) => readFileSync(join(dir, name));
  const quiet = { debug: () => undefined };
  const conn = (tls: KubeConnection['tls']): KubeConnection => ({ server: `https://127.0.0.1:${port}`, context: 'c', tls, auth: { type: 'none' } });
  const noExec = () => Promise.reject(new Error('no exec'));

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'hsr-kube-tls-'));
    const ssl = (args: string) => execSync(`openssl ${args}`, { cwd: dir, stdio: 'pipe' });
    try {
      ssl('req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca');
      // The server's name is api.internal only: reaching it as 127.0.0.1 needs tls-server-name.
      ssl('req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=api.internal');
      writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:api.internal\n');
      ssl('x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.ext');
      ssl('req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=alice');
      ssl('x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1');
    } catch (err) {
      console.log(`      skipped: openssl cannot make test certificates (${(err as Error).message.split('\n')[0]})`);
      this.skip();
    }
    server = https.createServer({ key: pem('server.key'), cert: pem('server.crt'), ca: pem('ca.crt'), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ user: peer?.subject?.CN ?? null }));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the server against the CA under its tls-server-name, and presents the client certificate', async () => {
    const api = createKubeApi(conn({ insecure: false, ca: pem('ca.crt'), serverName: 'api.internal', cert: pem('client.crt'), key: pem('client.key') }), quiet, noExec);
    assert.deepEqual(await api.json('GET', '/version'), { user: 'alice' });
  });

  it('refuses a server whose certificate does not name the address, as kubectl does', async () => {
    const api = createKubeApi(conn({ insecure: false, ca: pem('ca.crt') }), quiet, noExec);
    await assert.rejects(api.json('GET', '/version'), ClusterError);
  });

  it('insecure-skip-tls-verify: no CA, no name check', async () => {
    const api = createKubeApi(conn({ insecure: true }), quiet, noExec);
    assert.deepEqual(await api.json('GET', '/version'), { user: null });
  });
});
