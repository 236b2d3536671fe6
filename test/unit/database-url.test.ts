import assert from 'node:assert/strict';
import { resolveDatabaseUrl } from '../../src/core/database-url.js';
import { ClusterError, DatabaseUrlError, ExitCode } from '../../src/core/errors.js';
import type { KubeObject, KubePort } from '../../src/core/ports.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Objects by "kind/name", as kubectl get would return them. */
function kube(objects: Record<string, Omit<KubeObject, 'metadata'>>): KubePort & { gets: string[] } {
  const gets: string[] = [];
  return {
    gets,
    async get(kind, name) {
      gets.push(`${kind}/${name}`);
      const o = objects[`${kind}/${name}`];
      if (!o) throw new ClusterError(`${kind} "${name}" not found`);
      return { ...o, metadata: { name } };
    },
  };
}

function deployment(containers: unknown[]): Omit<KubeObject, 'metadata'> {
  return { kind: 'Deployment', spec: { template: { spec: { containers } } } };
}

describe('database URL resolution', () => {
  it('prefers the flag, then the environment, without touching the cluster', async () => {
    const k = kube({});
    assert.deepEqual(await resolveDatabaseUrl(k, { flag: 'postgres://a', environment: 'postgres://b', workload: 'deployment/x' }), {
      url: 'postgres://a',
      source: '--database-url',
    });
    assert.equal((await resolveDatabaseUrl(k, { environment: 'postgres://b' })).url, 'postgres://b');
    assert.deepEqual(k.gets, []);
  });

  it('reads a secretKeyRef of the named container, and says where from without the value', async () => {
    const k = kube({
      'deployment/app': deployment([
        { name: 'sidecar', env: [{ name: 'DATABASE_URL', value: 'postgres://wrong' }] },
        { name: 'api', env: [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } }] },
      ]),
      'secret/db': { data: { url: b64('postgres://u:s3cret@db:5432/app') } },
    });
    const r = await resolveDatabaseUrl(k, { workload: 'deployment/app', container: 'api' });
    assert.equal(r.url, 'postgres://u:s3cret@db:5432/app');
    assert.equal(r.source, 'deployment/app container api env DATABASE_URL (Secret db key url)');
    assert.doesNotMatch(r.source, /s3cret/);
  });

  it('expands $(VAR) references to earlier variables, as the kubelet does', async () => {
    const k = kube({
      'deployment/app': deployment([
        {
          name: 'api',
          env: [
            { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
            { name: 'PG_URL', value: 'postgres://app:$(PGPASSWORD)@db/app?x=$$(LITERAL)&y=$(UNDEFINED)' },
          ],
        },
      ]),
      'secret/db': { data: { password: b64('pw') } },
    });
    const r = await resolveDatabaseUrl(k, { workload: 'deployment/app', variable: 'PG_URL' });
    assert.equal(r.url, 'postgres://app:pw@db/app?x=$(LITERAL)&y=$(UNDEFINED)');
  });

  it('falls back to envFrom (Secret, ConfigMap, prefix), env entries winning', async () => {
    const k = kube({
      'deployment/app': deployment([{ name: 'api', envFrom: [{ configMapRef: { name: 'cm' } }, { prefix: 'APP_', secretRef: { name: 'sec' } }] }]),
      'secret/sec': { data: { DATABASE_URL: b64('postgres://from-secret') } },
      'configmap/cm': { data: { DATABASE_URL: 'postgres://from-configmap' } },
    });
    assert.equal((await resolveDatabaseUrl(k, { workload: 'deployment/app', variable: 'APP_DATABASE_URL' })).url, 'postgres://from-secret');
    assert.equal((await resolveDatabaseUrl(k, { workload: 'deployment/app' })).url, 'postgres://from-configmap');
  });

  it('names the fix when nothing says where the URL is', async () => {
    await assert.rejects(resolveDatabaseUrl(kube({}), {}), (err: unknown) => {
      assert.ok(err instanceof DatabaseUrlError);
      assert.equal(err.code, ExitCode.databaseUrl);
      assert.match(err.hint ?? '', /SCHEMA_ROLLBACK_DATABASE_URL/);
      return true;
    });
  });

  it('names the containers when the wanted one is missing, and the variable when it is absent', async () => {
    const k = kube({ 'deployment/app': deployment([{ name: 'api', env: [] }]) });
    await assert.rejects(resolveDatabaseUrl(k, { workload: 'deployment/app', container: 'web' }), /has no container named "web"/);
    await assert.rejects(resolveDatabaseUrl(k, { workload: 'deployment/app' }), /container api has no env var DATABASE_URL/);
  });
});
