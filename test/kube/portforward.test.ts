/**
 * Real kubectl 1.33 `port-forward` against the double, to a real PostgreSQL: through the
 * WebSocket tunnel (the default) and the plain SPDY/3.1 upgrade (its fallback), to a Service (a
 * named targetPort resolved by kubectl) and to a pod, several connections at once, and a port
 * that leads nowhere.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { kubectl } from '../harness/binaries.js';
import { freshDatabase, type FreshDatabase } from '../harness/postgres.js';
import { cleanEnv, tempDir, type TempDir } from './helpers.js';
import { FORWARD_ANNOTATION_PREFIX, startKubeDouble, type KubeDouble, type KubeObject } from './index.js';

const NS = 'ai';

interface Forward {
  port: number;
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with kubectl's exit code. */
  exited: Promise<number | null>;
}

/** `kubectl port-forward ARGS`, resolved once kubectl says where it listens. */
function portForward(env: NodeJS.ProcessEnv, args: string[]): Promise<Forward> {
  const child = spawn(kubectl, ['-n', NS, 'port-forward', ...args, '--address', '127.0.0.1'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubectl port-forward did not start:\n${stdout}${stderr}`)), 20_000);
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child, stderr: () => stderr, exited });
      }
    });
    void exited.then((code) => reject(new Error(`kubectl port-forward exited ${code}:\n${stdout}${stderr}`)));
  });
}

async function stop(f: Forward | undefined): Promise<void> {
  if (!f || f.child.exitCode !== null) return;
  f.child.kill('SIGINT');
  await f.exited;
}

/** The URL with host:port replaced by the local end of the forward. */
function through(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.href;
}

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('kube double: kubectl port-forward', function () {
  this.timeout(60_000);
  let tmp: TempDir;
  let kube: KubeDouble;
  let db: FreshDatabase;
  let env: NodeJS.ProcessEnv;
  let forward: Forward | undefined;

  before(async () => {
    tmp = tempDir('kube-portforward-');
    [kube, db] = await Promise.all([startKubeDouble({ dir: tmp.path }), freshDatabase(17)]);
    env = cleanEnv(kube.env);
    const real = new URL(db.url);
    // A database StatefulSet as charts ship it; its pod's port 5432 leads to the embedded PostgreSQL.
    kube.put<KubeObject>({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' }, annotations: { [`${FORWARD_ANNOTATION_PREFIX}5432`]: `${real.hostname}:${real.port}` } },
          spec: { containers: [{ name: 'postgres', image: 'postgres:17', ports: [{ name: 'postgres', containerPort: 5432 }] }] },
        },
      },
    });
    kube.put<KubeObject>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: NS },
      spec: { selector: { app: 'db' }, ports: [{ name: 'sql', port: 15432, targetPort: 'postgres' }] },
    });
    // A bare pod whose image the fake kubelet does not know: it stays Pending in ImagePullBackOff.
    kube.put<KubeObject>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unpulled', namespace: NS }, spec: { containers: [{ name: 'c', image: 'unknown:1' }] } });
    await kube.waitFor({ apiVersion: 'v1', kind: 'Pod' }, 'db-0', NS, (p) => p.status?.phase === 'Running');
  });

  afterEach(async () => {
    await stop(forward);
    forward = undefined;
  });

  after(async () => {
    await kube?.close();
    await db?.drop();
    tmp?.remove();
  });

  it('forwards svc/NAME (kubectl maps the Service port to the named targetPort) through the WebSocket tunnel', async () => {
    kube.requests.length = 0;
    forward = await portForward(env, ['svc/db', ':15432']);
    const url = through(db.url, forward.port);
    const rows = await Promise.all([1, 2, 3].map((n) => query(url, `SELECT current_database() AS db, ${n} AS n`)));
    assert.deepEqual(rows.map((r) => r[0]), [1, 2, 3].map((n) => ({ db: db.name, n })));
    // A bigger answer than one TCP read, to check the data frames arrive whole and in order.
    const [big] = await query(url, "SELECT repeat('x', 200000) AS s");
    assert.equal((big!.s as string).length, 200_000);
    const calls = kube.requests.filter((r) => r.path.includes('/namespaces/')).map((r) => `${r.method} ${r.path}${r.query.labelSelector ? `?labelSelector=${r.query.labelSelector}` : ''} ${r.status}`);
    assert.deepEqual(calls, [
      `GET /api/v1/namespaces/${NS}/services/db 200`,
      `GET /api/v1/namespaces/${NS}/pods?labelSelector=app=db 200`,
      `GET /api/v1/namespaces/${NS}/pods/db-0 200`,
      `GET /api/v1/namespaces/${NS}/pods/db-0/portforward 101`,
    ]);
    assert.doesNotMatch(forward.stderr(), /error/i);
  });

  it('forwards pod/NAME over plain SPDY/3.1 when the WebSocket tunnel is turned off', async () => {
    kube.requests.length = 0;
    forward = await portForward({ ...env, KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, ['pod/db-0', ':5432']);
    const [row] = await query(through(db.url, forward.port), 'SELECT 41 + 1 AS answer');
    assert.equal(row!.answer, 42);
    assert.ok(kube.requests.some((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/${NS}/pods/db-0/portforward` && r.status === 101));
    assert.ok(!kube.requests.some((r) => r.method === 'GET' && r.path.endsWith('/portforward')));
  });

  it('reports a pod port that leads nowhere on the error stream, as kubelet does', async () => {
    forward = await portForward(env, ['pod/db-0', ':5433']);
    const client = new pg.Client({ connectionString: through(db.url, forward.port), connectionTimeoutMillis: 5000 });
    await assert.rejects(client.connect());
    await client.end().catch(() => undefined);
    // kubectl gives up the whole session after an error on the error stream.
    assert.equal(await forward.exited, 1);
    assert.match(forward.stderr(), /error forwarding port 5433 to pod db-0, uid [-0-9a-f]+: failed to connect to localhost:5433 inside the pod/);
  });

  it('refuses a pod that is not running, and a Service whose pods are missing', async () => {
    kube.put<KubeObject>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'empty', namespace: NS }, spec: { selector: { app: 'none' }, ports: [{ port: 5432 }] } });
    const missing = await portForward(env, ['svc/empty', ':5432', '--pod-running-timeout=1s']).catch((err: Error) => err);
    assert.ok(missing instanceof Error);
    assert.match(missing.message, /timed out waiting for the condition|no pods/i);
    await kube.waitFor({ apiVersion: 'v1', kind: 'Pod' }, 'unpulled', NS, (p) => p.status?.phase === 'Pending');
    const pending = await portForward(env, ['pod/unpulled', ':5432']).catch((err: Error) => err);
    assert.ok(pending instanceof Error);
    assert.match(pending.message, /unable to forward port because pod is not running\. Current status=Pending/);
  });
});
