/**
 * The helm adapter against real Helm 3.17 and 4.1 and the Kubernetes API double: chart metadata
 * from a chart repository (show chart, search repo, and the errors users meet), and `upgrade`
 * moving a kagent-like release from 0.9.0 back to 0.8.0 after its Deployment was scaled to 0 with
 * kubectl, the way a rollback stops workloads. The release keeps the values its user gave it; on
 * Helm 4 the same upgrade without --force-conflicts fails on .spec.replicas, which is why
 * upgradeArgs adds it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHelm, upgradeArgs, type Helm } from '../../src/adapters/helm.js';
import { createKubectl, type Kubectl } from '../../src/adapters/kubectl.js';
import { CommandFailedError, UsageError } from '../../src/core/errors.js';
import { helmEnv, helms, kubectl as kubectlBin } from '../harness/binaries.js';
import { startChartRepo, type ChartRepo } from '../harness/chart-repo.js';
import { FIXTURE_CHARTS, materializeChartVersions } from '../harness/charts.js';
import { requireDouble, startCluster, type Cluster } from '../harness/cluster.js';
import { makeTempDir, removeTempDirs } from '../harness/plugin.js';
import { runOk } from '../harness/run.js';

const DB_URL = 'postgres://kagent:s3cret@db.ai:5432/kagent';
const noLog = { debug: () => undefined };

/** process.env without inherited Helm or kube settings, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HELM_') && k !== 'KUBECONFIG' && k !== 'KUBECACHEDIR') env[k] = v;
  return { ...env, ...extra };
}

describe('helm adapter against real Helm and the Kubernetes double', function () {
  this.timeout(120_000);
  let dir: string;
  let cluster: Cluster;
  let repo: ChartRepo;
  let chartDirs: string[];

  before(async function () {
    dir = makeTempDir('hsr-helm-upgrade-');
    chartDirs = materializeChartVersions(join(FIXTURE_CHARTS, 'kagent'), join(dir, 'charts'));
    [cluster, repo] = await Promise.all([startCluster({ dir: join(dir, 'kube') }), startChartRepo(join(dir, 'repo'), chartDirs.map((path) => ({ path })))]);
    // Helm --wait needs the double's instantly ready pods; the fixture image exists nowhere else.
    requireDouble(this, cluster, 'Helm --wait on the fixture chart needs the fake kubelet');
  });

  after(async () => {
    await repo?.close();
    await cluster?.close();
    removeTempDirs();
  });

  for (const h of helms) {
    describe(h.label, () => {
      const ns = `helm${h.major}`;
      let env: NodeJS.ProcessEnv;
      let helm: Helm;
      let kube: Kubectl;
      const cli = (args: string[]) => runOk(h.bin, args, { env });

      before(async () => {
        env = cleanEnv({ ...helmEnv(join(dir, `home-${h.major}`)), ...cluster.env });
        helm = createHelm({ bin: h.bin, namespace: ns, env, log: noLog });
        kube = createKubectl({ bin: kubectlBin, namespace: ns, env, log: noLog });
        await cli(['repo', 'add', 'fx', repo.url]);
      });

      it('knows its major version', async () => {
        assert.equal(await helm.helmMajor(), h.major);
      });

      it('shows a chart version with its annotations, and lists versions newest first', async () => {
        const chart = await helm.showChart('fx/kagent', '0.8.0');
        assert.deepEqual([chart.name, chart.version, chart.appVersion], ['kagent', '0.8.0', '0.8.0']);
        assert.match(chart.annotations['schema-rollback.io/tracks']!, /revision: "8"/);
        assert.equal(chart.annotations['schema-rollback.io/container'], 'controller');
        assert.deepEqual(await helm.chartVersions('fx/kagent'), ['0.9.0', '0.8.0', '0.1.0']);
        assert.deepEqual(await helm.chartVersions('fx/kagen'), [], 'search matches substrings; only the exact name counts');
        const local = await helm.showChart(chartDirs.find((d) => d.endsWith('kagent-0.8.0'))!, '0.8.0');
        assert.equal(local.version, '0.8.0');
      });

      it('finds the repo/chart of an installed chart name, and says when none or several repositories have it', async () => {
        assert.equal(await helm.findChartRef('kagent'), 'fx/kagent');
        await assert.rejects(helm.findChartRef('kagen'), (e: unknown) => e instanceof UsageError && /no chart repository of this helm has a chart named kagen/.test(e.message));
        await cli(['repo', 'add', 'mirror', repo.url]);
        try {
          const err = await helm.findChartRef('kagent').then(() => undefined, (e: unknown) => e);
          assert.ok(err instanceof UsageError, String(err));
          assert.equal(err.message, 'several chart repositories have a chart named kagent: fx/kagent, mirror/kagent');
          assert.match(err.hint!, /--chart/);
        } finally {
          await cli(['repo', 'remove', 'mirror']);
        }
        const bare = createHelm({ bin: h.bin, namespace: ns, env: cleanEnv({ ...helmEnv(join(dir, `bare-${h.major}`)), ...cluster.env }), log: noLog });
        await assert.rejects(bare.findChartRef('kagent'), (e: unknown) => e instanceof UsageError && /helm repo add NAME URL/.test(e.hint!));
      });

      it('turns a missing version, chart or repository into a UsageError that says what to run', async () => {
        const cases: Array<[string, string, RegExp, RegExp]> = [
          ['fx/kagent', '9.9.9', /^chart fx\/kagent has no version 9\.9\.9$/, /helm search repo fx\/kagent --versions.*helm repo update/],
          ['fx/nochart', '0.8.0', /^repository fx has no chart nochart$/, /helm search repo fx\//],
          ['nope/kagent', '0.8.0', /^no chart repository named nope$/, /helm repo add nope URL/],
          ['./no-such-dir', '0.8.0', /^chart \.\/no-such-dir 0\.8\.0 not found: path "\.\/no-such-dir" not found$/, /helm show chart/],
          // helm ignores --version for a directory: the adapter checks what it got.
          [chartDirs.find((d) => d.endsWith('kagent-0.9.0'))!, '0.8.0', /is chart kagent 0\.9\.0, not 0\.8\.0$/, /point at the one you want/],
        ];
        for (const [ref, version, message, hint] of cases) {
          const err = await helm.showChart(ref, version).then(() => undefined, (e: unknown) => e);
          assert.ok(err instanceof UsageError, `${ref}: ${String(err)}`);
          assert.match(err.message, message);
          assert.match(err.hint!, hint);
        }
        await assert.rejects(helm.chartVersions('oci://registry.example/kagent'), UsageError);
      });

      it('upgrades a scaled-down release to the older chart, keeping the user\'s values and restoring replicas', async () => {
        await cli(['install', 'kagent', 'fx/kagent', '--version', '0.9.0', '-n', ns, '--create-namespace', '--wait', '--timeout', '60s',
          '--set', `database.url=${DB_URL}`, '--set', 'replicaCount=2']);
        await kube.scale('deployment', 'kagent-controller', 0);
        assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 0);

        const request = { release: 'kagent', chart: 'fx/kagent', version: '0.8.0', wait: true, timeout: '60s' };
        if (h.major === 4) {
          // The control: Helm 4 without --force-conflicts refuses. It still records a revision: the
          // latest one is now 0.8.0 *failed*, so `helm get metadata` alone does not say what runs.
          assert.equal((await helm.getRelease('kagent')).applyMethod, 'ssa', 'Helm 4 installs server-side');
          const args = upgradeArgs({ ...request, helmMajor: 4, reuseValues: 'reset-then-reuse', extra: [] });
          assert.ok(!args.includes('--force-conflicts'));
          const err = await helm.run(args).then(() => undefined, (e: unknown) => e);
          assert.ok(err instanceof CommandFailedError, String(err));
          assert.match(err.stderr, /conflict with "kubectl" with subresource "scale" using apps\/v1: \.spec\.replicas/);
          const failed = await helm.getRelease('kagent');
          assert.deepEqual([failed.version, failed.status, failed.revision], ['0.8.0', 'failed', 2]);
          assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 0);
        }
        const lines: string[] = [];
        await helm.upgrade(request, (line) => lines.push(line));
        assert.ok(lines.some((l) => /Release "kagent" has been upgraded/.test(l)), lines.join('\n'));

        const release = await helm.getRelease('kagent');
        assert.deepEqual([release.version, release.status], ['0.8.0', 'deployed']);
        assert.match(release.annotations['schema-rollback.io/tracks']!, /revision: "8"/);
        const userValues = JSON.parse((await cli(['get', 'values', 'kagent', '-n', ns, '-o', 'json'])).stdout);
        assert.deepEqual(userValues, { database: { url: DB_URL }, replicaCount: 2 });
        assert.equal((await helm.getValues('kagent'))['image'] !== undefined, true, 'the 0.8.0 chart defaults are there');
        assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 2);
      });

      it('passes the user\'s extra flags last, and reports a failed upgrade as CommandFailedError', async () => {
        await helm.upgrade({ release: 'kagent', chart: 'fx/kagent', version: '0.8.0', extra: ['--set', 'replicaCount=1'] });
        assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 1);
        const values = JSON.parse((await cli(['get', 'values', 'kagent', '-n', ns, '-o', 'json'])).stdout);
        assert.deepEqual(values, { database: { url: DB_URL }, replicaCount: 1 });
        const err = await helm.upgrade({ release: 'kagent', chart: 'fx/kagent', version: '0.8.0', extra: ['--no-such-flag'] }).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof CommandFailedError, String(err));
        assert.match(err.message, /unknown flag: --no-such-flag/);
      });
    });
  }

  it('Helm 4 upgrades a release Helm 3 installed without --force-conflicts: it stays client-side, where Helm 4 rejects the flag', async () => {
    const ns = 'mixed';
    const env3 = cleanEnv({ ...helmEnv(join(dir, 'home-3')), ...cluster.env });
    const env4 = cleanEnv({ ...helmEnv(join(dir, 'home-4')), ...cluster.env });
    for (const [h, env] of [[helms[0], env3], [helms[1], env4]] as const) await runOk(h.bin, ['repo', 'add', 'fx', repo.url, '--force-update'], { env });
    await runOk(helms[0].bin, ['install', 'kagent', 'fx/kagent', '--version', '0.9.0', '-n', ns, '--create-namespace', '--wait', '--set', `database.url=${DB_URL}`], { env: env3 });
    const kube = createKubectl({ bin: kubectlBin, namespace: ns, env: env4, log: noLog });
    await kube.scale('deployment', 'kagent-controller', 0);
    const helm4 = createHelm({ bin: helms[1].bin, namespace: ns, env: env4, log: noLog });
    assert.equal((await helm4.getRelease('kagent')).applyMethod, undefined);
    const forced = await helm4.run(['upgrade', 'kagent', 'fx/kagent', '--version', '0.8.0', '--reset-then-reuse-values', '--force-conflicts']).then(() => undefined, (e: unknown) => e);
    assert.match(String(forced), /forceConflicts enabled when serverSideApply disabled/);
    await helm4.upgrade({ release: 'kagent', chart: 'fx/kagent', version: '0.8.0', wait: true, timeout: '60s' });
    const meta = JSON.parse((await runOk(helms[1].bin, ['get', 'metadata', 'kagent', '-n', ns, '-o', 'json'], { env: env4 })).stdout);
    assert.deepEqual([meta.version, meta.status, meta.revision, meta.applyMethod], ['0.8.0', 'deployed', 3, 'csa']);
    assert.deepEqual(JSON.parse((await runOk(helms[1].bin, ['get', 'values', 'kagent', '-n', ns, '-o', 'json'], { env: env4 })).stdout), { database: { url: DB_URL } });
    assert.equal(await kube.getReplicas('deployment', 'kagent-controller'), 1);
  });
});
