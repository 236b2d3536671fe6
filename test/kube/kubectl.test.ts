/**
 * Real kubectl 1.33 against the double: reading objects, create/apply/delete, scaling a
 * Deployment (pods follow), and exec into a Deployment's pod with the pod's environment.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl } from '../harness/binaries.js';
import { run, type RunResult } from '../harness/run.js';
import { cleanEnv, SMOKE_IMAGE_DIR, tempDir, type TempDir } from './helpers.js';
import { startKubeDouble, type KubeDouble, type KubeObject } from './index.js';

const POD = { apiVersion: 'v1', kind: 'Pod' };
const DEPLOY = { apiVersion: 'apps/v1', kind: 'Deployment' };

const deployment = (name: string, replicas: number): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'example/kube-smoke:1.0.0',
            env: [
              { name: 'GREETING', value: 'hi' },
              { name: 'DB_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } },
              { name: 'SHOUT', value: '$(GREETING)!' },
            ],
            envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
          },
        ],
      },
    },
  },
});

describe('kube double: kubectl', function () {
  this.timeout(30_000);
  let tmp: TempDir;
  let kube: KubeDouble;
  let env: NodeJS.ProcessEnv;
  const k = (args: string[], input?: string): Promise<RunResult> => run(kubectl, args, { env, input });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input);
    assert.equal(r.exitCode, 0, `kubectl ${args.join(' ')}:\n${r.stderr}`);
    return r.stdout;
  };
  const manifest = (name: string, obj: unknown): string => {
    const path = join(tmp.path, `${name}.json`);
    writeFileSync(path, JSON.stringify(obj));
    return path;
  };

  before(async () => {
    tmp = tempDir('kube-kubectl-');
    kube = await startKubeDouble({ dir: join(tmp.path, 'kube'), images: { 'example/kube-smoke:1.0.0': SMOKE_IMAGE_DIR } });
    env = cleanEnv(kube.env);
    kube.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { url: 'postgres://app@db/app' } });
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { MODE: 'test' } });
  });

  after(async () => {
    await kube?.close();
    tmp?.remove();
  });

  it('gets objects as JSON and reads a Secret value with jsonpath', async () => {
    const secret = JSON.parse(await ok(['get', 'secret', 'db', '-o', 'json']));
    assert.equal(secret.kind, 'Secret');
    assert.equal(Buffer.from(secret.data.url, 'base64').toString(), 'postgres://app@db/app');
    assert.equal(await ok(['get', 'secret', 'db', '-o', 'jsonpath={.data.url}']), Buffer.from('postgres://app@db/app').toString('base64'));
    const missing = await k(['get', 'secret', 'nope']);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /secrets "nope" not found/);
  });

  it('creates, applies (then re-applies a change) and deletes', async () => {
    const path = manifest('cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '1', b: '2' } });
    assert.match(await ok(['apply', '-f', path]), /configmap\/applied created/);
    manifest('cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '10' } });
    assert.match(await ok(['apply', '-f', path]), /configmap\/applied configured/);
    assert.deepEqual(kube.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'applied')!.data, { a: '10' });
    const dup = await k(['create', '-f', path]);
    assert.match(dup.stderr, /already exists/);
    assert.match(await ok(['delete', 'configmap', 'applied']), /deleted/);
    assert.equal(kube.get({ apiVersion: 'v1', kind: 'ConfigMap' }, 'applied'), undefined);
  });

  it('scales a Deployment to 0 and back: pods disappear and reappear', async () => {
    await ok(['apply', '-f', manifest('web', deployment('web', 2))]);
    await ok(['wait', '--for=condition=available', 'deployment/web', '--timeout=10s']);
    const names = async () => (await ok(['get', 'pods', '-l', 'app=web', '-o', 'name'])).split('\n').filter(Boolean);
    assert.equal((await names()).length, 2);
    await ok(['scale', 'deployment/web', '--replicas=0']);
    assert.deepEqual(await names(), []);
    assert.equal(JSON.parse(await ok(['get', 'deploy', 'web', '-o', 'json'])).status.readyReplicas, 0);
    await ok(['scale', 'deploy/web', '--replicas=1']);
    const [pod] = await names();
    assert.match(pod!, /^pod\/web-[a-z0-9]{10}-[a-z0-9]{5}$/);
    const obj = kube.get(POD, pod!.slice(4))!;
    assert.equal(obj.status.phase, 'Running');
    assert.equal(obj.metadata.ownerReferences![0]!.kind, 'ReplicaSet');
    assert.match(await ok(['rollout', 'status', 'deployment/web', '--timeout=10s']), /successfully rolled out/);
    assert.ok(kube.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web/scale') && r.contentType === 'application/merge-patch+json'));
  });

  it('denies writes of one object as an admission webhook would, lets reads and scale through, and lifts the denial', async () => {
    await ok(['apply', '-f', manifest('frozen', deployment('frozen', 1))]);
    const lift = kube.denyWrites({ resource: DEPLOY, name: 'frozen', webhook: 'freeze.policy.example', message: 'change freeze' });
    const changed = deployment('frozen', 1);
    changed.metadata.labels = { ...changed.metadata.labels, tier: 'changed' };
    const denied = await k(['apply', '-f', manifest('frozen', changed)]);
    assert.notEqual(denied.exitCode, 0);
    assert.match(denied.stderr, /admission webhook "freeze\.policy\.example" denied the request: change freeze/);
    assert.equal(kube.get(DEPLOY, 'frozen')!.metadata.labels!.tier, undefined);
    assert.match(await ok(['get', 'deployment', 'frozen', '-o', 'name']), /deployment\.apps\/frozen/);
    await ok(['scale', 'deployment/frozen', '--replicas=0']);
    lift();
    await ok(['apply', '-f', manifest('frozen', changed)]);
    assert.equal(kube.get(DEPLOY, 'frozen')!.metadata.labels!.tier, 'changed');
    await ok(['delete', 'deployment', 'frozen']);
  });

  it('execs into a Deployment pod with the pod environment, propagating the exit code', async () => {
    if (!kube.get(DEPLOY, 'web')) await ok(['apply', '-f', manifest('web', deployment('web', 1))]);
    const r = await k(['exec', 'deploy/web', '--', 'sh', '-c', 'echo "$GREETING $SHOUT $DB_URL $CFG_MODE in $PWD"; echo oops >&2; exit 3']);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, `hi hi! postgres://app@db/app test in ${SMOKE_IMAGE_DIR}\n`);
    assert.match(r.stderr, /oops/);
    assert.equal((await ok(['exec', 'deploy/web', '--', 'print-env', 'GREETING'])).trim(), 'GREETING=hi');
    assert.equal(await ok(['exec', '-i', 'deploy/web', '--', 'tr', 'a-z', 'A-Z'], 'piped stdin\n'), 'PIPED STDIN\n');
    const missing = await k(['exec', 'deploy/web', '--', 'no-such-command']);
    assert.notEqual(missing.exitCode, 0);
    assert.match(missing.stderr, /no-such-command/);
  });

  it('denies what a test denies, as RBAC would: the request itself gets 403, and kubectl auth can-i (SelfSubjectAccessReview) says no', async () => {
    if (!kube.get(DEPLOY, 'web')) await ok(['apply', '-f', manifest('web', deployment('web', 1))]);
    const canI = async (...args: string[]) => (await k(['auth', 'can-i', ...args])).stdout.trim();
    const undoScale = kube.deny({ verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale' });
    const undoExec = kube.deny({ verb: 'create', resource: 'pods', subresource: 'exec' });
    const undoSecret = kube.deny({ verb: 'get', resource: 'secrets', name: 'db' });
    try {
      const scale = await k(['scale', 'deployment/web', '--replicas=0']);
      assert.equal(scale.exitCode, 1);
      assert.match(scale.stderr, /deployments\.apps "web" is forbidden: User "fake" cannot patch resource "deployments\/scale" in API group "apps" in the namespace "default"/);
      assert.equal(kube.get(DEPLOY, 'web')!.spec.replicas, 1, 'nothing changed');
      assert.equal(await canI('patch', 'deployments', '--subresource=scale'), 'no');
      assert.equal(await canI('patch', 'deployments'), 'yes', 'the deployment itself may still be patched');
      const exec = await k(['exec', 'deploy/web', '--', 'print-env', 'GREETING']);
      assert.notEqual(exec.exitCode, 0);
      assert.match(exec.stderr, /cannot create resource "pods\/exec"/);
      assert.equal(await canI('create', 'pods', '--subresource=exec'), 'no');
      const secret = await k(['get', 'secret', 'db']);
      assert.match(secret.stderr, /secrets "db" is forbidden: User "fake" cannot get resource "secrets" in API group "" in the namespace "default"/);
      assert.equal(await canI('get', 'secrets/db'), 'no');
      assert.equal(await canI('get', 'secrets/other'), 'yes', 'a rule naming one object denies only that one');
    } finally {
      undoScale();
      undoExec();
      undoSecret();
    }
    assert.equal(await canI('patch', 'deployments', '--subresource=scale'), 'yes');
    assert.match(await ok(['get', 'secret', 'db', '-o', 'name']), /secret\/db/);
  });
});
