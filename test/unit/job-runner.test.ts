/**
 * The job runner without a cluster: the Job cloned from a realistic Deployment (exactly what is
 * kept and what is dropped), its name, and the runner's success/failure handling against a fake
 * KubeJobPort.
 */
import assert from 'node:assert/strict';
import { InterruptedError, RefusedError, StepFailedError, UsageError } from '../../src/core/errors.js';
import type { JobOutcome, KubeJobPort, KubeObject, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createJobRunner, jobFromWorkload, jobName } from '../../src/runners/job.js';

const step: TrackStep = {
  track: 'core',
  tool: 'golang-migrate',
  table: { table: 'schema_migrations' },
  current: ['13'],
  target: '8',
  revisions: ['13', '12', '11', '10', '9'],
  command: ['/app/kagent', 'migrate', 'down', '--to', '8'],
};

/** A Deployment the way real charts write them: probes, ports, a mesh-less sidecar, init containers, several volumes. */
function deployment(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'kagent-controller', namespace: 'ai', labels: { 'app.kubernetes.io/name': 'kagent' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kagent' } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'kagent' }, annotations: { 'checksum/config': 'abc', 'prometheus.io/scrape': 'true' } },
        spec: {
          serviceAccountName: 'kagent',
          securityContext: { runAsNonRoot: true, fsGroup: 2000 },
          imagePullSecrets: [{ name: 'regcred' }],
          nodeSelector: { 'kubernetes.io/arch': 'amd64' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ai', effect: 'NoSchedule' }],
          affinity: {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } },
            podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'kagent' } } } }] },
          },
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'kagent' } } }],
          terminationGracePeriodSeconds: 60,
          initContainers: [
            { name: 'wait-for-db', image: 'busybox:1.36', command: ['sh', '-c', 'until nc -z db 5432; do sleep 1; done'] },
            { name: 'migrate', image: 'example/kagent:0.9.0', command: ['/app/kagent', 'migrate', 'up'] },
            // A native sidecar (Kubernetes 1.29+): the database proxy the app reaches its database through.
            { name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11', restartPolicy: 'Always', args: ['--port=5432', 'proj:region:db'], volumeMounts: [{ name: 'proxy-creds', mountPath: '/creds' }] },
          ],
          containers: [
            {
              name: 'controller',
              image: 'example/kagent:0.9.0',
              imagePullPolicy: 'IfNotPresent',
              args: ['serve', '--port', '8083'],
              workingDir: '/app',
              ports: [{ name: 'http', containerPort: 8083 }],
              env: [
                { name: 'POSTGRES_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'kagent-db', key: 'url' } } },
                { name: 'LOG_LEVEL', value: 'info' },
              ],
              envFrom: [{ configMapRef: { name: 'kagent-config' } }, { secretRef: { name: 'kagent-extra' } }],
              volumeMounts: [{ name: 'config', mountPath: '/etc/kagent' }, { name: 'certs', mountPath: '/certs', readOnly: true }],
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' } },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
              startupProbe: { httpGet: { path: '/healthz', port: 'http' }, failureThreshold: 30 },
              lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
            },
            {
              name: 'log-shipper',
              image: 'fluent/fluent-bit:3.0',
              volumeMounts: [{ name: 'shipper-state', mountPath: '/state' }],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'kagent-config' } },
            { name: 'certs', secret: { secretName: 'kagent-certs' } },
            { name: 'shipper-state', emptyDir: {} },
            { name: 'proxy-creds', secret: { secretName: 'proxy-sa' } },
          ],
        },
      },
    },
  };
}

describe('job runner: the Job cloned from the workload', () => {
  it('keeps what the tool needs to reach the database, and nothing of the server around it', () => {
    const job = jobFromWorkload(deployment(), 'controller', step, { release: 'kagent', namespace: 'ai', suffix: 'x7k2p' });
    const labels = {
      'app.kubernetes.io/managed-by': 'helm-schema-rollback',
      'helm-schema-rollback/release': 'kagent',
      'helm-schema-rollback/track': 'core',
    };
    assert.deepEqual(job, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'kagent-schema-rollback-core-x7k2p',
        namespace: 'ai',
        labels,
        annotations: { 'helm-schema-rollback/workload': 'Deployment/kagent-controller' },
      },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 600,
        template: {
          metadata: { labels, annotations: { 'sidecar.istio.io/inject': 'false', 'linkerd.io/inject': 'disabled' } },
          spec: {
            serviceAccountName: 'kagent',
            securityContext: { runAsNonRoot: true, fsGroup: 2000 },
            imagePullSecrets: [{ name: 'regcred' }],
            nodeSelector: { 'kubernetes.io/arch': 'amd64' },
            tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ai', effect: 'NoSchedule' }],
            affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
            restartPolicy: 'Never',
            // The native sidecar only: wait-for-db and migrate (up!) are start-up steps, left out.
            initContainers: [
              { name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11', restartPolicy: 'Always', args: ['--port=5432', 'proj:region:db'], volumeMounts: [{ name: 'proxy-creds', mountPath: '/creds' }] },
            ],
            containers: [
              {
                name: 'controller',
                image: 'example/kagent:0.9.0',
                imagePullPolicy: 'IfNotPresent',
                workingDir: '/app',
                env: [
                  { name: 'POSTGRES_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'kagent-db', key: 'url' } } },
                  { name: 'LOG_LEVEL', value: 'info' },
                ],
                envFrom: [{ configMapRef: { name: 'kagent-config' } }, { secretRef: { name: 'kagent-extra' } }],
                volumeMounts: [{ name: 'config', mountPath: '/etc/kagent' }, { name: 'certs', mountPath: '/certs', readOnly: true }],
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
                command: ['/app/kagent', 'migrate', 'down', '--to', '8'],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: 'kagent-config' } },
              { name: 'certs', secret: { secretName: 'kagent-certs' } },
              { name: 'proxy-creds', secret: { secretName: 'proxy-sa' } },
            ],
          },
        },
      },
    });
  });

  it('does not alias the workload: editing the Job leaves the fetched object as it was', () => {
    const workload = deployment();
    const before = JSON.stringify(workload);
    const job = jobFromWorkload(workload, undefined, step, { release: 'kagent', namespace: 'ai', suffix: 'aaaaa' });
    const c = (job.spec as any).template.spec.containers[0];
    assert.equal(c.name, 'controller', 'the first container when none is named');
    c.env.push({ name: 'X', value: 'y' });
    (job.spec as any).template.spec.volumes[0].configMap.name = 'changed';
    assert.equal(JSON.stringify(workload), before);
  });

  it('clones the pod template of a StatefulSet and of a CronJob, and honours the deadline option', () => {
    const pod = { containers: [{ name: 'app', image: 'app:1' }] };
    const sts: KubeObject = { kind: 'StatefulSet', metadata: { name: 'db-app' }, spec: { template: { spec: pod } } };
    const cron: KubeObject = { kind: 'CronJob', metadata: { name: 'nightly' }, spec: { jobTemplate: { spec: { template: { spec: pod } } } } };
    for (const w of [sts, cron]) {
      const job = jobFromWorkload(w, 'app', step, { release: 'r', namespace: 'n', suffix: 'abcde', deadlineSeconds: 120 });
      assert.equal((job.spec as any).activeDeadlineSeconds, 120);
      assert.deepEqual((job.spec as any).template.spec.containers, [{ name: 'app', image: 'app:1', command: step.command }]);
      assert.equal((job.spec as any).template.spec.volumes, undefined);
    }
  });

  it('refuses a missing container (naming the ones there are) and a step without a command', () => {
    assert.throws(() => jobFromWorkload(deployment(), 'web', step, { release: 'kagent', namespace: 'ai' }), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /Deployment\/kagent-controller has no container named "web"/);
      assert.match(err.hint!, /containers: controller, log-shipper/);
      return true;
    });
    assert.throws(() => jobFromWorkload(deployment(), 'controller', { ...step, command: undefined }, { release: 'kagent', namespace: 'ai' }), RefusedError);
  });

  it('names Jobs as DNS labels of at most 63 characters, random by default', () => {
    const long = 'a-very-long-release-name-that-goes-on-and-on-for-a-while';
    const name = jobName(long, 'Vector_Store', 'q1w2e');
    assert.ok(name.length <= 63, name);
    assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(name.endsWith('-q1w2e'));
    assert.equal(jobName('kagent', 'Vector_Store', 'q1w2e'), 'kagent-schema-rollback-vector-store-q1w2e');
    const a = jobFromWorkload(deployment(), undefined, step, { release: 'kagent', namespace: 'ai' }).metadata.name;
    const b = jobFromWorkload(deployment(), undefined, step, { release: 'kagent', namespace: 'ai' }).metadata.name;
    assert.match(a, /^kagent-schema-rollback-core-[a-z0-9]{5}$/);
    assert.notEqual(a, b);
  });
});

/** A KubeJobPort that plays a Job ending with `outcome` after printing `lines`. */
function fakeKube(outcome: JobOutcome, lines: string[]) {
  const calls: string[] = [];
  const kube: KubeJobPort = {
    async createJob(job) {
      calls.push(`create ${job.metadata.name}`);
      return job;
    },
    async waitForJob(name) {
      calls.push(`wait ${name}`);
      return outcome;
    },
    async followJobLogs(name, onLine) {
      calls.push(`logs ${name}`);
      for (const l of lines) onLine(l);
    },
    async deleteJob(name) {
      calls.push(`delete ${name}`);
    },
  };
  return { kube, calls };
}

function context(): RunnerContext & { output: string[] } {
  const output: string[] = [];
  return { databaseUrl: 'postgres://never-used', log: { debug: () => undefined }, onOutput: (l) => output.push(l), output };
}

describe('job runner: running the Job', () => {
  const deps = { workload: deployment(), container: 'controller', release: 'kagent', namespace: 'ai' };

  it('capture (the --dry-run SQL preview) runs the given command in the same Job shape, returns its output, deletes the Job either way', async () => {
    const ok = fakeKube({ status: 'complete' }, ['BEGIN;', 'COMMIT;']);
    let created: KubeObject | undefined;
    const kube = { ...ok.kube, createJob: async (job: KubeObject) => ((created = job), ok.kube.createJob(job)) };
    const ctx = context();
    assert.deepEqual(await createJobRunner({ ...deps, kube }).capture!(step, ['alembic', 'downgrade', '13:8', '--sql'], ctx), ['BEGIN;', 'COMMIT;']);
    const c = (created!.spec as { template: { spec: { containers: Array<{ command: string[] }> } } }).template.spec.containers[0]!;
    assert.deepEqual(c.command, ['alembic', 'downgrade', '13:8', '--sql']);
    assert.equal(ok.calls.at(-1)?.split(' ')[0], 'delete');
    assert.deepEqual(ctx.output, [], 'a preview prints nothing as progress');
    const failed = fakeKube({ status: 'failed', reason: 'BackoffLimitExceeded' }, ['FAILED: bad range']);
    await assert.rejects(createJobRunner({ ...deps, kube: failed.kube }).capture!(step, ['x'], context()), /failed \(BackoffLimitExceeded\); last output: FAILED: bad range/);
    assert.equal(failed.calls.at(-1)?.split(' ')[0], 'delete', 'a failed preview Job is removed too: it changed nothing');
  });

  it("on the operator's second interrupt stops waiting for a Job still running, keeps it, and says how to follow it", async () => {
    const { kube, calls } = fakeKube({ status: 'complete' }, []);
    let release: (o: JobOutcome) => void = () => undefined;
    const running: KubeJobPort = { ...kube, waitForJob: (name) => (calls.push(`wait ${name}`), new Promise<JobOutcome>((r) => (release = r))) };
    const abort = new AbortController();
    const run = createJobRunner({ ...deps, kube: running }).run(step, { ...context(), abort: abort.signal });
    await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    const err = await run.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InterruptedError, String(err));
    const name = calls[0]!.split(' ')[1]!;
    assert.match(err.message, new RegExp(`stopped waiting for job/${name}, which is still running in the cluster`));
    assert.equal(err.hint, `follow it with "kubectl logs -f job/${name} -n ai", then "helm schema-rollback status kagent" and run the same command again`);
    assert.ok(!calls.some((c) => c.startsWith('delete')), 'the Job is left to end');
    release({ status: 'complete' });
  });

  it('streams the output, then deletes the Job when it completed', async () => {
    const { kube, calls } = fakeKube({ status: 'complete' }, ['reverted core 13', 'reverted core 12']);
    const ctx = context();
    await createJobRunner({ ...deps, kube }).run(step, ctx);
    const name = calls[0]!.split(' ')[1]!;
    assert.deepEqual(calls.map((c) => c.split(' ')[0]).sort(), ['create', 'delete', 'logs', 'wait']);
    assert.equal(calls.at(-1), `delete ${name}`);
    assert.deepEqual(ctx.output, [`job/${name} started (image example/kagent:0.9.0)`, 'reverted core 13', 'reverted core 12']);
    assert.ok(!ctx.output.join('\n').includes('never-used'));
  });

  it('keeps a failed Job and says how to read and remove it; deletes it with keepOnFailure=false', async () => {
    const failed: JobOutcome = { status: 'failed', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
    const { kube, calls } = fakeKube(failed, ['reverting core 13', 'error: migration 13 down failed']);
    const err = await createJobRunner({ ...deps, kube }).run(step, context()).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StepFailedError);
    const name = calls[0]!.split(' ')[1]!;
    assert.equal(err.message, `track core: down of 13..9 failed: job/${name} failed (BackoffLimitExceeded: Job has reached the specified backoff limit); last output: error: migration 13 down failed`);
    assert.equal(err.hint, `the Job is kept: read its output with "kubectl logs job/${name} -n ai", then remove it with "kubectl delete job ${name} -n ai"`);
    assert.ok(!calls.some((c) => c.startsWith('delete')));
    // As planned for this runner (no preview: the tool in the image decides the steps), the message
    // says from where to where, not "down of 8", a revision that is never reverted.
    const unlisted = await createJobRunner({ ...deps, kube: fakeKube(failed, []).kube }).run({ ...step, revisions: [] }, context()).then(() => undefined, (e: unknown) => e);
    assert.ok(unlisted instanceof StepFailedError);
    assert.match(unlisted.message, /^track core: down of 13 -> 8 failed: job\//);

    // SQLAlchemy ends with a footer two lines below the cause: the message quotes from the cause on.
    const sqlalchemy = fakeKube(failed, [
      'Traceback (most recent call last):',
      '  File "/app/migrations/versions/0010.py", line 20, in downgrade',
      'sqlalchemy.exc.IntegrityError: (psycopg2.errors.NotNullViolation) column "sso_id" of relation "users" contains null values',
      '[SQL: ALTER TABLE users ALTER COLUMN sso_id SET NOT NULL]',
      '(Background on this error at: https://sqlalche.me/e/20/gkpj)',
    ]);
    const cause = await createJobRunner({ ...deps, kube: sqlalchemy.kube }).run(step, context()).then(() => undefined, (e: unknown) => e);
    assert.ok(cause instanceof StepFailedError);
    assert.match(cause.message, /; last output: sqlalchemy\.exc\.IntegrityError: .*contains null values \| \[SQL: ALTER TABLE users .*\] \| \(Background on this error at: \S+\)$/);

    const other = fakeKube({ status: 'timeout' }, []);
    const timeout = await createJobRunner({ ...deps, kube: other.kube, keepOnFailure: false, timeoutSeconds: 60 }).run(step, context()).then(() => undefined, (e: unknown) => e);
    assert.ok(timeout instanceof StepFailedError);
    assert.match(timeout.message, /did not finish within 90s/);
    assert.equal(timeout.hint, undefined);
    assert.ok(other.calls.some((c) => c.startsWith('delete')));
  });

  it('an image that cannot be pulled fails the step naming the image, and deletes the Job even when failed Jobs are kept (it would run later)', async () => {
    const pull: JobOutcome = { status: 'not-started', reason: 'ImagePullBackOff', message: 'Back-off pulling image "example/kagent:0.9.0"', image: 'example/kagent:0.9.0' };
    const { kube, calls } = fakeKube(pull, []);
    const err = await createJobRunner({ ...deps, kube }).run(step, context()).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StepFailedError);
    const name = calls[0]!.split(' ')[1]!;
    assert.equal(err.message, `track core: down of 13..9 failed: job/${name} never started: its image example/kagent:0.9.0 cannot be pulled (ImagePullBackOff: Back-off pulling image "example/kagent:0.9.0"); the Job ran nothing and was deleted`);
    assert.match(err.hint ?? '', /check that the cluster can pull example\/kagent:0\.9\.0/);
    assert.equal(calls.at(-1), `delete ${name}`);
  });
});
