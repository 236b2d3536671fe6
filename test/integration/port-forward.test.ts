/**
 * The port-forward adapter with real kubectl 1.33 against the Kubernetes API double, to a real
 * PostgreSQL 17 behind an in-cluster Service: kubectl is started with the plugin's flags, its local
 * port read from its output, PostgreSQL reached through it with the URL's credentials, and kubectl
 * stopped afterwards. Also the whole route (direct first, then the forward) with the real connector.
 */
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { createPortForwarder, kubectlComplaint } from '../../src/adapters/port-forward.js';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { openDatabase, rewriteHostPort } from '../../src/core/database-route.js';
import { DatabaseUnreachableError } from '../../src/core/errors.js';
import type { KubeObject, PortForwardPort } from '../../src/core/ports.js';
import { kubectl as kubectlBin } from '../harness/binaries.js';
import { requireDouble, startCluster, type Cluster } from '../harness/cluster.js';
import { makeTempDir, removeTempDirs } from '../harness/plugin.js';
import { freshDatabase, type FreshDatabase } from '../harness/postgres.js';
import { FORWARD_ANNOTATION_PREFIX } from '../kube/index.js';

const NS = 'ai';

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

describe('port-forward adapter: real kubectl, the double, real PostgreSQL', function () {
  this.timeout(60_000);
  let cluster: Cluster;
  let db: FreshDatabase;
  let debug: string[];
  let forwarder: PortForwardPort;
  /** The database's URL as the application in the cluster would have it. */
  let inCluster: string;

  before(async function () {
    [cluster, db] = await Promise.all([startCluster({ dir: makeTempDir('hsr-pf-') }), freshDatabase(17)]);
    const double = requireDouble(this, cluster, 'the double forwards the pod port to the local PostgreSQL');
    const real = new URL(db.url);
    double.put<KubeObject>({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'kagent-postgres', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'kagent-postgres' } },
        template: {
          metadata: { labels: { app: 'kagent-postgres' }, annotations: { [`${FORWARD_ANNOTATION_PREFIX}5432`]: `127.0.0.1:${real.port}` } },
          spec: { containers: [{ name: 'postgres', image: 'postgres:17', ports: [{ containerPort: 5432 }] }] },
        },
      },
    } as KubeObject);
    double.put<KubeObject>({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kagent-postgres', namespace: NS },
      spec: { selector: { app: 'kagent-postgres' }, ports: [{ port: 5432 }] },
    } as KubeObject);
    await double.waitFor({ apiVersion: 'v1', kind: 'Pod' }, 'kagent-postgres-0', NS, (p) => p.status?.phase === 'Running');
    real.hostname = 'kagent-postgres.ai.svc.cluster.local';
    real.port = '5432';
    inCluster = real.href;
    debug = [];
    forwarder = createPortForwarder({ bin: kubectlBin, env: { ...process.env, ...cluster.env }, log: { debug: (m) => debug.push(m) } });
  });

  after(async () => {
    await cluster?.close();
    await db?.drop();
    removeTempDirs();
  });

  it('starts kubectl port-forward svc/NAME :PORT, reads the local port, and stops kubectl on close', async () => {
    const tunnel = await forwarder.open({ resource: 'svc/kagent-postgres', namespace: NS, port: 5432 });
    const session = await createPostgresConnector().connect(rewriteHostPort(db.url, '127.0.0.1', tunnel.localPort));
    try {
      const { rows } = await session.query<{ db: string }>('SELECT current_database() AS db');
      assert.deepEqual(rows, [{ db: db.name }]);
    } finally {
      await session.close();
    }
    await tunnel.close();
    assert.equal(await listening(tunnel.localPort), false, 'kubectl is gone');
    assert.ok(debug.some((d) => /^exec: \S*kubectl --namespace ai port-forward svc\/kagent-postgres :5432 --address 127\.0\.0\.1 --pod-running-timeout=20s$/.test(d)), debug.join('\n'));
    assert.ok(debug.some((d) => d === `kubectl port-forward to svc/kagent-postgres port 5432 (namespace ai): listening on 127.0.0.1:${tunnel.localPort}`));
  });

  it('reaches the in-cluster URL through the forward, with its credentials, and never logs the password', async () => {
    debug = [];
    const deps = { connector: createPostgresConnector(), forwarder, log: { debug: (m: string) => debug.push(m) } };
    const route = await openDatabase(deps, inCluster, { mode: 'auto', namespace: 'default' });
    try {
      assert.equal(route.via, 'kubectl port-forward to svc/kagent-postgres port 5432 (namespace ai)');
      assert.match(route.url, /^postgres:\/\/[^@]+@127\.0\.0\.1:\d+\//);
      assert.equal(new URL(route.url).password, new URL(db.url).password);
      const { rows } = await route.session.query<{ n: number }>('SELECT 1 AS n');
      assert.deepEqual(rows, [{ n: 1 }]);
      // The runner and the checks connect again with the forwarded URL while the forward is up.
      const again = await deps.connector.connect(route.url);
      await again.close();
    } finally {
      await route.session.close();
      await route.close();
    }
    const password = new URL(db.url).password;
    for (const line of debug) assert.ok(!line.includes(password) && !line.includes(decodeURIComponent(password)), line);
    assert.ok(debug.some((d) => /no direct connection to kagent-postgres\.ai\.svc\.cluster\.local:5432 \(dns\)/.test(d)), debug.join('\n'));
  });

  it('fails with what kubectl said when the Service does not exist', async () => {
    const err = await forwarder.open({ resource: 'svc/nope', namespace: NS, port: 5432 }).catch((e: unknown) => e);
    assert.ok(err instanceof DatabaseUnreachableError, String(err));
    assert.match(err.message, /^kubectl port-forward to svc\/nope port 5432 \(namespace ai\) failed: .*services "nope" not found/);
  });

  it('reads klog lines for their err= part', () => {
    const line = 'E1122 01:22:41.771842   12809 portforward.go:424] "Unhandled Error" err="an error occurred forwarding 41234 -> 5432: error forwarding port 5432 to pod db-0, uid x: failed to connect to \\"db\\""';
    assert.equal(kubectlComplaint(line), 'an error occurred forwarding 41234 -> 5432: error forwarding port 5432 to pod db-0, uid x: failed to connect to "db"');
    assert.equal(kubectlComplaint('error: unable to forward port because pod is not running. Current status=Pending'), 'unable to forward port because pod is not running. Current status=Pending');
  });
});
