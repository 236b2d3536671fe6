/**
 * A database that answers only inside the cluster, end to end: the release's Secret holds
 * `postgres://USER:PASS@kagent-postgres.ai.svc.cluster.local:5432/DB`, which does not resolve where
 * helm runs. The double serves a Service kagent-postgres and its StatefulSet pod, whose port 5432
 * leads to the embedded PostgreSQL; the plugin (real Helm 3.17 / 4.1) fails to connect directly,
 * starts real kubectl port-forward to the Service, and reads (and rolls back) through it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { requireDouble } from '../harness/cluster.js';
import { migrateUp, readTrack } from '../harness/golang-migrate-up.js';
import { helmVersions, kubectl, repoRoot, run, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import type { FreshDatabase } from '../harness/postgres.js';
import { startWorld, type World } from '../harness/world.js';
import { FORWARD_ANNOTATION_PREFIX } from '../kube/index.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');
const HOST = 'kagent-postgres.ai.svc.cluster.local';

/** The Service and the StatefulSet a chart's PostgreSQL dependency would create; the pod's port 5432 is the embedded server's. */
function postgresObjects(realPort: string): object[] {
  const labels = { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'kagent-postgres' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kagent-postgres', namespace: NS },
      spec: { selector: labels, ports: [{ name: 'tcp-postgresql', port: 5432, targetPort: 'tcp-postgresql' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'kagent-postgres', namespace: NS },
      spec: {
        serviceName: 'kagent-postgres',
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { [`${FORWARD_ANNOTATION_PREFIX}5432`]: `127.0.0.1:${realPort}` } },
          spec: { containers: [{ name: 'postgresql', image: 'bitnami/postgresql:17', ports: [{ name: 'tcp-postgresql', containerPort: 5432 }] }] },
        },
      },
    },
  ];
}

async function versionRows(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: string[] = [];
    for (const t of ['schema_migrations', 'vector_schema_migrations']) {
      const { rows } = await client.query<{ version: string; dirty: boolean }>(`SELECT version, dirty FROM ${t}`);
      out.push(rows.map((r) => `${r.version}${r.dirty ? ' dirty' : ''}`).join(','));
    }
    return out;
  } finally {
    await client.end();
  }
}

for (const helm of helmVersions) {
  describe(`e2e in-cluster database through kubectl port-forward, ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let db: FreshDatabase;
    let plugin: InstalledPlugin;
    let password: string;
    const sr = (args: string[], global: string[] = []): Promise<RunResult> =>
      plugin.helm([...global, '-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
    const noPassword = (r: RunResult) => {
      for (const text of [r.stdout, r.stderr]) {
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), 'the password was printed');
      }
    };

    before(async function () {
      world = await startWorld(helm.bin, 'hsr-portforward-');
      requireDouble(this, world.cluster, 'the double forwards the pod port to the local PostgreSQL');
      ({ db, plugin } = world);
      const real = new URL(db.url);
      password = decodeURIComponent(real.password);
      const inCluster = new URL(db.url);
      inCluster.hostname = HOST;
      inCluster.port = '5432';
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--create-namespace', '--set', `database.url=${inCluster.href}`]);
      const applied = await run(kubectl, ['-n', NS, 'apply', '-f', '-'], { env: plugin.env, input: postgresObjects(real.port).map((o) => JSON.stringify(o)).join('\n---\n') });
      assert.equal(applied.exitCode, 0, applied.stderr);
      await world.cluster.double!.waitFor({ apiVersion: 'v1', kind: 'Pod' }, 'kagent-postgres-0', NS, (p) => p.status?.phase === 'Running');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await migrateUp(client, 'schema_migrations', readTrack(join(SOURCE, 'core')));
        await migrateUp(client, 'vector_schema_migrations', readTrack(join(SOURCE, 'vector')));
      } finally {
        await client.end();
      }
    });

    after(async () => {
      await world?.close();
    });

    it('status connects through kubectl port-forward to the Service the URL names, with Helm\'s kube flags', async () => {
      const r = await sr(['status', 'kagent'], ['--debug', '--kube-context', 'double']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Database reached through kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\)$/m);
      assert.match(r.stdout, /^core\s+golang-migrate\s+schema_migrations\s+13\s+13\s+no\s+yes$/m);
      assert.match(r.stdout, /^vector\s+golang-migrate\s+vector_schema_migrations\s+3\s+3\s+no\s+yes$/m);
      assert.match(r.stderr, /debug: database: no direct connection to kagent-postgres\.ai\.svc\.cluster\.local:5432 \(dns\); trying kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\)/);
      assert.match(r.stderr, /debug: exec: \S*kubectl --context double --namespace ai port-forward svc\/kagent-postgres :5432 --address 127\.0\.0\.1 --pod-running-timeout=20s\n/);
      assert.match(r.stderr, /debug: database: connected through kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\), local port \d+/);
      noPassword(r);
      // kubectl went away with the plugin: the double saw the tunnel close.
      const tunnels = world.cluster.double!.requests.filter((q) => q.path === `/api/v1/namespaces/${NS}/pods/kagent-postgres-0/portforward`);
      assert.deepEqual(tunnels.map((q) => [q.method, q.status]), [['GET', 101]]);
      const json = JSON.parse((await sr(['status', 'kagent', '-o', 'json'])).stdout);
      assert.equal(json.databaseRoute, 'kubectl port-forward to svc/kagent-postgres port 5432 (namespace ai)');
    });

    it('--port-forward never fails as the direct connection does (exit 8), with a hint naming --port-forward', async () => {
      const r = await sr(['status', 'kagent', '--port-forward', 'never']);
      assert.equal(r.exitCode, 8, r.stderr);
      assert.match(r.stderr, /cannot resolve the database host "kagent-postgres\.ai\.svc\.cluster\.local"/);
      assert.match(r.stderr, /drop --port-forward never/);
      noPassword(r);
    });

    it('--port-forward-target names what to forward to when the host names nothing in the cluster', async () => {
      const elsewhere = new URL(db.url);
      elsewhere.hostname = 'db.internal.example.com';
      const r = await plugin.helm(['-n', NS, 'schema-rollback', 'status', 'kagent', '--port-forward-target', 'sts/kagent-postgres:5432', '-o', 'json'], {
        env: { ...plugin.env, SCHEMA_ROLLBACK_DATABASE_URL: elsewhere.href },
      });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).databaseRoute, 'kubectl port-forward to statefulset/kagent-postgres port 5432 (namespace ai)');
      noPassword(r);
    });

    it('rolls back with the native runner through the forward: plan reads, downs and checks all use it', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^Database reached through kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\)$/m);
      assert.match(r.stderr, /track core: verified at 8/);
      noPassword(r);
      assert.deepEqual(await versionRows(db.url), ['8', '1']);
      const meta = JSON.parse((await plugin.helm(['get', 'metadata', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(meta.version, '0.8.0');
    });
  });
}
