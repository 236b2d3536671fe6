/**
 * Real Helm 3.17 and 4.1 against the double: the release lifecycle users rely on, with chart
 * versions coming from a chart repository (install → upgrade --version → rollback → uninstall).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { helmEnv, helms, kubectl } from '../harness/binaries.js';
import { startChartRepo, type ChartRepo } from '../harness/chart-repo.js';
import { run, type RunResult } from '../harness/run.js';
import { cleanEnv, SMOKE_CHART, SMOKE_IMAGE_DIR, tempDir, type TempDir } from './helpers.js';
import { startKubeDouble, type KubeDouble } from './index.js';

const DEPLOY = { apiVersion: 'apps/v1', kind: 'Deployment' };
const CM = { apiVersion: 'v1', kind: 'ConfigMap' };

for (const helm of helms) {
  describe(`kube double: ${helm.label} release lifecycle`, function () {
    this.timeout(60_000);
    let tmp: TempDir;
    let kube: KubeDouble;
    let repo: ChartRepo;
    let env: NodeJS.ProcessEnv;
    const h = async (args: string[]): Promise<RunResult> => run(helm.bin, args, { env });
    const ok = async (args: string[]): Promise<string> => {
      const r = await h(args);
      assert.equal(r.exitCode, 0, `helm ${args.join(' ')}:\n${r.stderr}`);
      return r.stdout;
    };
    const json = async <T = any>(args: string[]): Promise<T> => JSON.parse(await ok([...args, '-o', 'json'])) as T;

    before(async () => {
      tmp = tempDir('kube-helm-');
      [kube, repo] = await Promise.all([
        startKubeDouble({ dir: join(tmp.path, 'kube'), images: { 'example/kube-smoke:1.0.0': SMOKE_IMAGE_DIR } }),
        startChartRepo(join(tmp.path, 'repo'), [
          { path: SMOKE_CHART, version: '0.1.0' },
          { path: SMOKE_CHART, version: '0.2.0' },
        ]),
      ]);
      env = cleanEnv({ ...helmEnv(join(tmp.path, 'helm')), ...kube.env });
      await ok(['repo', 'add', 'smoke', repo.url]);
    });

    after(async () => {
      await kube?.close();
      await repo?.close();
      tmp?.remove();
    });

    it('shows a chart version from the repository, annotations included', async () => {
      const out = await ok(['show', 'chart', 'smoke/kube-smoke', '--version', '0.1.0']);
      assert.match(out, /^version: 0\.1\.0$/m);
      assert.match(out, /kube-smoke\.example\/purpose: smoke/);
    });

    it('installs with --wait, and list/status/history/get report the release', async () => {
      await ok(['install', 'smoke', 'smoke/kube-smoke', '--version', '0.1.0', '--wait', '--timeout', '30s']);
      const [listed] = await json<{ name: string; status: string; chart: string; revision: string }[]>(['list']);
      assert.deepEqual([listed?.name, listed?.status, listed?.chart, listed?.revision], ['smoke', 'deployed', 'kube-smoke-0.1.0', '1']);
      const status = await json(['status', 'smoke']);
      assert.equal(status.info.status, 'deployed');
      const meta = await json(['get', 'metadata', 'smoke']);
      assert.deepEqual([meta.chart, meta.version, meta.revision, meta.status], ['kube-smoke', '0.1.0', 1, 'deployed']);
      assert.deepEqual(meta.annotations, { 'kube-smoke.example/purpose': 'smoke' });
      assert.match(await ok(['get', 'manifest', 'smoke']), /kind: Deployment/);
      assert.equal((await json(['get', 'values', 'smoke', '--all'])).greeting, 'hello');
      const [rev] = await json<{ revision: number; status: string }[]>(['history', 'smoke']);
      assert.deepEqual([rev?.revision, rev?.status], [1, 'deployed']);

      const deploy = kube.get(DEPLOY, 'smoke-web')!;
      assert.equal(deploy.status.readyReplicas, 1);
      assert.equal(kube.list({ apiVersion: 'v1', kind: 'Pod' }, { labelSelector: 'app.kubernetes.io/instance=smoke' }).length, 1);
      assert.equal(kube.get(CM, 'smoke-config')!.data['legacy-key'], 'only-in-0.1.0');
      const secret = kube.get({ apiVersion: 'v1', kind: 'Secret' }, 'smoke-secret')!;
      assert.equal(Buffer.from(secret.data.token, 'base64').toString(), 's3cret');
      assert.deepEqual(kube.helmReleases({ name: 'smoke' }).map((r) => [r.version, r.info.status]), [[1, 'deployed']]);
    });

    it('upgrades to a newer chart version with --version, removing what the chart dropped', async () => {
      kube.requests.length = 0;
      await ok(['upgrade', 'smoke', 'smoke/kube-smoke', '--version', '0.2.0', '--wait', '--timeout', '30s', '--set', 'greeting=hi']);
      const cm = kube.get(CM, 'smoke-config')!;
      assert.deepEqual(cm.data, { greeting: 'hi', 'chart-version': '0.2.0' });
      const deploy = kube.get(DEPLOY, 'smoke-web')!;
      assert.equal(deploy.metadata.generation, 2);
      assert.equal(deploy.status.observedGeneration, 2);
      // Helm 4 upgrades a release it installed with server-side apply; Helm 3 sends 3-way strategic merges.
      const patches = kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/smoke-config'));
      const expected = helm.major === 4 ? 'application/apply-patch+yaml' : 'application/strategic-merge-patch+json';
      assert.deepEqual(patches.map((r) => r.contentType), [expected]);
      const history = await json<{ revision: number; status: string }[]>(['history', 'smoke']);
      assert.deepEqual(history.map((r) => [r.revision, r.status]), [[1, 'superseded'], [2, 'deployed']]);
      assert.equal((await json(['get', 'metadata', 'smoke'])).version, '0.2.0');
    });

    it('rolls back to revision 1, restoring its objects', async () => {
      await ok(['rollback', 'smoke', '1', '--wait', '--timeout', '30s']);
      const cm = kube.get(CM, 'smoke-config')!;
      assert.deepEqual(cm.data, { greeting: 'hello', 'chart-version': '0.1.0', 'legacy-key': 'only-in-0.1.0' });
      const history = await json<{ revision: number; status: string; description: string }[]>(['history', 'smoke']);
      assert.deepEqual(history.map((r) => [r.revision, r.status]), [[1, 'superseded'], [2, 'superseded'], [3, 'deployed']]);
      assert.equal(history[2]!.description, 'Rollback to 1');
      const meta = await json(['get', 'metadata', 'smoke']);
      assert.deepEqual([meta.version, meta.revision], ['0.1.0', 3]);
    });

    it(helm.major === 4
      ? 'refuses to upgrade a Deployment scaled with kubectl (apply conflict on .spec.replicas) unless --force-conflicts'
      : 'restores the replicas of a Deployment scaled with kubectl on upgrade (3-way merge)', async () => {
      const scale = await run(kubectl, ['scale', 'deployment/smoke-web', '--replicas=0'], { env });
      assert.equal(scale.exitCode, 0, scale.stderr);
      const upgrade = ['upgrade', 'smoke', 'smoke/kube-smoke', '--version', '0.1.0', '--reuse-values', '--wait', '--timeout', '30s'];
      if (helm.major === 4) {
        const refused = await h(upgrade);
        assert.equal(refused.exitCode, 1);
        assert.match(refused.stderr, /Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps\/v1: \.spec\.replicas/);
        assert.equal(kube.get(DEPLOY, 'smoke-web')!.spec.replicas, 0);
        upgrade.push('--force-conflicts');
      }
      await ok(upgrade);
      assert.equal(kube.get(DEPLOY, 'smoke-web')!.spec.replicas, 1);
      assert.equal(kube.list({ apiVersion: 'v1', kind: 'Pod' }, { labelSelector: 'app.kubernetes.io/instance=smoke' }).length, 1);
    });

    it('uninstalls: objects, pods and release records are gone', async () => {
      await ok(['uninstall', 'smoke', '--wait', '--timeout', '30s']);
      assert.equal(kube.get(DEPLOY, 'smoke-web'), undefined);
      assert.equal(kube.get(CM, 'smoke-config'), undefined);
      assert.deepEqual(kube.list({ apiVersion: 'v1', kind: 'Pod' }), []);
      assert.deepEqual(kube.list({ apiVersion: 'apps/v1', kind: 'ReplicaSet' }), []);
      assert.deepEqual(kube.helmReleases(), []);
      assert.deepEqual(await json(['list']), []);
    });

    it('installs into a new namespace with --create-namespace, visible from the double-other context', async () => {
      await ok(['install', 'elsewhere', 'smoke/kube-smoke', '--version', '0.2.0', '-n', 'team', '--create-namespace', '--wait']);
      assert.ok(kube.get({ apiVersion: 'v1', kind: 'Namespace' }, 'team'));
      assert.equal(kube.get(DEPLOY, 'elsewhere-web', 'team')!.status.availableReplicas, 1);
      assert.deepEqual(await json(['list', '--kube-context', 'double-other']), []);
      const all = await json<{ name: string; namespace: string }[]>(['list', '-A']);
      assert.deepEqual(all.map((r) => [r.name, r.namespace]), [['elsewhere', 'team']]);
      const unreachable = await h(['list', '--kube-context', 'unreachable']);
      assert.notEqual(unreachable.exitCode, 0);
      assert.match(unreachable.stderr, /127\.0\.0\.1:1/);
    });
  });
}
