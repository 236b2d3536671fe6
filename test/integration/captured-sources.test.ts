/**
 * Down files kept in the cluster, through real kubectl against the Kubernetes API double (which
 * refuses a Secret over 1 MiB of data, as the API server does): the kagent fixture's files stored
 * and read back as the same migration source, a capture over 1 MiB cut into several Secrets, a
 * replacement that leaves no stale chunk, and copies tampered with in the cluster refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { capturedMigrationSource, createCapturedSources } from '../../src/adapters/captured-sources.js';
import { createKubectl, type Kubectl } from '../../src/adapters/kubectl.js';
import { openMigrationSource } from '../../src/adapters/migration-source.js';
import { captureSource, trustedCapture, type CapturedContent, type CapturedSourcePort } from '../../src/core/capture.js';
import { CommandFailedError, RefusedError } from '../../src/core/errors.js';
import type { HelmPort, KubeObject, ReleaseInfo } from '../../src/core/ports.js';
import { getTool } from '../../src/tools/index.js';
import { kubectl as kubectlBin } from '../harness/binaries.js';
import { requireDouble, startCluster, type Cluster } from '../harness/cluster.js';
import { makeTempDir, removeTempDirs } from '../harness/plugin.js';

const NS = 'ai';
const SOURCE = join(import.meta.dirname, '..', 'fixtures', 'migrations', 'kagent');
const SECRET = { apiVersion: 'v1', kind: 'Secret' };
const annotations = { 'schema-rollback.io/tracks': '- {name: core, tool: golang-migrate, revision: "13"}\n- {name: vector, tool: golang-migrate, revision: "3", table: vector_schema_migrations}' };

describe('captured down files in the cluster, through kubectl', function () {
  this.timeout(60_000);
  let cluster: Cluster;
  let kube: Kubectl;
  let store: CapturedSourcePort;
  let release: ReleaseInfo;

  const helm = (): HelmPort => ({ namespace: NS, getRelease: async () => release, getValues: async () => ({}) });
  const capture = (source: string | CapturedContent['tracks'], replace = false) => captureSource({
    helm: helm(), tools: { get: getTool }, captured: store,
    openSource: (tracks) => typeof source === 'string'
      ? openMigrationSource(source, { tracks })
      : { origin: 'generated', files: async (track: string) => ({ origin: `generated/${track}/`, files: source[track] ?? [] }) },
  }, { release: release.name, overrides: {}, replace, holder: 'ci@runner (pid 7)', now: () => new Date('2026-12-05T01:02:03Z') });
  const secrets = (rel: string) => cluster.double!.list<KubeObject>(SECRET, { namespace: NS, labelSelector: `schema-rollback.io/release=${rel}` });
  const refusal = async (rel: ReleaseInfo): Promise<RefusedError> => {
    const err = await store.read(rel.name, rel.version).then((found) => trustedCapture(found, rel, ['core', 'vector'])).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RefusedError, `not refused: ${String(err)}`);
    assert.equal(err.code, 12);
    assert.match(err.hint ?? '', /capture .* --source DIR --replace\), or give the rollback the files itself with --source/);
    return err;
  };

  before(async function () {
    cluster = await startCluster({ dir: makeTempDir('hsr-capture-') });
    requireDouble(this, cluster, 'reads and tampers with the stored Secrets directly');
    kube = createKubectl({ bin: kubectlBin, namespace: NS, env: { ...process.env, ...cluster.env }, log: { debug: () => undefined } });
    await kube.run(['create', 'namespace', NS]);
    store = createCapturedSources(kube, NS);
  });

  beforeEach(() => {
    release = { name: 'kagent', namespace: NS, revision: 2, status: 'deployed', chart: 'kagent', version: '0.9.0', annotations };
  });

  after(async () => {
    await cluster?.close();
    removeTempDirs();
  });

  it('stores the files in one Secret keyed by chart version, labelled and annotated, and reads back the same files as --source gives', async () => {
    const { record, result } = await capture(SOURCE);
    assert.equal(result, 'captured');
    assert.deepEqual(record.objects, ['kagent-schema-rollback-src-0.9.0-0']);
    const [secret] = secrets('kagent') as Array<KubeObject & { type?: string; metadata: { annotations?: Record<string, string>; ownerReferences?: unknown } }>;
    assert.equal(secret!.type, 'schema-rollback.io/migrations');
    assert.equal(secret!.metadata.ownerReferences, undefined, 'owned by nothing: helm upgrade and rollback leave it');
    assert.deepEqual(secret!.metadata.labels, { 'app.kubernetes.io/managed-by': 'helm-schema-rollback', 'schema-rollback.io/release': 'kagent', 'schema-rollback.io/captured-source': '0.9.0' });
    assert.equal(secret!.metadata.annotations?.['schema-rollback.io/chart-version'], '0.9.0');
    assert.equal(secret!.metadata.annotations?.['schema-rollback.io/tracks'], 'core,vector');
    assert.equal(secret!.metadata.annotations?.['schema-rollback.io/sha256'], record.sha256);
    assert.ok(record.storedBytes < record.bytes / 2, `gzip'd: ${record.storedBytes} of ${record.bytes} bytes`);

    const trusted = trustedCapture(await store.read('kagent', '0.9.0'), release, ['core', 'vector'])!;
    const fromCluster = capturedMigrationSource(trusted.record, trusted.content);
    const fromDisk = openMigrationSource(SOURCE, { tracks: ['core', 'vector'] });
    for (const track of ['core', 'vector']) {
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      assert.deepEqual((await fromCluster.files(track)).files.sort(byName), (await fromDisk.files(track)).files.sort(byName), track);
    }
    assert.equal((await capture(SOURCE)).result, 'unchanged', 'the same files again: nothing written');
    assert.equal(await store.read('kagent', '0.8.0'), undefined, 'another version: none');
  });

  it('cuts a capture over 1 MiB into several Secrets the API server accepts (one would be refused), and a smaller replacement removes the extra ones', async () => {
    release = { ...release, name: 'big' };
    // Incompressible: ~2.7 MiB of base64 stays over 2 MiB gzip'd.
    const big = { core: [{ name: '000001_seed.up.sql', body: `-- ${randomBytes(2_000_000).toString('base64')}` }, { name: '000001_seed.down.sql', body: 'TRUNCATE seed;' }], vector: [{ name: '000001_v.down.sql', body: 'SELECT 1;' }] };
    const oneObject = await createCapturedSources(kube, NS, { chunkBytes: 64 * 1024 * 1024 }).write({ release: 'big', chartVersion: '0.9.0', tracks: big }, { capturedAt: 't', capturedBy: 'u', origin: 'o' })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(oneObject instanceof CommandFailedError, String(oneObject));
    assert.match(oneObject.message, /is invalid: data: Too long: may not be more than 1048576 bytes/);

    const { record } = await capture(big);
    assert.ok(record.objects.length >= 3, record.objects.join(', '));
    assert.deepEqual(secrets('big').map((s) => s.metadata.name).sort(), [...record.objects].sort());
    const trusted = trustedCapture(await store.read('big', '0.9.0'), release, ['core', 'vector'])!;
    assert.ok((await capturedMigrationSource(trusted.record, trusted.content).files('core')).files.some((f) => f.body === big.core[0]!.body));

    const small = { core: [{ name: '000001_seed.down.sql', body: 'TRUNCATE seed;' }], vector: big.vector };
    assert.equal((await capture(small).then(() => undefined, (e: unknown) => e) as Error).message.includes('already has down files captured for chart 0.9.0'), true);
    const replaced = await capture(small, true);
    assert.equal(replaced.result, 'replaced');
    assert.deepEqual(secrets('big').map((s) => s.metadata.name), ['big-schema-rollback-src-0.9.0-0']);
  });

  it('refuses a copy edited in the cluster, one relabelled for another version, one with a chunk missing or from another capture', async () => {
    release = { ...release, name: 'tamper' };
    const big = { core: [{ name: '000001_a.down.sql', body: randomBytes(1_500_000).toString('base64') }], vector: [{ name: '000001_v.down.sql', body: 'SELECT 1;' }] };
    const { record } = await capture(big);
    const double = cluster.double!;

    // A file edited by hand: the content no longer matches its recorded checksum.
    const edited = { ...big, vector: [{ name: '000001_v.down.sql', body: 'DROP TABLE users;' }] };
    await createCapturedSources(kube, 'ai').write({ release: 'tamper', chartVersion: '0.9.0', tracks: edited }, { capturedAt: 't', capturedBy: 'u', origin: 'o' }, record);
    for (const name of record.objects) {
      const s = double.get<KubeObject & { metadata: { annotations: Record<string, string> } }>(SECRET, name, NS);
      if (s) double.put({ ...s, metadata: { ...s.metadata, annotations: { ...s.metadata.annotations, 'schema-rollback.io/sha256': record.sha256 } } });
    }
    assert.match((await refusal(release)).message, /do not match their checksum: sha256 [0-9a-f]{64} of the content, [0-9a-f]{64} recorded at capture: changed or damaged since/);

    // Back to the original, then one chunk swapped for another capture's.
    await capture(big, true);
    const second = double.get<KubeObject & { metadata: { annotations: Record<string, string> } }>(SECRET, record.objects[1]!, NS)!;
    double.put({ ...second, metadata: { ...second.metadata, annotations: { ...second.metadata.annotations, 'schema-rollback.io/sha256': 'e'.repeat(64) } } });
    assert.match((await refusal(release)).message, /cannot be read whole: tamper-schema-rollback-src-0\.9\.0-1 belongs to another capture/);
    double.delete(SECRET, record.objects[1]!, NS);
    assert.match((await refusal(release)).message, /cannot be read whole: tamper-schema-rollback-src-0\.9\.0-1, part 2 of \d+, is missing/);

    // 0.8.0's copy renamed and relabelled as 0.9.0's: its checksum holds, its content says 0.8.0.
    await capture(big, true);
    release = { ...release, version: '0.8.0' };
    const old = await capture({ core: [{ name: '000001_a.down.sql', body: 'SELECT 8;' }], vector: big.vector });
    const copy = double.get<KubeObject & { type: string; data: Record<string, string>; metadata: { annotations: Record<string, string> } }>(SECRET, old.record.objects[0]!, NS)!;
    for (const name of record.objects) double.delete(SECRET, name, NS);
    double.put({ apiVersion: 'v1', kind: 'Secret', type: copy.type, data: copy.data,
      metadata: { name: record.objects[0], namespace: NS, labels: copy.metadata.labels, annotations: { ...copy.metadata.annotations, 'schema-rollback.io/chart-version': '0.9.0' } } } as KubeObject);
    release = { ...release, version: '0.9.0' };
    assert.match((await refusal(release)).message, /hold the files of release tamper chart 0\.8\.0, and the rollback is of release tamper chart 0\.9\.0/);
  });
});
