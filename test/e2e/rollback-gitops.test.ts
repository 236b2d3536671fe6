/**
 * GitOps mode end to end, the kagent case through the binary: the release's controller Deployment
 * carries Argo CD's tracking annotation (or Flux's origin labels) and the API double serves the
 * Application (or HelmRelease). With the controller's sync on the rollback is refused with nothing
 * changed; with it paused the downs run, no helm upgrade happens (helm history unchanged), the
 * stopped controller stays at 0 and the output gives the exact Git change and what to do next.
 */
import assert from 'node:assert/strict';
import { KAGENT_SOURCE as SOURCE, kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions } from '../harness/plugin.js';
import { assertInOrder, scenario, type Scenario } from '../harness/scenario.js';
import type { KubeObject } from '../kube/index.js';

const NS = 'ai';
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };
const APPLICATION = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' };
const HELM_RELEASE = { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease' };
const AT_0_9_0 = [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]];
const AT_0_8_0 = [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]];
// GitOps mode does not depend on helm's version (it runs no helm upgrade): one is enough.
const helm = helmVersions[0]!;

function kagent(prefix: string): Scenario {
  return scenario({
    helm, prefix, namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
    images: () => ({}), needsDouble: 'the double serves Argo CD Applications and Flux HelmReleases', deployment: 'kagent-controller',
    prepare: migrateKagent09,
  });
}

/** Marks the release's controller as the GitOps controller would (its labels and annotations). */
function markOwned(s: Scenario, marks: { labels?: Record<string, string>; annotations?: Record<string, string> }): void {
  const double = s.world.cluster.double!;
  const d = double.get(DEPLOYMENT, 'kagent-controller', NS)!;
  d.metadata.labels = { ...d.metadata.labels, ...marks.labels };
  d.metadata.annotations = { ...d.metadata.annotations, ...marks.annotations };
  double.put(d);
}

function put(s: Scenario, obj: KubeObject): void {
  s.world.cluster.double!.put(obj);
}

async function assertNothingChanged(s: Scenario): Promise<void> {
  assert.deepEqual(await versionRows(s.db.url), AT_0_9_0);
  assert.equal(await s.replicas(), '2');
  assert.deepEqual(await s.history(), ['kagent-0.9.0']);
}

describe(`e2e rollback of a release Argo CD deploys (GitOps mode), through ${helm.label}`, function () {
  this.timeout(300_000);
  const s = kagent('hsr-gitops-argo-');
  const application = (syncPolicy: object): KubeObject => ({
    ...APPLICATION,
    metadata: { name: 'kagent', namespace: 'argocd' },
    spec: {
      project: 'default',
      source: { repoURL: 'https://charts.example.com', chart: 'kagent', targetRevision: '0.9.0', helm: { values: 'auth:\n  password: s3cret-value\n' } },
      destination: { server: 'https://kubernetes.default.svc', namespace: NS },
      syncPolicy,
    },
  });

  before(() => markOwned(s, { annotations: { 'argocd.argoproj.io/tracking-id': 'kagent:apps/Deployment:ai/kagent-controller' } }));

  it('refuses while automated sync is on (exit 12), naming how to pause it, with nothing changed, also in --dry-run', async () => {
    put(s, application({ automated: { prune: true, selfHeal: true } }));
    for (const mode of ['--dry-run', '--yes']) {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, mode]);
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /release kagent is managed by Argo CD Application argocd\/kagent with its automated sync on \(self-heal too\): after the downs it would re-apply chart 0\.9\.0/);
      assert.match(r.stderr, /pause it first: argocd app set kagent --sync-policy none/);
      assert.doesNotMatch(r.stderr, /scaled|track core:/);
    }
    await assertNothingChanged(s);
  });

  it('with the sync paused: the downs run, no helm upgrade, the controller kept at 0, the Application\'s Git change printed (never its values)', async () => {
    put(s, application({ syncOptions: ['CreateNamespace=true'] }));
    const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^Deployed by Argo CD Application argocd\/kagent \(annotation argocd\.argoproj\.io\/tracking-id on deployment\/kagent-controller\): GitOps mode/m);
    assert.match(r.stdout, /^ {2}\d\. print the change to make in Git for Application argocd\/kagent \(no helm upgrade/m);
    assertInOrder(r.stderr, ['scaled deployment/kagent-controller 2 -> 0', 'track core: verified at 8', 'no helm upgrade (GitOps mode)']);
    assertInOrder(r.stdout, [
      "Schema of kagent rolled back to what chart kagent 0.8.0 expects; the release still runs chart 0.9.0 (Argo CD deploys it: no helm upgrade was run).\n",
      'Change to make in Git: in the Git file that holds Application argocd/kagent, set spec.source.targetRevision from 0.9.0 to 0.8.0 (values unchanged: the rollback keeps the release\'s values)\n',
      '--- a/Application argocd/kagent (live)\n+++ b/Application argocd/kagent\n',
      '     chart: kagent\n-    targetRevision: 0.9.0\n+    targetRevision: 0.8.0\n',
      '  1. commit and push that change\n  2. once Git holds the change: restore the sync policy (argocd app set kagent --sync-policy automated',
      `  3. watch the workloads come back at chart 0.8.0's replicas: kubectl -n ${NS} rollout status deployment/kagent-controller`,
      'Do not sync Application argocd/kagent before the commit',
    ]);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /s3cret-value|helm upgrade kagent fixtures\/kagent --version 0\.8\.0\n/);
    assert.deepEqual(await versionRows(s.db.url), AT_0_8_0);
    assert.equal(await s.replicas(), '0', 'kept at 0: chart 0.9.0\'s controller would migrate up again; the sync of 0.8.0 sets its replicas');
    assert.deepEqual(await s.history(), ['kagent-0.9.0'], 'no helm upgrade');
  });
});

describe(`e2e rollback of a release Flux deploys (GitOps mode), through ${helm.label}`, function () {
  this.timeout(300_000);
  const s = kagent('hsr-gitops-flux-');
  const helmRelease = (suspend: boolean): KubeObject => ({
    ...HELM_RELEASE,
    metadata: { name: 'kagent', namespace: 'flux-apps' },
    spec: { interval: '5m', suspend, chart: { spec: { chart: 'kagent', version: '0.9.0', sourceRef: { kind: 'HelmRepository', name: 'fixtures' } } }, values: { replicaCount: 2 } },
  });

  before(() => markOwned(s, { labels: { 'helm.toolkit.fluxcd.io/name': 'kagent', 'helm.toolkit.fluxcd.io/namespace': 'flux-apps' } }));

  it('refuses while the HelmRelease is not suspended (exit 12), naming flux suspend, with nothing changed', async () => {
    put(s, helmRelease(false));
    const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
    assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /release kagent is managed by Flux HelmRelease flux-apps\/kagent with its reconciliation on \(not suspended\)/);
    assert.match(r.stderr, /pause it first: flux suspend helmrelease kagent -n flux-apps/);
    await assertNothingChanged(s);
  });

  it('suspended: the downs run, no helm upgrade, the HelmRelease\'s Git change and flux resume printed; -o json carries it too', async () => {
    put(s, helmRelease(true));
    const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assertInOrder(r.stdout, [
      'set spec.chart.spec.version from 0.9.0 to 0.8.0',
      '--- a/HelmRelease flux-apps/kagent (live)\n',
      '       chart: kagent\n-      version: 0.9.0\n+      version: 0.8.0\n',
      "  2. once Git holds the change and Flux's source has it: flux resume helmrelease kagent -n flux-apps\n",
    ]);
    assert.deepEqual(await versionRows(s.db.url), AT_0_8_0);
    assert.equal(await s.replicas(), '0');
    assert.deepEqual(await s.history(), ['kagent-0.9.0'], 'no helm upgrade');
    // A re-run finds every track at its target and only prints the change again.
    const again = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '-o', 'json']);
    assert.equal(again.exitCode, 0, again.stderr);
    const plan = JSON.parse(again.stdout);
    assert.equal(plan.gitops.object, 'HelmRelease flux-apps/kagent');
    assert.match(plan.gitops.diff, /\+ {6}version: 0\.8\.0/);
  });
});
