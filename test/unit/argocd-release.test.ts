/**
 * An Argo CD Application read as a release when no Helm release exists (src/core/argocd-release.ts),
 * without a cluster: which chart and version run, the user's values as Argo CD passes them to helm
 * template, and every refusal (another namespace or cluster, a chart from Git, values files, a
 * version range Argo CD has not resolved, workloads the chart does not render or the cluster lacks).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  argoHelm, argoReleaseInstead, argoValues, checkArgoWorkloads, chartRefText, coalesceValues, noReleaseNorApplication, readArgoRelease, runningVersion, setValue, type ArgoRelease,
} from '../../src/core/argocd-release.js';
import { ClusterError, CommandFailedError, ExitCode, ReleaseNotFoundError, RollbackError } from '../../src/core/errors.js';
import type { GitOpsObjectsPort } from '../../src/core/gitops.js';
import type { ChartPort, ChartRenderPort, HelmPort, HelmUpgradePort, KubeObject, KubePort, ReleaseManifestPort, RepoChartRef, RepoChartsPort } from '../../src/core/ports.js';
import { createRepoCharts, repoChartArgs } from '../../src/adapters/gitops-objects.js';

const REPO = 'https://charts.example.com';
const WHO = 'Argo CD Application argocd/kagent';

const application = (spec: Record<string, unknown>, status?: Record<string, unknown>, name = 'kagent'): KubeObject =>
  ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name, namespace: 'argocd' }, spec, ...(status ? { status } : {}) }) as KubeObject;

const spec = (source: Record<string, unknown> = {}, destination: Record<string, unknown> = { server: 'https://kubernetes.default.svc', namespace: 'ai' }) => ({
  project: 'default', source: { repoURL: REPO, chart: 'kagent', targetRevision: '0.9.0', ...source }, destination,
});

const objects = (apps: KubeObject[]): GitOpsObjectsPort & { asked: string[] } => {
  const asked: string[] = [];
  return {
    asked,
    async get(resource, namespace, name) {
      asked.push(`${resource} ${namespace}/${name}`);
      return apps.find((a) => a.metadata.namespace === namespace && a.metadata.name === name);
    },
  };
};

/** A chart repository double: Chart.yaml per version, and the objects a render gives; it records what it was asked. */
function charts(): RepoChartsPort & { rendered: Array<{ ref: RepoChartRef; release: string; version: string; values: Record<string, unknown> }> } {
  const rendered: Array<{ ref: RepoChartRef; release: string; version: string; values: Record<string, unknown> }> = [];
  return {
    rendered,
    async showChart(_ref, version) {
      return { name: 'kagent', version, appVersion: version, annotations: { 'schema-rollback.io/stop': 'deployment/{{ .Fullname }}-controller' } };
    },
    async showValues() {
      return { replicaCount: 1, image: { repository: 'example/kagent', tag: '' }, fullnameOverride: '' };
    },
    async renderChart(ref, r) {
      rendered.push({ ref, release: r.release, version: r.version, values: r.values });
      return [
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${r.release}-db` }, data: { url: 'c2VjcmV0' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${r.release}-controller` } },
      ];
    },
  };
}

const read = (apps: KubeObject[], c: Partial<Parameters<typeof readArgoRelease>[1]> = {}) =>
  readArgoRelease({ objects: objects(apps), charts: charts() }, { release: 'kagent', namespace: 'ai', choice: {}, ...c });

async function refused(p: Promise<unknown>, code: number, message: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RollbackError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    if (hint) assert.match(err.hint ?? '', hint);
    return true;
  });
}

describe('Argo CD without a Helm release: the Application read as a release', () => {
  it('takes the chart, its version, the release name and namespace from the Application, and renders the chart with its values', async () => {
    const c = charts();
    const apps = objects([application(spec({ helm: { releaseName: 'agents', valuesObject: { replicaCount: 2 } } }))]);
    const argo = (await readArgoRelease({ objects: apps, charts: c }, { release: 'kagent', namespace: 'ai', choice: {} }))!;
    assert.deepEqual(apps.asked, ['applications.argoproj.io argocd/kagent']);
    assert.deepEqual(argo.release, {
      name: 'agents', namespace: 'ai', revision: 0, status: 'deployed', chart: 'kagent', version: '0.9.0', appVersion: '0.9.0',
      annotations: { 'schema-rollback.io/stop': 'deployment/{{ .Fullname }}-controller' },
    });
    assert.equal(argo.ref, `kagent in ${REPO}`);
    assert.deepEqual(c.rendered, [{ ref: { repoURL: REPO, chart: 'kagent' }, release: 'agents', version: '0.9.0', values: { replicaCount: 2 } }]);
    // Identities only: a rendered Secret's data stays out.
    assert.deepEqual(argo.rendered, [{ apiVersion: 'v1', kind: 'Secret', name: 'agents-db' }, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'agents-controller' }]);
    assert.equal(argo.gitops.controller, 'argocd');
    assert.equal(argo.gitops.detectedFrom, 'no Helm release kagent in namespace ai: the Application named like the release, rendered with helm template');
    assert.deepEqual(argo.gitops.version?.path, ['spec', 'source', 'targetRevision']);
  });

  it('looks for --argocd-app in --argocd-namespace; none there is undefined (the caller keeps its release-not-found error)', async () => {
    const apps = objects([application(spec(), undefined, 'agents')]);
    assert.equal(await readArgoRelease({ objects: apps, charts: charts() }, { release: 'kagent', namespace: 'ai', choice: { app: 'agents', namespace: 'gitops' } }), undefined);
    assert.deepEqual(apps.asked, ['applications.argoproj.io gitops/agents']);
    const found = await readArgoRelease({ objects: apps, charts: charts() }, { release: 'kagent', namespace: 'ai', choice: { app: 'agents' } });
    assert.match(found!.gitops.detectedFrom, /: --argocd-app agents,/);
    // The release name defaults to the Application's name.
    assert.equal(found!.release.name, 'agents');
  });

  it('takes the spec.sources[] entry with a chart (the diff changes that entry)', async () => {
    const argo = (await read([application({ sources: [{ repoURL: 'https://git.example.com/values.git', ref: 'values' }, { repoURL: 'oci://ghcr.io/kagent-dev/charts', chart: 'kagent', targetRevision: '0.9.0' }], destination: { namespace: 'ai' } })]))!;
    assert.equal(argo.ref, 'oci://ghcr.io/kagent-dev/charts/kagent');
    assert.deepEqual(argo.gitops.version?.path, ['spec', 'sources', '1', 'targetRevision']);
  });

  it('refuses an Application that deploys into another namespace than the run\'s (-n), or to another cluster', async () => {
    await refused(read([application(spec({}, { server: 'https://kubernetes.default.svc', namespace: 'agents' }))]), ExitCode.usage,
      new RegExp(`${WHO} deploys into namespace agents, and this run acts in namespace ai`), /helm -n agents schema-rollback/);
    await refused(read([application(spec({}, { server: 'https://prod.example.com:6443', namespace: 'ai' }))]), ExitCode.usage, /deploys to another cluster \(spec\.destination server https:\/\/prod\.example\.com:6443\)/, /--kube-context/);
    await refused(read([application(spec({}, { name: 'prod', namespace: 'ai' }))]), ExitCode.usage, /another cluster \(spec\.destination name prod\)/);
    assert.ok(await read([application(spec({}, { name: 'in-cluster', namespace: 'ai' }))]));
  });

  it('refuses a chart from a Git path, values files and file parameters (naming them), and --chart', async () => {
    await refused(read([application({ source: { repoURL: 'https://git.example.com/kagent.git', path: 'helm/kagent', targetRevision: 'main' }, destination: { namespace: 'ai' } })]), ExitCode.refused,
      /takes its chart from Git \(path helm\/kagent\), not from a chart repository/);
    await refused(read([application(spec({ helm: { valueFiles: ['values.yaml', 'values-prod.yaml'] } }))]), ExitCode.refused,
      /takes values from files in Git \(spec\.source\.helm\.valueFiles: values\.yaml; spec\.source\.helm\.valueFiles: values-prod\.yaml\)/, /spec\.source\.helm\.valuesObject/);
    await refused(read([application(spec({ helm: { fileParameters: [{ name: 'config', path: 'files/config.json' }] } }))]), ExitCode.refused, /fileParameters: config=files\/config\.json/);
    await refused(read([application(spec())], { chart: 'fixtures/kagent' }), ExitCode.usage, /--chart fixtures\/kagent: release kagent has no Helm release/, /drop --chart/);
  });
});

describe('Argo CD without a Helm release: when the Application is looked for', () => {
  const notFound = new ReleaseNotFoundError('kagent', 'ai');
  const base = { release: 'kagent', namespace: 'ai', choice: {} };
  const noCrd: GitOpsObjectsPort = { get: async () => { throw new ClusterError('the cluster serves no applications.argoproj.io: its controller\'s CRD is not installed'); } };

  it('--gitops none or flux: the release-not-found error as it was, no Application read', async () => {
    for (const gitops of ['none', 'flux'] as const) {
      const apps = objects([application(spec())]);
      await assert.rejects(argoReleaseInstead({ objects: apps, charts: charts() }, { ...base, gitops }, notFound), (err) => err === notFound);
      assert.deepEqual(apps.asked, []);
    }
  });

  it('auto: no Argo CD in the cluster is still exit 3, saying why; --gitops argocd or a named --argocd-app says the cluster\'s error', async () => {
    await refused(argoReleaseInstead({ objects: noCrd, charts: charts() }, { ...base, gitops: 'auto' }, notFound), ExitCode.releaseNotFound,
      /not found in namespace "ai"/, /no Argo CD Application argocd\/kagent deploys it either \(the cluster serves no applications\.argoproj\.io/);
    await refused(argoReleaseInstead({ objects: noCrd, charts: charts() }, { ...base, gitops: 'argocd' }, notFound), ExitCode.cluster, /serves no applications\.argoproj\.io/);
    await refused(argoReleaseInstead({ objects: noCrd, charts: charts() }, { ...base, gitops: 'auto', choice: { app: 'agents' } }, notFound), ExitCode.cluster, /serves no applications\.argoproj\.io/);
    assert.equal((await argoReleaseInstead({ objects: objects([application(spec())]), charts: charts() }, { ...base, gitops: 'argocd' }, notFound)).release.version, '0.9.0');
  });
});

describe('Argo CD without a Helm release: the chart version that runs', () => {
  it('an exact targetRevision is the version', () => {
    assert.equal(runningVersion(WHO, '0.9.0', undefined, 'spec.source'), '0.9.0');
    assert.equal(runningVersion(WHO, '0.9.0', { history: [{ revision: '0.9.0' }] }, 'spec.source'), '0.9.0');
  });

  it('a range or * is what Argo CD last deployed (status.history), else what it resolved (status.sync.revision)', () => {
    assert.equal(runningVersion(WHO, '0.9.*', { sync: { revision: '0.9.2' }, history: [{ revision: '0.9.0' }, { revision: '0.9.1' }] }, 'spec.source'), '0.9.1');
    assert.equal(runningVersion(WHO, '*', { sync: { revision: '0.9.2' } }, 'spec.source'), '0.9.2');
    assert.equal(runningVersion(WHO, '>=0.8.0 <1.0.0', { history: [{ revisions: ['abc123', '0.9.0'] }] }, 'spec.sources[1]'), '0.9.0');
  });

  it('refuses a range nothing resolves, and an exact version Argo CD has not deployed', () => {
    assert.throws(() => runningVersion(WHO, '0.9.*', { sync: { revision: 'HEAD' } }, 'spec.source'), (err: RollbackError) =>
      err.code === ExitCode.refused && /asks for chart version "0\.9\.\*" \(spec\.source\.targetRevision\), a range/.test(err.message) && /set spec\.source\.targetRevision to the exact version/.test(err.hint ?? ''));
    assert.throws(() => runningVersion(WHO, '0.9.0', { history: [{ revision: '0.8.0' }] }, 'spec.source'), (err: RollbackError) =>
      err.code === ExitCode.refused && /says chart version 0\.9\.0 .* but Argo CD last deployed 0\.8\.0/.test(err.message));
  });
});

describe('Argo CD without a Helm release: the user values, as Argo CD passes them to helm template', () => {
  it('valuesObject wins whole over values; values is YAML', () => {
    assert.deepEqual(argoValues({ values: 'a: 1\nb: {c: 2}\n' }), { a: 1, b: { c: 2 } });
    assert.deepEqual(argoValues({ values: 'a: 1\n', valuesObject: { b: 2 } }), { b: 2 });
    assert.deepEqual(argoValues({}), {});
  });

  it('parameters go over them as --set does (typed) or --set-string (forceString)', () => {
    const values = argoValues({
      valuesObject: { image: { tag: 'x' }, list: ['a', 'b'] },
      parameters: [
        { name: 'replicaCount', value: '2' }, { name: 'image.tag', value: '0.9.0' }, { name: 'enabled', value: 'true' }, { name: 'zip', value: '012' },
        { name: 'port', value: '8080', forceString: true }, { name: 'gone', value: 'null' }, { name: 'hosts', value: '{a.example.com,b.example.com}' },
        { name: 'list[1]', value: 'c' }, { name: 'annotations.example\\.com/team', value: 'ai' },
      ],
    });
    assert.deepEqual(values, {
      image: { tag: '0.9.0' }, list: ['a', 'c'], replicaCount: 2, enabled: true, zip: '012', port: '8080', gone: null,
      hosts: ['a.example.com', 'b.example.com'], annotations: { 'example.com/team': 'ai' },
    });
  });

  it('setValue makes the maps and lists a path needs', () => {
    const v: Record<string, unknown> = { a: 'scalar' };
    setValue(v, 'a.b[1].c', 1);
    assert.deepEqual(v, { a: { b: [null, { c: 1 }] } });
  });

  it('helm get values --all is the user values coalesced over the chart defaults (null removes one)', async () => {
    assert.deepEqual(coalesceValues({ a: { b: 1, c: 2 }, d: 3, e: 4 }, { a: { c: 5 }, d: null, f: [1] }), { a: { b: 1, c: 5 }, e: 4, f: [1] });
  });
});

describe('Argo CD without a Helm release: helm answered from the Application', () => {
  const argoFor = async () => (await read([application(spec({ helm: { valuesObject: { fullnameOverride: 'agents' } } }))]))!;

  it('the release, its values over the chart defaults, the chart from its repository; no manifest or storage for a helm upgrade, and no upgrade', async () => {
    const argo = await argoFor();
    const c = charts();
    const asked: string[] = [];
    const helm: HelmPort & ChartPort & HelmUpgradePort & ChartRenderPort & ReleaseManifestPort = {
      namespace: 'ai', releaseStorage: 'secrets',
      getRelease: async () => assert.fail('no release to read'), getValues: async () => assert.fail('helm get values'),
      showChart: async (ref: string, version: string) => (asked.push(`show ${ref} ${version}`), { name: 'other', version, annotations: {} }),
      findChartRef: async () => assert.fail('helm search repo'), chartVersions: async () => [],
      renderChart: async () => assert.fail('helm template of a release'), helmMajor: async () => 4,
      checkUpgrade: async () => undefined, upgrade: async () => undefined, deployedRelease: async () => undefined,
      manifestObjects: async () => assert.fail('helm get manifest'),
    };
    const h = argoHelm(helm, c, argo);
    assert.equal(await h.getRelease('kagent'), argo.release);
    assert.equal(h.releaseStorage, undefined);
    assert.deepEqual(await h.manifestObjects('kagent'), []);
    assert.deepEqual(await h.getValues('kagent'), { replicaCount: 1, image: { repository: 'example/kagent', tag: '' }, fullnameOverride: 'agents' });
    assert.equal(await h.findChartRef('kagent'), argo.ref);
    assert.equal((await h.showChart(argo.ref, '0.8.0')).name, 'kagent');
    assert.equal((await h.showChart('fixtures/kagent', '0.8.0')).name, 'other', 'another ref is helm\'s');
    await h.renderChart({ release: 'kagent', chart: argo.ref, version: '0.8.0' });
    assert.deepEqual(c.rendered.at(-1)?.values, { fullnameOverride: 'agents' });
    await assert.rejects(h.checkUpgrade({ release: 'kagent', chart: argo.ref, version: '0.8.0' }), /no Helm release/);
    await assert.rejects(h.upgrade({ release: 'kagent', chart: argo.ref, version: '0.8.0' }), /no Helm release/);
    assert.deepEqual(asked, ['show fixtures/kagent 0.8.0']);
  });

  it('the contract\'s workloads must be rendered by the chart, exist in the cluster, and not be another Application\'s', async () => {
    const argo: ArgoRelease = await argoFor();
    const live = new Map<string, KubeObject>();
    const kube: KubePort = {
      async get(kind, name) {
        const o = live.get(`${kind}/${name}`);
        if (!o) throw new ClusterError(`${kind} ${name} not found`);
        return o;
      },
    };
    await refused(checkArgoWorkloads(kube, argo, ['deployment/kagent-worker'], 'the chart\'s contract'), ExitCode.cluster,
      /deployment\/kagent-worker \(named by the chart's contract\) is not among the objects chart kagent 0\.9\.0 renders with the values of Application argocd\/kagent/, /--workload \/ --stop/);
    await refused(checkArgoWorkloads(kube, argo, ['deployment/kagent-controller'], 'the chart\'s contract'), ExitCode.cluster,
      /deployment\/kagent-controller .* is not in namespace ai: Application argocd\/kagent has not created it/, /argocd app get kagent/);
    live.set('deployment/kagent-controller', { kind: 'Deployment', metadata: { name: 'kagent-controller', annotations: { 'argocd.argoproj.io/tracking-id': 'team_agents:apps/Deployment:ai/kagent-controller' } } });
    await refused(checkArgoWorkloads(kube, argo, ['deployment/kagent-controller'], 'the chart\'s contract'), ExitCode.cluster,
      /are deployed by Argo CD Application team\/agents .*, not by Application argocd\/kagent/, /--argocd-app agents --argocd-namespace team/);
    live.set('deployment/kagent-controller', { kind: 'Deployment', metadata: { name: 'kagent-controller', annotations: { 'argocd.argoproj.io/tracking-id': 'kagent:apps/Deployment:ai/kagent-controller' } } });
    await checkArgoWorkloads(kube, argo, ['deployment/kagent-controller', 'deployment/kagent-controller'], 'the chart\'s contract');
  });

  it('with no Application either, the release-not-found error names the Application looked for and --argocd-app', () => {
    const err = noReleaseNorApplication(new ReleaseNotFoundError('kagent', 'ai'), { namespace: 'gitops' });
    assert.equal(err.code, ExitCode.releaseNotFound);
    assert.equal(err.message, 'release "kagent" not found in namespace "ai"');
    assert.match(err.hint!, /^check the name with "helm list -n ai".*; no Argo CD Application gitops\/kagent deploys it either: .*pass --argocd-app NAME/);
  });
});

describe('Argo CD without a Helm release: charts by repository URL', () => {
  it('an http(s) repository is --repo URL; an oci:// or scheme-less registry path (Argo CD\'s enableOCI) is an oci:// reference', () => {
    assert.deepEqual(repoChartArgs({ repoURL: REPO, chart: 'kagent' }), ['kagent', '--repo', REPO]);
    assert.deepEqual(repoChartArgs({ repoURL: 'oci://ghcr.io/kagent-dev/charts/', chart: 'kagent' }), ['oci://ghcr.io/kagent-dev/charts/kagent']);
    assert.deepEqual(repoChartArgs({ repoURL: 'ghcr.io/kagent-dev/charts', chart: 'kagent' }), ['oci://ghcr.io/kagent-dev/charts/kagent']);
    assert.equal(chartRefText({ repoURL: REPO, chart: 'kagent' }), `kagent in ${REPO}`);
  });
});

describe('Argo CD without a Helm release: the repository charts adapter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-repo-charts-'));
  const repos = join(dir, 'repositories.yaml');
  writeFileSync(repos, `apiVersion: ""\nrepositories:\n- name: fixtures\n  url: ${REPO}/\n`);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const quiet = { debug: () => undefined };
  const CHART_YAML = 'apiVersion: v2\nname: kagent\nversion: 0.8.0\nannotations:\n  a: b\n';
  const MANIFEST = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kagent-controller\n';

  function fakeHelm(fail: (args: string[]) => string | undefined = () => undefined) {
    const calls: Array<{ args: string[]; input?: string }> = [];
    const shown: string[] = [];
    return {
      calls, shown,
      async run(args: string[], input?: string) {
        calls.push({ args, ...(input === undefined ? {} : { input }) });
        const stderr = fail(args);
        if (stderr) throw new CommandFailedError(['helm', ...args], 1, stderr);
        return args[0] === 'template' ? MANIFEST : args[1] === 'values' ? 'replicaCount: 1\n' : CHART_YAML;
      },
      async showChart(ref: string, version: string) {
        shown.push(`${ref} ${version}`);
        return { name: 'kagent', version, annotations: { cached: 'yes' } };
      },
    };
  }

  it('a repository helm has under a name (same URL) is used by that name: its credentials, the chart cache', async () => {
    const helm = fakeHelm();
    const port = createRepoCharts(helm, { HELM_REPOSITORY_CONFIG: repos }, quiet);
    assert.deepEqual((await port.showChart({ repoURL: REPO, chart: 'kagent' }, '0.8.0')).annotations, { cached: 'yes' });
    assert.deepEqual(helm.shown, ['fixtures/kagent 0.8.0']);
    await port.renderChart({ repoURL: REPO, chart: 'kagent' }, { release: 'kagent', version: '0.9.0', values: { database: { url: 'postgres://u:s3cret@db/app' } } });
    assert.deepEqual(helm.calls.at(-1), { args: ['template', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-f', '-'], input: '{"database":{"url":"postgres://u:s3cret@db/app"}}' });
  });

  it('a version that named repository\'s index lacks (not updated), or a repository helm does not have: CHART --repo URL; values on stdin only', async () => {
    const stale = fakeHelm((args) => (args.includes('fixtures/kagent') ? 'Error: chart "kagent" matching 0.9.1 not found in fixtures index. (try \'helm repo update\'): no chart version found for kagent-0.9.1' : undefined));
    const port = createRepoCharts(stale, { HELM_REPOSITORY_CONFIG: repos }, quiet);
    const objects = await port.renderChart({ repoURL: REPO, chart: 'kagent' }, { release: 'kagent', version: '0.9.1', values: { a: 1 } });
    assert.equal(objects[0]?.metadata.name, 'kagent-controller');
    assert.deepEqual(stale.calls.map((c) => c.args.slice(0, 3)), [['template', 'kagent', 'fixtures/kagent'], ['template', 'kagent', 'kagent']]);
    assert.deepEqual(stale.calls.at(-1)?.args, ['template', 'kagent', 'kagent', '--repo', REPO, '--version', '0.9.1', '-f', '-']);

    const other = fakeHelm();
    const elsewhere = createRepoCharts(other, { HELM_REPOSITORY_CONFIG: join(dir, 'none.yaml') }, quiet);
    assert.equal((await elsewhere.showChart({ repoURL: 'https://other.example.com', chart: 'kagent' }, '0.8.0')).version, '0.8.0');
    assert.deepEqual(await elsewhere.showValues({ repoURL: 'oci://ghcr.io/kagent-dev/charts', chart: 'kagent' }, '0.8.0'), { replicaCount: 1 });
    assert.deepEqual(other.calls.map((c) => c.args), [
      ['show', 'chart', 'kagent', '--repo', 'https://other.example.com', '--version', '0.8.0'],
      ['show', 'values', 'oci://ghcr.io/kagent-dev/charts/kagent', '--version', '0.8.0'],
    ]);
  });

  it('a version the repository does not have is a usage error naming the chart; other helm failures stay helm\'s', async () => {
    const missing = fakeHelm(() => 'Error: chart "kagent" version "0.7.0" not found in https://charts.example.com repository');
    await refused(createRepoCharts(missing, { HELM_REPOSITORY_CONFIG: join(dir, 'none.yaml') }, quiet).showChart({ repoURL: REPO, chart: 'kagent' }, '0.7.0'),
      ExitCode.usage, new RegExp(`chart kagent in ${REPO} has no version 0\\.7\\.0`), /index\.yaml lists its versions/);
    const broken = fakeHelm(() => 'Error: template: kagent/templates/controller.yaml:3:4: executing "x" at <.Values.nope.x>: nil pointer evaluating interface {}.x');
    await refused(createRepoCharts(broken, { HELM_REPOSITORY_CONFIG: repos }, quiet).renderChart({ repoURL: REPO, chart: 'kagent' }, { release: 'kagent', version: '0.9.0', values: {} }),
      ExitCode.commandFailed, /nil pointer/);
    assert.equal(broken.calls.length, 1, 'a template error is not retried with --repo');
  });
});
