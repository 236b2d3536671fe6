/**
 * The release reads the plugin answers from Helm's storage in process (src/adapters/helm-storage.ts)
 * against the same reads by the REAL helm 3.17 and 4.1 (`helm get metadata`, `get values --all`,
 * `get manifest`, `history` + `get metadata --revision`), on releases those helms installed into
 * the double: nested defaults, user nulls (over a default, nested, and with no default), a --set
 * list, a user scalar over a default map and a user map over a default scalar, a chart without
 * appVersion, a failed revision after a deployed one, a pending-upgrade, both storage drivers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHelm, type Helm } from '../../src/adapters/helm.js';
import { createHelmStorage } from '../../src/adapters/helm-storage.js';
import { coalesceValues, hasNestedNull } from '../../src/adapters/helm-coalesce.js';
import { createKubeApi, resolveKubeConnection, type KubeApi } from '../../src/adapters/kube-api.js';
import { ReleaseNotFoundError } from '../../src/core/errors.js';
import { helmEnv, helms } from '../harness/binaries.js';
import { run } from '../harness/run.js';
import { cleanEnv, tempDir, type TempDir } from './helpers.js';
import { startKubeDouble, type KubeDouble } from './index.js';

const NS = 'default';
const quiet = { debug: () => undefined };

function writeChart(dir: string, meta: string): string {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'Chart.yaml'), meta);
  writeFileSync(join(dir, 'values.yaml'), [
    'image: {repository: app, tag: "1.0", pullPolicy: IfNotPresent}',
    'nested: {a: {b: 1, c: 2, deep: {x: 1}}, keep: x}',
    'list: [1, 2]',
    'dropme: default',
    'tableDefault: {x: 1}',
    'scalarDefault: 5',
    'nullDefault: null',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'templates', 'configmap.yaml'), [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: {{ .Release.Name }}-config}',
    'data:',
    '  tag: {{ .Values.image.tag | quote }}',
    '  list: {{ toJson .Values.list | quote }}',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'templates', 'secret.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: {{ .Release.Name }}-secret}\nstringData: {token: s3cret}\n');
  return dir;
}

for (const helm of helms) {
  describe(`kube double: release reads from Helm's storage equal ${helm.label}'s`, function () {
    this.timeout(90_000);
    let tmp: TempDir;
    let kube: KubeDouble;
    let env: NodeJS.ProcessEnv;
    let api: KubeApi;
    let chartA: string;
    let chartB: string;
    const h = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => run(helm.bin, [...args, '--namespace', NS], { env: { ...env, ...extraEnv } });
    const ok = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
      const r = await h(args, extraEnv);
      assert.equal(r.exitCode, 0, `helm ${args.join(' ')}:\n${r.stderr}`);
    };
    const adapters = (driver: 'secrets' | 'configmaps'): [Helm, Helm] => {
      const childEnv = { ...env, HELM_DRIVER: driver === 'secrets' ? 'secret' : 'configmap' };
      return [
        createHelm({ bin: helm.bin, namespace: NS, env: childEnv, log: quiet }),
        createHelm({ bin: helm.bin, namespace: NS, env: childEnv, log: quiet, storage: createHelmStorage(api, NS, driver) }),
      ];
    };
    /** Each of the four reads, by helm and from storage. */
    const assertSameReads = async (release: string, driver: 'secrets' | 'configmaps' = 'secrets') => {
      const [byHelm, fromStorage] = adapters(driver);
      for (const read of ['getRelease', 'getValues', 'manifestObjects', 'deployedRelease'] as const) {
        const [expected, actual] = await Promise.all([byHelm[read](release), fromStorage[read](release)]);
        assert.deepEqual(actual, expected, `${read}(${release}), ${driver}`);
      }
      // The port of CoalesceValues itself, also where the adapter leaves the answer to helm (nested
      // nulls): Helm 3.17's rule there, and Helm 4.1's everywhere else.
      const stored = kube.helmReleases({ name: release }).at(-1)!;
      const defaults = stored.chart['values'] as Record<string, unknown>;
      const nestedNull = hasNestedNull(stored.config) || hasNestedNull(defaults);
      assert.deepEqual(await createHelmStorage(api, NS, driver).getValues(release), nestedNull ? undefined : await byHelm.getValues(release));
      if (helm.major === 3 || !nestedNull) {
        const r = await h(['get', 'values', release, '--all', '-o', 'json'], { HELM_DRIVER: driver === 'secrets' ? 'secret' : 'configmap' });
        assert.deepEqual(coalesceValues(defaults, stored.config), JSON.parse(r.stdout));
      }
    };

    before(async () => {
      tmp = tempDir('kube-helm-storage-');
      kube = await startKubeDouble({ dir: join(tmp.path, 'kube') });
      env = cleanEnv({ ...helmEnv(join(tmp.path, 'helm')), ...kube.env });
      const resolved = resolveKubeConnection(env);
      assert.ok('connection' in resolved, JSON.stringify(resolved));
      api = createKubeApi(resolved.connection, quiet, () => Promise.reject(new Error('no exec plugin here')));
      chartA = writeChart(join(tmp.path, 'chart-a'), 'apiVersion: v2\nname: equiv\nversion: 0.1.0\nappVersion: "1.0.0"\nannotations:\n  example.com/track: "main"\n');
      chartB = writeChart(join(tmp.path, 'chart-b'), 'apiVersion: v2\nname: equiv\nversion: 0.2.0\n');
      writeFileSync(join(tmp.path, 'user.yaml'), [
        'dropme: null',
        'nested: {a: {c: null, d: 4, noDefault: null, deep: {y: 2}}, extra: {z: 1}}',
        'topNoDefault: null',
        'tableDefault: scalar-wins',
        'scalarDefault: {m: 1}',
        'nullDefault: {set: true}',
        '',
      ].join('\n'));
    });

    after(async () => {
      await kube?.close();
      tmp?.remove();
    });

    it('install: nested defaults, user nulls, a --set list, a table over a scalar and the reverse', async () => {
      await ok(['install', 'equiv', chartA, '-f', join(tmp.path, 'user.yaml'), '--set', 'list={7,8,9}']);
      await assertSameReads('equiv');
      const values = await adapters('secrets')[1].getValues('equiv');
      assert.deepEqual(values['list'], [7, 8, 9]);
      assert.equal('dropme' in values, false, 'a user null over a default deletes the key');
      assert.equal(values['topNoDefault'], null, 'a top-level user null with no default stays');
    });

    it('install with nulls at the top level only: the values come from storage for both majors', async () => {
      writeFileSync(join(tmp.path, 'top.yaml'), 'dropme: null\ntopNoDefault: null\ntableDefault: scalar-wins\nscalarDefault: {m: 1}\nnested: {a: {d: 4}}\n');
      await ok(['install', 'equiv-top', chartA, '-f', join(tmp.path, 'top.yaml'), '--set', 'list={3}']);
      await assertSameReads('equiv-top');
      assert.ok(await createHelmStorage(api, NS, 'secrets').getValues('equiv-top'), 'answered from storage');
    });

    it('upgrade to a chart without appVersion or annotations', async () => {
      await ok(['upgrade', 'equiv', chartB, '--reuse-values', '--set', 'image.tag=2.0']);
      await assertSameReads('equiv');
      assert.equal((await adapters('secrets')[1].getRelease('equiv')).revision, 2);
    });

    it('a failed revision after a deployed one: the failed one is the latest, the deployed one is still found', async () => {
      const allow = kube.denyWrites({ resource: { apiVersion: 'v1', kind: 'ConfigMap' }, name: 'equiv-config', webhook: 'deny.example.com', message: 'no' });
      try {
        const failed = await h(['upgrade', 'equiv', chartA, '--reuse-values', '--set', 'image.tag=3.0']);
        assert.notEqual(failed.exitCode, 0);
      } finally {
        allow();
      }
      const latest = await adapters('secrets')[1].getRelease('equiv');
      assert.deepEqual([latest.revision, latest.status], [3, 'failed']);
      assert.equal((await adapters('secrets')[1].deployedRelease('equiv'))?.revision, 2);
      await assertSameReads('equiv');
    });

    it('a pending-upgrade revision while helm upgrade is in flight', async () => {
      const held = kube.hold({ resource: { apiVersion: 'v1', kind: 'ConfigMap' }, name: 'equiv-config' });
      const upgrading = h(['upgrade', 'equiv', chartA, '--reuse-values', '--set', 'image.tag=4.0']);
      try {
        for (let i = 0; held.count() === 0; i++) {
          assert.ok(i < 400, 'helm upgrade never wrote the ConfigMap');
          await new Promise((r) => setTimeout(r, 25));
        }
        const latest = await adapters('secrets')[1].getRelease('equiv');
        assert.deepEqual([latest.revision, latest.status], [4, 'pending-upgrade']);
        await assertSameReads('equiv');
      } finally {
        held.release();
        await upgrading;
      }
    });

    it('the configmap driver', async () => {
      await ok(['install', 'equiv-cm', chartA, '-f', join(tmp.path, 'user.yaml')], { HELM_DRIVER: 'configmap' });
      await assertSameReads('equiv-cm', 'configmaps');
    });

    it('a release that does not exist is ReleaseNotFoundError, as from helm', async () => {
      const [byHelm, fromStorage] = adapters('secrets');
      await assert.rejects(byHelm.getRelease('nope'), ReleaseNotFoundError);
      await assert.rejects(fromStorage.getRelease('nope'), ReleaseNotFoundError);
    });
  });
}
