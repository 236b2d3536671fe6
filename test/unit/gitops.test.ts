/**
 * GitOps mode without a cluster: who owns a release (from its objects' labels and annotations, as
 * Argo CD and Flux set them), what the plan refuses (a controller syncing on its own), and the
 * exact Git change it prints instead of helm upgrade.
 */
import assert from 'node:assert/strict';
import { ClusterError, ExitCode } from '../../src/core/errors.js';
import type { RollbackFacts } from '../../src/core/facts.js';
import { detectGitOps, gitOpsFacts, gitOpsHandoff, readGitOps, type GitOpsFacts, type GitOpsObjectsPort, type GitOpsOwner } from '../../src/core/gitops.js';
import { planRollback } from '../../src/core/plan.js';
import type { KubeObject, KubePort } from '../../src/core/ports.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';

const deployment = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'kagent-controller', namespace: 'ai', labels, annotations },
});

const application = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'kagent', namespace: 'argocd' }, spec });
const helmRelease = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'kagent', namespace: 'flux-apps' }, spec });

const ARGO: GitOpsOwner = { controller: 'argocd', namespace: 'argocd', name: 'kagent', detectedFrom: 'test' };
const FLUX: GitOpsOwner = { controller: 'flux', namespace: 'flux-apps', name: 'kagent', detectedFrom: 'test' };
const argoSource = { repoURL: 'https://charts.example.com', chart: 'kagent', targetRevision: '0.9.0', helm: { values: 'database:\n  password: s3cret-value\n' } };

describe('GitOps: who owns the release', () => {
  it('reads Argo CD\'s tracking-id annotation: the Application in argocd, or NAMESPACE_NAME for one in another namespace', () => {
    assert.deepEqual(detectGitOps([deployment({}, { 'argocd.argoproj.io/tracking-id': 'kagent:apps/Deployment:ai/kagent-controller' })]), {
      controller: 'argocd', namespace: 'argocd', name: 'kagent', detectedFrom: 'annotation argocd.argoproj.io/tracking-id on deployment/kagent-controller',
    });
    assert.deepEqual(detectGitOps([deployment({}, { 'argocd.argoproj.io/tracking-id': 'team-ai_kagent:apps/Deployment:ai/kagent-controller' })])?.namespace, 'team-ai');
  });

  it('reads the argocd.argoproj.io/instance label, and Flux\'s two origin labels', () => {
    assert.equal(detectGitOps([deployment({ 'argocd.argoproj.io/instance': 'kagent' })])?.controller, 'argocd');
    assert.deepEqual(detectGitOps([deployment({ 'helm.toolkit.fluxcd.io/name': 'kagent', 'helm.toolkit.fluxcd.io/namespace': 'flux-apps' })]), {
      controller: 'flux', namespace: 'flux-apps', name: 'kagent', detectedFrom: 'labels helm.toolkit.fluxcd.io/name, helm.toolkit.fluxcd.io/namespace on deployment/kagent-controller',
    });
  });

  it('takes no chart\'s own labels for a controller: app.kubernetes.io/instance, managed-by Helm, one Flux label alone', () => {
    assert.equal(detectGitOps([deployment({ 'app.kubernetes.io/instance': 'kagent', 'app.kubernetes.io/managed-by': 'Helm', 'helm.toolkit.fluxcd.io/name': 'kagent' })]), undefined);
  });

  it('reads the owner\'s object where the labels say, and fails naming it when it is gone', async () => {
    const asked: string[] = [];
    const kube: KubePort = { get: async () => deployment({ 'helm.toolkit.fluxcd.io/name': 'kagent', 'helm.toolkit.fluxcd.io/namespace': 'flux-apps' }) };
    const objects = (found: KubeObject | undefined): GitOpsObjectsPort => ({ get: async (resource, ns, name) => (asked.push(`${resource} ${ns}/${name}`), found) });
    const c = { choice: 'auto' as const, release: 'kagent', namespace: 'ai', refs: ['deployment/kagent-controller'], manifest: Promise.resolve([]) };
    const facts = await readGitOps(kube, objects(helmRelease({ chart: { spec: { chart: 'kagent', version: '0.9.0' } } })), c);
    assert.equal(facts?.autoSync, true);
    assert.deepEqual(asked, ['helmreleases.helm.toolkit.fluxcd.io flux-apps/kagent']);
    await assert.rejects(readGitOps(kube, objects(undefined), c), (err: unknown) => err instanceof ClusterError && /HelmRelease flux-apps\/kagent not found/.test(err.message));
    await assert.rejects(readGitOps(kube, objects(undefined), { ...c, choice: 'argocd' }), /--gitops argocd, but the release's objects say Flux manages it/);
    assert.equal(await readGitOps(kube, objects(undefined), { ...c, choice: 'none' }), undefined);
  });

  it('--gitops without labels looks for the object named like the release (Argo CD: in argocd; Flux: in the release\'s namespace)', async () => {
    const asked: string[] = [];
    const kube: KubePort = { get: async () => deployment() };
    const objects: GitOpsObjectsPort = { get: async (resource, ns, name) => (asked.push(`${resource} ${ns}/${name}`), application({ source: argoSource })) };
    const c = { release: 'kagent', namespace: 'ai', refs: ['deployment/kagent-controller'], manifest: Promise.resolve([]) };
    assert.equal(await readGitOps(kube, objects, { ...c, choice: 'auto' }), undefined);
    await readGitOps(kube, objects, { ...c, choice: 'argocd' });
    await readGitOps(kube, objects, { ...c, choice: 'flux' });
    assert.deepEqual(asked, ['applications.argoproj.io argocd/kagent', 'helmreleases.helm.toolkit.fluxcd.io ai/kagent']);
  });
});

describe('GitOps: auto-sync', () => {
  it('Argo CD: on with spec.syncPolicy.automated (self-heal as set), off without it or with enabled: false', () => {
    assert.deepEqual(pick(gitOpsFacts(ARGO, application({ source: argoSource, syncPolicy: { automated: { selfHeal: true, prune: true } } }))), { autoSync: true, selfHeal: true });
    assert.deepEqual(pick(gitOpsFacts(ARGO, application({ source: argoSource, syncPolicy: { automated: {} } }))), { autoSync: true, selfHeal: false });
    assert.deepEqual(pick(gitOpsFacts(ARGO, application({ source: argoSource, syncPolicy: { syncOptions: ['CreateNamespace=true'] } }))), { autoSync: false, selfHeal: false });
    assert.deepEqual(pick(gitOpsFacts(ARGO, application({ source: argoSource, syncPolicy: { automated: { enabled: false, selfHeal: true } } }))), { autoSync: false, selfHeal: false });
  });

  it('Flux: on unless spec.suspend is true', () => {
    assert.equal(gitOpsFacts(FLUX, helmRelease({ chart: { spec: { chart: 'kagent', version: '0.9.0' } } })).autoSync, true);
    assert.equal(gitOpsFacts(FLUX, helmRelease({ suspend: false, chart: { spec: { chart: 'kagent', version: '0.9.0' } } })).autoSync, true);
    assert.equal(gitOpsFacts(FLUX, helmRelease({ suspend: true, chart: { spec: { chart: 'kagent', version: '0.9.0' } } })).autoSync, false);
  });
});

const pick = (g: GitOpsFacts) => ({ autoSync: g.autoSync, selfHeal: g.selfHeal });

describe('GitOps: the Git change', () => {
  it('Argo CD: a unified diff of spec.source.targetRevision from the live Application, never its values', () => {
    const h = gitOpsHandoff(gitOpsFacts(ARGO, application({ source: argoSource })), '0.8.0');
    assert.equal(h.diff, [
      '--- a/Application argocd/kagent (live)',
      '+++ b/Application argocd/kagent',
      '@@ -1,10 +1,10 @@',
      ' apiVersion: argoproj.io/v1alpha1',
      ' kind: Application',
      ' metadata:',
      '   name: kagent',
      '   namespace: argocd',
      ' spec:',
      '   source:',
      '     repoURL: https://charts.example.com',
      '     chart: kagent',
      '-    targetRevision: 0.9.0',
      '+    targetRevision: 0.8.0',
    ].join('\n'));
    assert.match(h.change, /set spec\.source\.targetRevision from 0\.9\.0 to 0\.8\.0/);
    assert.match(h.resume, /argocd app set kagent --sync-policy automated/);
    assert.doesNotMatch(JSON.stringify(h), /s3cret-value/);
  });

  it('Argo CD with several sources: the chart\'s one, by its index', () => {
    const h = gitOpsHandoff(gitOpsFacts(ARGO, application({ sources: [{ repoURL: 'https://git.example.com/values.git', ref: 'values' }, argoSource] })), '0.8.0');
    assert.match(h.change, /set spec\.sources\[1\]\.targetRevision from 0\.9\.0 to 0\.8\.0/);
    assert.match(h.diff!, /^-\s+targetRevision: 0\.9\.0\n\+\s+targetRevision: 0\.8\.0$/m);
  });

  it('Flux: a unified diff of spec.chart.spec.version; with a chartRef, where the version is instead', () => {
    const h = gitOpsHandoff(gitOpsFacts(FLUX, helmRelease({ suspend: true, chart: { spec: { chart: 'kagent', version: '0.9.0', sourceRef: { kind: 'HelmRepository', name: 'kagent' } } }, values: { password: 's3cret-value' } })), '0.8.0');
    assert.match(h.diff!, /^ {7}chart: kagent\n- {6}version: 0\.9\.0\n\+ {6}version: 0\.8\.0\n {7}sourceRef:\n {9}kind: HelmRepository$/m);
    assert.match(h.resume, /^once Git holds the change and Flux's source has it: flux resume helmrelease kagent -n flux-apps$/);
    assert.doesNotMatch(JSON.stringify(h), /s3cret-value/);
    const ref = gitOpsHandoff(gitOpsFacts(FLUX, helmRelease({ chartRef: { kind: 'OCIRepository', name: 'kagent' } })), '0.8.0');
    assert.equal(ref.diff, undefined);
    assert.match(ref.change, /spec\.chartRef \(OCIRepository kagent\): its version is that object's spec\.ref/);
  });

  it('Argo CD with the chart in a Git path: no diff, the change said in words', () => {
    const h = gitOpsHandoff(gitOpsFacts(ARGO, application({ source: { repoURL: 'https://git.example.com/app.git', path: 'charts/kagent', targetRevision: 'main' } })), '0.8.0');
    assert.equal(h.diff, undefined);
    assert.match(h.change, /the chart is read from Git \(path charts\/kagent\)/);
  });
});

describe('GitOps: the plan', () => {
  const facts = (gitops: GitOpsFacts | undefined, extraHelmArgs: string[] = []): RollbackFacts => ({
    request: { to: '0.8.0', runner: 'native', extraHelmArgs, archive: { enabled: true, maxBytes: 1024 ** 3 } },
    release: { name: 'kagent', namespace: 'ai', revision: 3, status: 'deployed', chart: 'kagent', version: '0.9.0', annotations: {} },
    target: { name: 'kagent', version: '0.8.0', annotations: {}, ref: 'fixtures/kagent' },
    targets: { core: { revision: '8', source: 'annotations' } },
    tracks: [{ spec: { name: 'core', tool: 'golang-migrate', revision: '13', table: 'schema_migrations' }, tool: golangMigrate, table: { table: 'schema_migrations' }, state: { tableExists: true, revisions: ['13'], dirty: false } }],
    names: { 'Release.Name': 'kagent' },
    database: { urlSource: 'flag', route: 'direct' },
    runLock: { held: false },
    handoffCheck: { ok: true },
    stop: [{ ref: 'deployment/kagent-controller', replicas: 2 }],
    stopFrom: 'schema-rollback.io/stop',
    runner: { name: 'native' },
    permissions: { checked: [], missing: [] },
    previews: {},
    dataAtRisk: [],
    ...(gitops ? { gitops } : {}),
  });

  it('refuses (exit 12) a release whose controller syncs on its own, naming how to pause it', () => {
    const argo = planRollback(facts(gitOpsFacts(ARGO, application({ source: argoSource, syncPolicy: { automated: { selfHeal: true } } }))));
    assert.equal(argo.refusals.length, 1);
    assert.equal(argo.refusals[0]!.code, ExitCode.refused);
    assert.match(argo.refusals[0]!.reason, /managed by Argo CD Application argocd\/kagent with its automated sync on \(self-heal too\): after the downs it would re-apply chart 0\.9\.0, whose workloads migrate the schema up again, and put the stopped workloads back/);
    assert.match(argo.refusals[0]!.hint!, /argocd app set kagent --sync-policy none/);
    const flux = planRollback(facts(gitOpsFacts(FLUX, helmRelease({ chart: { spec: { chart: 'kagent', version: '0.9.0' } } }))));
    assert.match(flux.refusals[0]!.hint!, /flux suspend helmrelease kagent -n flux-apps/);
  });

  it('plans the Git change with the sync paused; refuses helm flags after "--" (exit 2), which no helm upgrade would take', () => {
    const paused = gitOpsFacts(FLUX, helmRelease({ suspend: true, chart: { spec: { chart: 'kagent', version: '0.9.0' } } }));
    const plan = planRollback(facts(paused));
    assert.deepEqual(plan.refusals, []);
    assert.match(plan.gitops!.diff!, /\+ {6}version: 0\.8\.0/);
    const flagged = planRollback(facts(paused, ['--set', 'a=b']));
    assert.deepEqual(flagged.refusals.map((r) => r.code), [ExitCode.usage]);
    assert.equal(planRollback(facts(undefined)).gitops, undefined);
  });
});
