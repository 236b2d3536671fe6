/**
 * Jobs run by the fake kubelet as local processes from a fixture "image": what users of
 * `kubectl wait` and `kubectl logs job/x` see, on success, failure, retries and deadlines.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl } from '../harness/binaries.js';
import { run, type RunResult } from '../harness/run.js';
import { cleanEnv, SMOKE_IMAGE_DIR, tempDir, type TempDir } from './helpers.js';
import { startKubeDouble, type KubeDouble, type KubeObject } from './index.js';

const JOB = { apiVersion: 'batch/v1', kind: 'Job' };
const POD = { apiVersion: 'v1', kind: 'Pod' };

function job(name: string, container: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ...spec,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'example/kube-smoke:1.0.0', ...container }] } },
    },
  };
}

const conditionTypes = (j: KubeObject | undefined): string[] => (j?.status?.conditions ?? []).map((c: { type: string }) => c.type);

describe('kube double: Jobs and the fake kubelet', function () {
  this.timeout(30_000);
  let tmp: TempDir;
  let kube: KubeDouble;
  let env: NodeJS.ProcessEnv;
  const k = (args: string[]): Promise<RunResult> => run(kubectl, args, { env });
  const ok = async (args: string[]): Promise<string> => {
    const r = await k(args);
    assert.equal(r.exitCode, 0, `kubectl ${args.join(' ')}:\n${r.stderr}`);
    return r.stdout;
  };
  const create = async (obj: KubeObject): Promise<void> => {
    const path = join(tmp.path, `${obj.metadata.name}.json`);
    writeFileSync(path, JSON.stringify(obj));
    await ok(['create', '-f', path]);
  };
  const podsOf = (name: string) => kube.list(POD, { labelSelector: `job-name=${name}` });

  before(async () => {
    tmp = tempDir('kube-jobs-');
    kube = await startKubeDouble({ dir: join(tmp.path, 'kube'), images: { 'example/kube-smoke:1.0.0': SMOKE_IMAGE_DIR } });
    env = cleanEnv(kube.env);
    kube.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { url: 'postgres://migrator@db/app' } });
  });

  after(async () => {
    await kube?.close();
    tmp?.remove();
  });

  it('runs a Job whose pod prints an env var from a Secret: wait --for=condition=complete, then logs', async () => {
    await create(job('migrate', { command: ['./bin/print-env'], args: ['DATABASE_URL', 'MODE'], env: [
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
      { name: 'MODE', value: 'up' },
    ] }));
    assert.match(await ok(['wait', '--for=condition=complete', 'job/migrate', '--timeout=20s']), /condition met/);
    assert.equal(await ok(['logs', 'job/migrate']), 'DATABASE_URL=postgres://migrator@db/app\nMODE=up\n');
    const j = kube.get(JOB, 'migrate')!;
    assert.deepEqual([j.status.succeeded, conditionTypes(j)], [1, ['SuccessCriteriaMet', 'Complete']]);
    // The server defaulted the selector kubectl logs uses, and labelled the pod with it.
    const uid = j.metadata.uid!;
    assert.deepEqual(j.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    const [pod] = podsOf('migrate');
    assert.equal(pod!.metadata.labels!['batch.kubernetes.io/controller-uid'], uid);
    assert.equal(pod!.status.phase, 'Succeeded');
    assert.equal(pod!.status.containerStatuses[0].state.terminated.exitCode, 0);
  });

  it('marks a failing Job Failed after one pod when backoffLimit is 0, keeping its output as the log', async () => {
    await create(job('broken', { command: ['fail', '4'] }));
    assert.match(await ok(['wait', '--for=condition=failed', 'job/broken', '--timeout=20s']), /condition met/);
    const j = kube.get(JOB, 'broken')!;
    assert.deepEqual([j.status.failed, j.status.succeeded, conditionTypes(j)], [1, undefined, ['FailureTarget', 'Failed']]);
    assert.equal(j.status.conditions[1].reason, 'BackoffLimitExceeded');
    const pods = podsOf('broken');
    assert.equal(pods.length, 1);
    assert.equal(pods[0]!.status.phase, 'Failed');
    assert.equal(pods[0]!.status.containerStatuses[0].state.terminated.exitCode, 4);
    assert.match(await ok(['logs', 'job/broken']), /migration failed: relation "users" does not exist/);
    const complete = await k(['wait', '--for=condition=complete', 'job/broken', '--timeout=1s']);
    assert.notEqual(complete.exitCode, 0);
  });

  it('runs a native sidecar (initContainer with restartPolicy: Always) beside the main container and stops it when the main one ends', async () => {
    const j = job('with-proxy', { command: ['./bin/print-env'], args: ['MODE'], env: [{ name: 'MODE', value: 'down' }] });
    (j.spec.template.spec as Record<string, unknown>)['initContainers'] = [
      { name: 'proxy', image: 'example/kube-smoke:1.0.0', restartPolicy: 'Always', command: ['wait-forever'] },
    ];
    await create(j);
    assert.match(await ok(['wait', '--for=condition=complete', 'job/with-proxy', '--timeout=20s']), /condition met/);
    assert.equal(await ok(['logs', 'job/with-proxy', '-c', 'main']), 'MODE=down\n');
    // The sidecar was started (its log exists; it may be stopped before printing) and did not keep the Job running.
    assert.match(await ok(['logs', 'job/with-proxy', '-c', 'proxy']), /^(waiting\n)?$/);
    assert.equal(podsOf('with-proxy')[0]!.status.phase, 'Succeeded');
  });

  it('retries with new pods up to backoffLimit', async () => {
    kube.put(job('flaky', { command: ['fail'] }, { backoffLimit: 2 }));
    const j = await kube.waitFor<KubeObject>(JOB, 'flaky', 'default', (o) => conditionTypes(o).includes('Failed'));
    assert.equal(j.status.failed, 3);
    assert.equal(podsOf('flaky').length, 3);
  });

  it('fails a Job that runs past activeDeadlineSeconds, killing its process', async () => {
    const started = Date.now();
    kube.put(job('slow', { command: ['wait-forever'] }, { activeDeadlineSeconds: 1 }));
    const j = await kube.waitFor<KubeObject>(JOB, 'slow', 'default', (o) => conditionTypes(o).includes('Failed'));
    assert.ok(Date.now() - started < 5000);
    assert.equal(j.status.conditions[1].reason, 'DeadlineExceeded');
    const [pod] = podsOf('slow');
    const done = await kube.waitFor<KubeObject>(POD, pod!.metadata.name!, 'default', (p) => p.status.phase === 'Failed');
    assert.equal(done.status.reason, 'DeadlineExceeded');
    assert.equal(kube.podLogs('default', pod!.metadata.name!), 'waiting\n');
  });

  it('fails the pod with a clear log line when a Secret is missing', async () => {
    kube.put(job('no-secret', { command: ['print-env', 'X'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }] }));
    await kube.waitFor(JOB, 'no-secret', 'default', (o) => conditionTypes(o).includes('Failed'));
    assert.match(await ok(['logs', 'job/no-secret']), /secret "absent" not found/);
  });

  it('keeps a pod whose image is not in the map Pending in ImagePullBackOff, as a real cluster does, until the Job\'s deadline', async () => {
    kube.put(job('no-image', { image: 'example/unknown:9.9' }, { activeDeadlineSeconds: 2 }));
    const [pod] = await (async () => {
      for (let i = 0; i < 50 && podsOf('no-image').length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      return podsOf('no-image');
    })();
    const waiting = await kube.waitFor<KubeObject>(POD, pod!.metadata.name!, 'default', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff');
    assert.equal(waiting.status.phase, 'Pending');
    assert.match(waiting.status.containerStatuses[0].state.waiting.message, /Back-off pulling image "example\/unknown:9\.9"/);
    const logs = await run(kubectl, ['logs', 'job/no-image'], { env: kube.env });
    assert.match(logs.stderr, /is waiting to start: trying and failing to pull image/);
    const failed = await kube.waitFor<KubeObject>(JOB, 'no-image', 'default', (o) => conditionTypes(o).includes('Failed'), 5000);
    assert.equal(failed.status.conditions.at(-1).reason, 'DeadlineExceeded');
  });

  it('streams the log of a running Job with logs -f, and retries when its running pod is deleted', async () => {
    kube.put(job('ticker', { command: ['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.2; done'] }));
    assert.equal(await ok(['logs', '-f', 'job/ticker']), 'tick 1\ntick 2\ntick 3\n');
    kube.put(job('victim', { command: ['wait-forever'] }, { backoffLimit: 1 }));
    const [first] = podsOf('victim');
    await ok(['delete', 'pod', first!.metadata.name!]);
    const pods = await (async () => {
      for (let i = 0; i < 50 && podsOf('victim').length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      return podsOf('victim');
    })();
    assert.equal(pods.length, 1);
    assert.notEqual(pods[0]!.metadata.name, first!.metadata.name);
    assert.equal(kube.get(JOB, 'victim')!.status.failed, 1);
    await ok(['delete', 'job', 'victim']);
  });

  it("runs the image's entrypoint when the container has no command, and deletes pods with the Job", async () => {
    kube.put(job('entry', { args: ['one', 'two'] }));
    await kube.waitFor(JOB, 'entry', 'default', (o) => conditionTypes(o).includes('Complete'));
    assert.equal(await ok(['logs', 'job/entry']), 'entrypoint args: one two\n');
    await ok(['delete', 'job', 'entry']);
    assert.deepEqual(podsOf('entry'), []);
  });
});
