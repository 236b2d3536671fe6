/**
 * The permissions a rollback needs, checked before its first change, end to end: the built binary
 * in real Helm 3.17 and 4.1, a kagent 0.9.0 release (core 13, vector 3) in the Kubernetes API double,
 * and a double that denies one request at a time, both to SelfSubjectAccessReviews and to the
 * request itself (403, as RBAC answers). Each refusal must come before anything changes: version
 * tables, the controller's replicas and the release history as they were, no Job created, and no
 * request refused by the API server (the denied request was never tried). With everything allowed,
 * the rollback runs, and every request it made is one the check asked about.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions, repoRoot } from '../harness/plugin.js';
import { scenario, type Scenario } from '../harness/scenario.js';
import { requestAttributes, type DenyRule, type ResourceAttributes } from '../kube/authorization.js';
import type { RequestRecord } from '../kube/index.js';
import { parseResourcePath } from '../kube/server.js';
import type { AccessRequest } from '../../src/core/ports.js';

const NS = 'ai';
const IMAGE = 'example/kagent:0.9.0';
const IMAGE_DIR = join(repoRoot, 'test', 'fixtures', 'images', 'kagent-0.9.0');
const DEPLOY = { apiVersion: 'apps/v1', kind: 'Deployment' };

/** The image's `kagent` is a Python script for Debian's python3 with psycopg2 (scripts/setup.sh installs it as root). */
function skipWithoutPsycopg(ctx: Mocha.Context): void {
  if (spawnSync('/usr/bin/python3', ['-c', 'import psycopg2'], { stdio: 'ignore' }).status === 0) return;
  console.log('      skipped: the kagent fixture image needs /usr/bin/python3 with psycopg2 (apt-get install python3-psycopg2)');
  ctx.skip();
}

/** What a real server's authorizer is asked for each request the double received (discovery and OpenAPI left out). */
function attributesOf(requests: readonly RequestRecord[]): ResourceAttributes[] {
  return requests.flatMap((r) => {
    const route = parseResourcePath(r.path);
    if (!route) return [];
    const upgrade = r.method === 'GET' && (route.sub === 'exec' || route.sub === 'portforward');
    return [requestAttributes(r.method, route, new URLSearchParams(r.query), upgrade)];
  });
}

/** What the plan's permissions.checked lists: the requests as the plugin asks about them. */
type Checked = AccessRequest;

for (const helm of helmVersions) {
  describe(`e2e permissions checked before the first change through ${helm.label}`, function () {
    this.timeout(300_000);
    const s: Scenario = scenario({
      helm, prefix: 'hsr-rollback-rbac-', namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
      images: () => ({ [IMAGE]: IMAGE_DIR }), needsDouble: 'denies requests through the double\'s authorizer', deployment: 'kagent-controller',
      skipUnless: skipWithoutPsycopg, prepare: migrateKagent09,
    });
    const double = () => s.world.cluster.double!;

    before(() => {
      // A toolbox running the same image that does not migrate on start: where the exec runner may run.
      const controller = double().get(DEPLOY, 'kagent-controller', NS)!;
      double().put({ ...controller, metadata: { name: 'kagent-toolbox', namespace: NS, labels: { app: 'kagent-toolbox' } },
        spec: { ...controller.spec, replicas: 1, selector: { matchLabels: { app: 'kagent-toolbox' } }, template: { ...controller.spec.template, metadata: { labels: { app: 'kagent-toolbox' } } } } });
    });

    /** Runs the plugin with one request denied; asserts the refusal (exit 24) left everything as it was, and returns its stderr. */
    async function refusedWith(rule: DenyRule, args: string[]): Promise<string> {
      const undo = double().deny(rule);
      double().requests.length = 0;
      try {
        const r = await s.sr(['kagent', '--to', '0.8.0', ...args, '--yes']);
        assert.equal(r.exitCode, 24, `${r.stdout}\n${r.stderr}`);
        assert.deepEqual(await versionRows(s.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
        assert.equal(await s.replicas(), '2');
        assert.deepEqual(await s.history(), ['kagent-0.9.0']);
        assert.deepEqual(s.ourJobs(), []);
        assert.match(r.stderr, /fix: grant them \(a Role in namespace ai, bound to the user\), e\.g\. these rules:/);
        return r.stderr;
      } finally {
        undo();
      }
    }
    /** No request was refused by the API server: the check refused before the denied request was made. */
    const noneRefused = () => assert.deepEqual(double().requests.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`), []);

    it('the job runner without create jobs: refused before the controller is scaled, naming the verb, the resource and the rule', async () => {
      const err = await refusedWith({ verb: 'create', group: 'batch', resource: 'jobs' }, ['--runner', 'job']);
      assert.match(err, /^Error: the Kubernetes user lacks permissions the rollback needs; nothing was changed:\n {2}- create jobs \(group batch\) in namespace ai: to run the downs in a Job, wait for it and remove it$/m);
      assert.match(err, /^ {4}- \{apiGroups: \["batch"\], resources: \["jobs"\], verbs: \["create"\]\}$/m);
      assert.doesNotMatch(err, /scaled/);
      noneRefused();
    });

    it('the exec runner without create pods/exec: refused, naming pods/exec', async () => {
      const err = await refusedWith({ verb: 'create', resource: 'pods', subresource: 'exec' }, ['--runner', 'exec', '--workload', 'deployment/kagent-toolbox', '--container', 'controller']);
      assert.match(err, /^ {2}- create pods\/exec in namespace ai: to run the down command by kubectl exec$/m);
      assert.match(err, /resources: \["pods\/exec"\], verbs: \["create"\]/);
      noneRefused();
    });

    it('without patch of the controller\'s scale subresource: refused, naming deployments/scale and the deployment', async () => {
      const err = await refusedWith({ verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale' }, ['--source', join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent')]);
      assert.match(err, /^ {2}- patch deployments\/scale \(group apps\) kagent-controller in namespace ai: to scale deployment\/kagent-controller to 0 before the downs \(and back on failure\)$/m);
      assert.match(err, /\{apiGroups: \["apps"\], resources: \["deployments\/scale"\], resourceNames: \["kagent-controller"\], verbs: \["patch"\]\}/);
      noneRefused();
    });

    it('without update of Secrets (helm\'s release storage): refused before the downs, which helm upgrade would have followed with a failure', async () => {
      const err = await refusedWith({ verb: 'update', resource: 'secrets' }, ['--runner', 'job']);
      assert.match(err, /^ {2}- update secrets in namespace ai: for helm upgrade to read the release's revisions and record the new one \(Helm stores them in secrets\)$/m);
      noneRefused();
    });

    it('without get of the Secret holding the database URL: the read is refused, named, and nothing else is tried', async () => {
      const err = await refusedWith({ verb: 'get', resource: 'secrets', name: 'kagent-db' }, ['--runner', 'job']);
      assert.match(err, /^Error: Kubernetes refused a request \(Forbidden\):\n {2}- get secrets kagent-db in namespace ai$/m);
      assert.match(err, /\{apiGroups: \[""\], resources: \["secrets"\], resourceNames: \["kagent-db"\], verbs: \["get"\]\}/);
    });

    it('--dry-run says the permissions were checked, and -o json lists each request with what it is for', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Permissions checked: the \d+ Kubernetes requests the run makes are allowed \(SelfSubjectAccessReview, as kubectl auth can-i\)$/m);
      const plan = JSON.parse((await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--dry-run', '-o', 'json'])).stdout);
      const texts = plan.permissions.checked.map((c: Checked) => `${c.verb} ${c.group}/${c.resource}${c.subresource ? `/${c.subresource}` : ''}${c.name ? ` ${c.name}` : ''}`);
      for (const want of ['patch apps/deployments/scale kagent-controller', 'create batch/jobs', 'get /pods/log', 'get /secrets kagent-db', 'update /secrets', 'patch apps/deployments kagent-controller']) {
        assert.ok(texts.includes(want), `${want} not in ${texts.join(', ')}`);
      }
    });

    it('with everything allowed the job runner rolls back, and every request it made was among those checked', async () => {
      const plan = JSON.parse((await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--dry-run', '-o', 'json'])).stdout);
      const checked: Checked[] = plan.permissions.checked;
      double().requests.length = 0;
      const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.deepEqual(await versionRows(s.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      assert.deepEqual(await s.history(), ['kagent-0.9.0', 'kagent-0.8.0']);
      const covered = (a: ResourceAttributes) =>
        a.resource === 'selfsubjectaccessreviews' ||
        checked.some((c) => c.verb === a.verb && c.group === a.group && c.resource === a.resource && (c.subresource ?? '') === (a.subresource ?? '') &&
          (c.name === undefined || c.name === a.name) && (c.namespace ?? '') === (a.namespace ?? ''));
      const made = attributesOf(double().requests);
      const unchecked = [...new Set(made.filter((a) => !covered(a)).map((a) => `${a.verb} ${a.group}/${a.resource}${a.subresource ? `/${a.subresource}` : ''} ${a.name ?? ''}`))];
      assert.deepEqual(unchecked, [], 'requests made that the check did not ask about');
    });
  });
}
