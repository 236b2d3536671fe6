/**
 * Argo CD without a Helm release, end to end through the binary: the kagent chart is rendered with
 * `helm template` and its objects applied to the API double as Argo CD applies them (its tracking
 * annotation on each, no Helm release in storage), and the double serves the Application that names
 * the chart by its repository URL. The rollback finds no Helm release, reads the Application, takes
 * the chart, version, release name, namespace and values from it, and goes the GitOps way: refused
 * while the Application syncs on its own; paused, the downs run and the Git change is printed, and
 * still no Helm release exists. Values files (in Git) are refused; no Application either is exit 3.
 */
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { requireDouble } from '../harness/cluster.js';
import { KAGENT_SOURCE as SOURCE, kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions, kubectl, run, type RunResult } from '../harness/plugin.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { assertInOrder } from '../harness/scenario.js';
import { startWorld, type World } from '../harness/world.js';
import type { KubeDouble, KubeObject } from '../kube/index.js';

const NS = 'ai';
const APPLICATION = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' };
const AT_0_9_0 = [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]];
const AT_0_8_0 = [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]];

for (const helm of helmVersions) {
  describe(`e2e rollback of an Argo CD Application with no Helm release, through ${helm.label}`, function () {
    this.timeout(300_000);
    let world: World;
    let double: KubeDouble;
    const sr = (args: string[]): Promise<RunResult> => world.plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
    const replicas = async () => (await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;
    /** The Application as it is in the cluster: the chart by repository URL, the values inline (the database URL is a secret). */
    const application = (changes: { syncPolicy?: object; helm?: object } = {}): KubeObject => ({
      ...APPLICATION,
      metadata: { name: 'kagent', namespace: 'argocd' },
      spec: {
        project: 'default',
        source: {
          repoURL: world.repo.url, chart: 'kagent', targetRevision: '0.9.0',
          helm: { values: `database:\n  url: ${world.db.url}\n`, parameters: [{ name: 'replicaCount', value: '2' }], ...changes.helm },
        },
        destination: { server: 'https://kubernetes.default.svc', namespace: NS },
        ...(changes.syncPolicy ? { syncPolicy: changes.syncPolicy } : {}),
      },
    });
    const assertNothingChanged = async () => {
      assert.deepEqual(await versionRows(world.db.url), AT_0_9_0);
      assert.equal(await replicas(), '2');
      assert.deepEqual(double.helmReleases({ namespace: NS }), [], 'no Helm release');
    };
    const neverSecret = (r: RunResult) => assert.ok(!`${r.stdout}${r.stderr}`.includes(world.db.url), 'the database URL (in the Application\'s values) is never printed');

    before(async function () {
      world = await startWorld(helm.bin, 'hsr-argo-norelease-', { charts: ['kagent'] });
      double = requireDouble(this, world.cluster, 'Argo CD\'s apply is played by writing the rendered objects into the double');
      // What Argo CD does: helm template with the Application's values, then apply each object with its tracking annotation.
      const rendered = (await world.helmOk(['template', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--set', `database.url=${world.db.url}`, '--set', 'replicaCount=2'])).stdout;
      for (const doc of parseAllDocuments(rendered)) {
        const o = doc.toJS() as KubeObject | null;
        if (!o) continue;
        const group = (o.apiVersion ?? '').includes('/') ? o.apiVersion!.split('/')[0] : '';
        o.metadata.namespace = NS;
        o.metadata.annotations = { ...o.metadata.annotations, 'argocd.argoproj.io/tracking-id': `kagent:${group}/${o.kind}:${NS}/${o.metadata.name}` };
        double.put(o);
      }
      // Helm 3.17 has the repository under a name (fixtures: used by name, from the chart cache);
      // Helm 4.1 has it not (the charts are read with --repo URL, as without helm repo add).
      if (helm.major === 4) await world.helmOk(['repo', 'remove', 'fixtures']);
      await migrateKagent09(world.db.url);
    });
    after(async () => {
      await world?.close();
    });

    it('no Application either: the release-not-found error (exit 3), its hint naming --argocd-app', async () => {
      for (const args of [['kagent-other'], ['kagent', '--argocd-app', 'nope']]) {
        const r = await sr([...args, '--to', '0.8.0', '--source', SOURCE, '--yes']);
        assert.equal(r.exitCode, 3, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /release "kagent(-other)?" not found in namespace "ai"/);
        assert.match(r.stderr, /no Argo CD Application argocd\/(kagent-other|nope) deploys it either: if Argo CD deploys it under another name, pass --argocd-app NAME/);
      }
      const contradicts = await sr(['kagent', '--to', '0.8.0', '--argocd-app', 'kagent', '--gitops', 'none']);
      assert.equal(contradicts.exitCode, 2, contradicts.stderr);
      assert.match(contradicts.stderr, /--argocd-app names an Argo CD Application, and --gitops none says Argo CD does not deploy the release/);
      await assertNothingChanged();
    });

    it('values files in Git: refused (exit 12) naming the file, nothing changed', async () => {
      double.put(application({ helm: { valueFiles: ['values-prod.yaml'] } }));
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Argo CD Application argocd\/kagent takes values from files in Git \(spec\.source\.helm\.valueFiles: values-prod\.yaml\)/);
      assert.match(r.stderr, /put those values in the Application itself/);
      await assertNothingChanged();
    });

    it('automated sync on: refused (exit 12) before any change, naming how to pause it, also in --dry-run', async () => {
      double.put(application({ syncPolicy: { automated: { prune: true, selfHeal: true } } }));
      for (const mode of ['--dry-run', '--yes']) {
        const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, mode]);
        assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /release kagent is managed by Argo CD Application argocd\/kagent with its automated sync on \(self-heal too\): after the downs it would re-apply chart 0\.9\.0/);
        assert.match(r.stderr, /pause it first: argocd app set kagent --sync-policy none/);
        assert.doesNotMatch(r.stderr, /scaled|track core:/);
        neverSecret(r);
      }
      await assertNothingChanged();
    });

    it('paused: the plan says there is no Helm release; the downs run, the controller kept at 0, the targetRevision change printed, still no Helm release', async () => {
      double.put(application());
      const plan = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
      assert.equal(plan.exitCode, 0, `${plan.stdout}\n${plan.stderr}`);
      assertInOrder(plan.stdout, [
        `Release kagent (namespace ${NS}): chart kagent 0.9.0 -> 0.8.0 (kagent in ${world.repo.url})`,
        'Deployed by Argo CD Application argocd/kagent (no Helm release kagent in namespace ai: the Application named like the release, rendered with helm template): GitOps mode',
        'scale deployment/kagent-controller 2->0',
        'print the change to make in Git for Application argocd/kagent (no helm upgrade',
        'Hand-off not checked with helm upgrade --dry-run: there is no Helm release to upgrade',
      ]);
      neverSecret(plan);

      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assertInOrder(r.stderr, ['scaled deployment/kagent-controller 2 -> 0', 'track core: verified at 8', 'no helm upgrade (GitOps mode)']);
      assertInOrder(r.stdout, [
        'Schema of kagent rolled back to what chart kagent 0.8.0 expects; the release still runs chart 0.9.0 (Argo CD deploys it: no helm upgrade was run).\n',
        'Change to make in Git: in the Git file that holds Application argocd/kagent, set spec.source.targetRevision from 0.9.0 to 0.8.0',
        '--- a/Application argocd/kagent (live)\n+++ b/Application argocd/kagent\n',
        '     chart: kagent\n-    targetRevision: 0.9.0\n+    targetRevision: 0.8.0\n',
        '  1. commit and push that change\n',
      ]);
      neverSecret(r);
      assert.deepEqual(await versionRows(world.db.url), AT_0_8_0);
      assert.equal(await replicas(), '0', 'kept at 0 until Argo CD applies chart 0.8.0');
      assert.deepEqual(double.helmReleases({ namespace: NS }), [], 'no Helm release was created');

      // A re-run finds every track at its target; -o json keeps the plan's schema, and says no hand-off check ran.
      const again = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '-o', 'json']);
      assert.equal(again.exitCode, 0, again.stderr);
      const [doc] = assertOutputDocuments(again.stdout, 'json', ['Plan']);
      assert.equal(doc!['handoffCheck'], 'none: no Helm release');
      assert.deepEqual(doc!['release'], { name: 'kagent', namespace: NS, chart: 'kagent', version: '0.9.0', revision: 0 });
      assert.match((doc!['gitops'] as { diff: string }).diff, /\+ {4}targetRevision: 0\.8\.0/);
    });
  });
}
