/**
 * The requests a rollback is checked for, and how a missing one is told: the forms the API server
 * and RBAC use (resource names from kinds, Forbidden messages, Role rules).
 */
import assert from 'node:assert/strict';
import { parseForbidden } from '../../src/adapters/kubectl.js';
import { ExitCode } from '../../src/core/errors.js';
import { checkPermissions, kindToResource, requiredPermissions, roleRules, type PermissionInputs } from '../../src/core/permissions.js';
import type { AccessRequest } from '../../src/core/ports.js';

const kagent = (runner: string): PermissionInputs => ({
  namespace: 'ai', release: 'kagent', runner, stop: ['deploy/kagent-controller'], workload: 'deployment/kagent-controller', urlSecrets: ['kagent-db'],
  releaseStorage: 'secrets', manifest: [{ apiVersion: 'v1', kind: 'Secret', name: 'kagent-db' }, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'kagent-reader' }],
});
const text = (r: AccessRequest) => `${r.verb} ${r.group}/${r.resource}${r.subresource ? `/${r.subresource}` : ''} ${r.name ?? '*'} ${r.namespace ?? '(cluster)'}`;

describe('permissions a rollback is checked for', () => {
  it('names resources from kinds as Kubernetes guesses them (lower case, -s, -es, -ies; endpoints unchanged)', () => {
    assert.deepEqual(kindToResource('apps/v1', 'Deployment'), { group: 'apps', resource: 'deployments' });
    assert.deepEqual(kindToResource('networking.k8s.io/v1', 'Ingress'), { group: 'networking.k8s.io', resource: 'ingresses' });
    assert.deepEqual(kindToResource('networking.k8s.io/v1', 'NetworkPolicy'), { group: 'networking.k8s.io', resource: 'networkpolicies' });
    assert.deepEqual(kindToResource('v1', 'Endpoints'), { group: '', resource: 'endpoints' });
  });

  it('per runner: scale of each stopped workload by name, the run record ConfigMap, Jobs and logs for job, pods/exec for exec, nothing extra for native; cluster-scoped objects without a namespace', () => {
    const native = requiredPermissions(kagent('native')).map(text);
    assert.deepEqual(native, [
      'get apps/deployments kagent-controller ai',
      'patch apps/deployments/scale kagent-controller ai',
      'get /secrets kagent-db ai',
      'get /configmaps kagent-schema-rollback-run ai',
      'patch /configmaps kagent-schema-rollback-run ai',
      'delete /configmaps kagent-schema-rollback-run ai',
      'create /configmaps * ai',
      'list /secrets * ai',
      'create /secrets * ai',
      'update /secrets * ai',
      'patch /secrets kagent-db ai',
      'get rbac.authorization.k8s.io/clusterroles kagent-reader (cluster)',
      'patch rbac.authorization.k8s.io/clusterroles kagent-reader (cluster)',
    ]);
    const job = requiredPermissions(kagent('job')).map(text);
    for (const want of ['create batch/jobs * ai', 'delete batch/jobs * ai', 'watch /pods * ai', 'get /pods/log * ai']) assert.ok(job.includes(want), want);
    assert.ok(!job.some((t) => t.includes('pods/exec')));
    const exec = requiredPermissions(kagent('exec')).map(text);
    assert.ok(exec.includes('create /pods/exec * ai'));
    assert.ok(!exec.some((t) => t.includes('batch/jobs')));
  });

  it('refuses (exit 21) listing every missing request and what it is for, with the Role rules that grant them', async () => {
    const denied = new Set(['create batch/jobs * ai', 'update /secrets * ai']);
    const access = { canI: async (rs: readonly AccessRequest[]) => rs.map((r) => !denied.has(text(r))) };
    const err = await checkPermissions(access, kagent('job'), { debug: () => undefined }).then(() => undefined, (e: unknown) => e as { code: number; message: string; hint: string });
    assert.equal(err?.code, ExitCode.permissionDenied);
    assert.match(err!.message, /- create jobs \(group batch\) in namespace ai: to run the downs in a Job/);
    assert.match(err!.message, /- update secrets in namespace ai: for helm upgrade/);
    assert.match(err!.hint, /\{apiGroups: \["batch"\], resources: \["jobs"\], verbs: \["create"\]\}/);
    assert.match(err!.hint, /\{apiGroups: \[""\], resources: \["secrets"\], verbs: \["update"\]\}/);
  });

  it('goes on, saying so, when the API cannot be asked', async () => {
    const access = { canI: async () => { throw new Error('selfsubjectaccessreviews is not served'); } };
    assert.deepEqual(await checkPermissions(access, kagent('native'), { debug: () => undefined }), { checked: [], error: 'selfsubjectaccessreviews is not served' });
  });

  it('reads RBAC\'s Forbidden message, with and without an object name, and merges verbs into one rule per resource and names', () => {
    assert.deepEqual(parseForbidden('Error from server (Forbidden): secrets "kagent-db" is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "ai"'),
      { verb: 'get', group: '', resource: 'secrets', name: 'kagent-db', namespace: 'ai' });
    assert.deepEqual(parseForbidden('error: failed to create job: jobs.batch is forbidden: User "u" cannot create resource "jobs" in API group "batch" in the namespace "ai"'),
      { verb: 'create', group: 'batch', resource: 'jobs', namespace: 'ai' });
    assert.deepEqual(parseForbidden('deployments.apps "web" is forbidden: User "u" cannot patch resource "deployments/scale" in API group "apps" in the namespace "ai"'),
      { verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', name: 'web', namespace: 'ai' });
    assert.equal(parseForbidden('pods "x" is forbidden: violates PodSecurity "restricted:latest"'), undefined, 'not RBAC: left as it was');
    assert.deepEqual(roleRules([
      { verb: 'get', group: 'apps', resource: 'deployments', name: 'a' }, { verb: 'patch', group: 'apps', resource: 'deployments', name: 'a' }, { verb: 'list', group: '', resource: 'pods' },
    ]), ['- {apiGroups: ["apps"], resources: ["deployments"], resourceNames: ["a"], verbs: ["get", "patch"]}', '- {apiGroups: [""], resources: ["pods"], verbs: ["list"]}']);
  });
});
