/**
 * The kubectl adapter and the job runner against the Kubernetes API double with real kubectl 1.33:
 * a Job cloned from a kagent-like Deployment runs in the fake kubelet with the Deployment's env
 * (the database URL from a Secret), its log streams to the runner's output, and it is deleted on
 * success and kept on failure. Also scaling a Deployment to 0 and back.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createKubectl, type Kubectl } from '../../src/adapters/kubectl.js';
import { StepFailedError, UsageError } from '../../src/core/errors.js';
import type { KubeObject, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createJobRunner } from '../../src/runners/job.js';
import { kubectl as kubectlBin } from '../harness/binaries.js';
import { requireDouble, startCluster, type Cluster } from '../harness/cluster.js';
import { makeTempDir, removeTempDirs } from '../harness/plugin.js';

const NS = 'ai';
const IMAGE = 'example/kagent:0.9.0';
const IMAGE_DIR = join(import.meta.dirname, '..', 'fixtures', 'images', 'kagent-migrate');
const URL_IN_SECRET = 'postgres://kagent:pw-in-secret@db.ai:5432/kagent';
const JOB = { apiVersion: 'batch/v1', kind: 'Job' };
const POD = { apiVersion: 'v1', kind: 'Pod' };

/** The controller as the kagent fixture chart renders it, plus an init container and a sidecar the Job must leave out. */
const controller: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'kagent-controller', namespace: NS },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'kagent' } },
    template: {
      metadata: { labels: { app: 'kagent' } },
      spec: {
        // Would fail the pod if it ran: proves init containers stay out of the Job.
        initContainers: [{ name: 'migrate-up', image: IMAGE, command: ['sh', '-c', 'echo init ran; exit 9'] }],
        containers: [
          {
            name: 'controller',
            image: IMAGE,
            args: ['serve'],
            env: [
              { name: 'POSTGRES_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'kagent-db', key: 'url' } } },
              { name: 'LOG_LEVEL', value: 'info' },
            ],
            readinessProbe: { httpGet: { path: '/readyz', port: 8083 } },
          },
          // Not in the image map: a pod running it waits in ImagePullBackOff.
          { name: 'log-shipper', image: 'fluent/fluent-bit:3.0' },
        ],
      },
    },
  },
};

const step = (command: string[]): TrackStep => ({
  track: 'core',
  tool: 'golang-migrate',
  table: { table: 'schema_migrations' },
  current: ['13'],
  target: '8',
  revisions: ['13', '12', '11', '10', '9'],
  command,
});

describe('job runner and kubectl adapter against the Kubernetes double', function () {
  this.timeout(60_000);
  let cluster: Cluster;
  let kube: Kubectl;
  let debug: string[];

  const context = (): RunnerContext & { output: string[] } => {
    const output: string[] = [];
    return { databaseUrl: 'postgres://not-passed-to-the-job', log: { debug: (m) => debug.push(m) }, onOutput: (l) => output.push(l), output };
  };

  before(async function () {
    cluster = await startCluster({ dir: makeTempDir('hsr-job-'), images: { [IMAGE]: IMAGE_DIR } });
    const double = requireDouble(this, cluster, 'runs the fixture image in the fake kubelet');
    double.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kagent-db', namespace: NS }, stringData: { url: URL_IN_SECRET } } as KubeObject);
    double.put(controller);
    debug = [];
    kube = createKubectl({ bin: kubectlBin, namespace: NS, env: { ...process.env, ...cluster.env }, log: { debug: (m) => debug.push(m) } });
  });

  after(async () => {
    await cluster?.close();
    removeTempDirs();
  });

  it('runs the down command with the workload\'s env from its Secret, streams the log, deletes the Job', async () => {
    const workload = await kube.get('deployment', 'kagent-controller');
    const ctx = context();
    await createJobRunner({ kube, workload, container: 'controller', release: 'kagent', namespace: NS }).run(step(['kagent', 'migrate', 'down', '--to', '8']), ctx);
    const [started, ...lines] = ctx.output;
    assert.match(started!, /^job\/kagent-schema-rollback-core-[a-z0-9]{5} started \(image example\/kagent:0\.9\.0\)$/);
    assert.deepEqual(lines, [
      'argv: migrate down --to 8',
      `POSTGRES_DATABASE_URL=${URL_IN_SECRET}`,
      'reverted core 13', 'reverted core 12', 'reverted core 11', 'reverted core 10', 'reverted core 9',
    ]);
    const double = cluster.double!;
    assert.deepEqual(double.list(JOB, { namespace: NS }), [], 'the Job is deleted');
    assert.deepEqual(double.list(POD, { namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=helm-schema-rollback' }), [], 'and its pod');
    assert.ok(debug.some((d) => /kubectl --namespace ai create -f - -o json$/.test(d)), debug.join('\n'));
    assert.ok(debug.some((d) => /logs -f job\/kagent-schema-rollback-core-\w+ --pod-running-timeout=600s$/.test(d)));
  });

  it('keeps a failed Job with its log, and the error names the commands to read and delete it', async () => {
    const workload = await kube.get('deployment', 'kagent-controller');
    const ctx = context();
    const err = await createJobRunner({ kube, workload, container: 'controller', release: 'kagent', namespace: NS, timeoutSeconds: 30 })
      .run(step(['kagent', 'migrate', 'down', '--to', '8', '--fail']), ctx)
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StepFailedError, String(err));
    const name = /^job\/(\S+) started/.exec(ctx.output[0]!)![1]!;
    assert.match(err.message, new RegExp(`^track core: down of 13\\.\\.9 failed: job/${name} failed \\(BackoffLimitExceeded: .*\\); last output: error: migration 13 down failed`));
    assert.equal(err.hint, `the Job is kept: read its output with "kubectl logs job/${name} -n ai", then remove it with "kubectl delete job ${name} -n ai"`);
    assert.ok(ctx.output.includes('reverting core 13'));
    const job = cluster.double!.get(JOB, name, NS)!;
    assert.equal((job.spec as any).activeDeadlineSeconds, 30);
    assert.equal((job.spec as any).template.spec.containers.length, 1);
    assert.equal((job.spec as any).template.spec.initContainers, undefined);
    const logs = await kube.run(['logs', `job/${name}`]);
    assert.match(logs, /error: migration 13 down failed/);
    await kube.deleteJob(name);
    assert.equal(cluster.double!.get(JOB, name, NS), undefined);
    await kube.deleteJob(name); // already gone: fine
  });

  it('reports a Job that fails to start (image not pullable) as a failed step, not a hang', async () => {
    const workload = await kube.get('deployment', 'kagent-controller');
    const ctx = context();
    const err = await createJobRunner({ kube, workload, container: 'log-shipper', release: 'kagent', namespace: NS, keepOnFailure: false })
      .run(step(['fluent-bit', '--version']), ctx)
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StepFailedError, String(err));
    assert.match(err.message, /never started: its image fluent\/fluent-bit:3\.0 cannot be pulled \((ErrImagePull|ImagePullBackOff): /);
    assert.deepEqual(cluster.double!.list(JOB, { namespace: NS }), [], 'deleted: it ran nothing, and would run once the image came');
  });

  it('scales a Deployment to 0 and back, and reads its replicas', async () => {
    const double = cluster.double!;
    const pods = () => double.list(POD, { namespace: NS, labelSelector: 'app=kagent' }).length;
    assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 2);
    await double.waitFor({ apiVersion: 'apps/v1', kind: 'Deployment' }, 'kagent-controller', NS, (d: any) => d.status?.readyReplicas === 2);
    assert.equal(pods(), 2);
    await kube.scale('deployment', 'kagent-controller', 0);
    assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 0);
    await double.waitFor({ apiVersion: 'apps/v1', kind: 'Deployment' }, 'kagent-controller', NS, () => pods() === 0);
    await kube.scale('deploy', 'kagent-controller', 2);
    assert.equal(await kube.getReplicas('deploy', 'kagent-controller'), 2);
    await double.waitFor({ apiVersion: 'apps/v1', kind: 'Deployment' }, 'kagent-controller', NS, () => pods() === 2);
    assert.ok(double.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/kagent-controller/scale')));
  });

  it('refuses to read replicas of a kind that has none, and names a missing workload', async () => {
    cluster.double!.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kagent-config', namespace: NS }, data: {} });
    await assert.rejects(kube.getReplicas('configmap', 'kagent-config'), (e: unknown) => e instanceof UsageError && /is a ConfigMap, which has no replicas/.test(e.message));
    await assert.rejects(kube.scale('deployment', 'absent', 0), /deployments.apps "absent" not found \(namespace "ai"\)/);
  });
});
