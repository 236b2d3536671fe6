/**
 * Down files kept in the cluster: how a capture is packed (canonical document, gzip, chunks, sha256)
 * and when one is refused, at capture time (another copy of the same version) and at rollback time
 * (damaged, relabelled, another release's, a track missing). No cluster: the store is a Map.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { capturedObjectName, chunkContent, packContent, sha256, unpackChunks } from '../../src/adapters/captured-sources.js';
import { captureSource, trustedCapture, type CapturedContent, type CapturedSourcePort, type CaptureRecord, type FoundCapture } from '../../src/core/capture.js';
import { ExitCode, RefusedError } from '../../src/core/errors.js';
import type { HelmPort, ReleaseInfo } from '../../src/core/ports.js';
import { getTool } from '../../src/tools/index.js';

const content = (files: CapturedContent['tracks'] = { core: [{ name: '000013_x.down.sql', body: 'DROP TABLE x;' }, { name: '000013_x.up.sql', body: 'CREATE TABLE x();' }], vector: [{ name: '000003_v.down.sql', body: 'SELECT 1;' }] }): CapturedContent =>
  ({ release: 'kagent', chartVersion: '0.9.0', tracks: files });

const record = (over: Partial<CaptureRecord> = {}): CaptureRecord => ({
  release: 'kagent', chartVersion: '0.9.0', tracks: ['core', 'vector'], sha256: sha256(packContent(content())), capturedAt: '2026-12-05T00:00:00.000Z',
  capturedBy: 'ci@runner (pid 7)', origin: './migrations', files: 3, bytes: 1, storedBytes: 1, objects: ['kagent-schema-rollback-src-0.9.0-0'], ...over,
});

describe('captured down files: packing', () => {
  it('checksums the same files the same whatever order they are read in, and other files otherwise', () => {
    const c = content();
    const reordered: CapturedContent = { ...c, tracks: { vector: c.tracks['vector']!, core: [...c.tracks['core']!].reverse() } };
    assert.equal(sha256(packContent(reordered)), sha256(packContent(c)));
    const edited = content({ ...c.tracks, core: [{ name: '000013_x.down.sql', body: 'DROP TABLE x; ' }, c.tracks['core']![1]!] });
    assert.notEqual(sha256(packContent(edited)), sha256(packContent(c)));
    // The version and the release are inside what is checksummed: a copy relabelled for another version does not pass.
    assert.notEqual(sha256(packContent({ ...c, chartVersion: '0.8.0' })), sha256(packContent(c)));
  });

  it('cuts the gzip stream into chunks of at most the limit, and reads back the same files and checksum', () => {
    // Incompressible text: 2.5 MiB of it stays over 1 MiB once gzip'd.
    const big = content({ core: [{ name: '000001_seed.up.sql', body: randomBytes(1_900_000).toString('base64') }, { name: '000001_seed.down.sql', body: 'TRUNCATE seed;' }] });
    const chunks = chunkContent(packContent(big), 768 * 1024);
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.length <= 768 * 1024));
    const back = unpackChunks(chunks);
    assert.equal(back.damage, undefined);
    assert.equal(back.actualSha256, sha256(packContent(big)));
    // Read back in the document's order (files sorted by name), byte for byte.
    assert.deepEqual(back.content?.tracks['core']!.map((f) => f.name), ['000001_seed.down.sql', '000001_seed.up.sql']);
    assert.ok(back.content?.tracks['core']![1]!.body === big.tracks['core']![0]!.body);
    assert.equal(chunkContent(packContent(content())).length, 1, 'a usual migrations directory is one object');
  });

  it('says a stream with a chunk missing or swapped is damaged, and a changed body gives another checksum', () => {
    const big = content({ core: [{ name: 'a.sql', body: randomBytes(300_000).toString('base64') }] });
    const chunks = chunkContent(packContent(big), 100_000);
    assert.match(unpackChunks([chunks[0]!, ...chunks.slice(2)]).damage ?? '', /not a readable gzip stream/);
    const small = chunkContent(Buffer.from(JSON.stringify({ format: 'schema-rollback.io/captured-source/v1', release: 'kagent', chartVersion: '0.9.0', tracks: { core: [{ name: 'a.sql', body: 'edited' }] } })));
    const read = unpackChunks(small);
    assert.equal(read.damage, undefined);
    assert.notEqual(read.actualSha256, sha256(packContent(big)));
    assert.match(unpackChunks(chunkContent(Buffer.from('{"tracks": 1}'))).damage ?? '', /not a capture of this plugin's format/);
  });

  it('names the objects as Kubernetes accepts them (DNS-1123), whatever the SemVer holds', () => {
    assert.equal(capturedObjectName('kagent', '0.9.0', 0), 'kagent-schema-rollback-src-0.9.0-0');
    const odd = capturedObjectName('kagent', '1.0.0-RC.1+Build.5', 2);
    assert.equal(odd, 'kagent-schema-rollback-src-1.0.0-rc.1-build.5-2');
    assert.match(odd, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
  });
});

describe('captured down files: what a rollback may use', () => {
  const release = { name: 'kagent', version: '0.9.0' };
  const found = (over: Partial<FoundCapture> = {}): FoundCapture => ({ record: record(), actualSha256: record().sha256, content: content(), ...over });

  it('takes an intact capture of the running version that has every track; none at all is not an error', () => {
    assert.deepEqual(trustedCapture(found(), release, ['core', 'vector'])?.content, content());
    assert.equal(trustedCapture(undefined, release, ['core']), undefined);
  });

  const refusal = (f: FoundCapture, tracks = ['core', 'vector']): RefusedError => {
    try {
      trustedCapture(f, release, tracks);
    } catch (err) {
      assert.ok(err instanceof RefusedError);
      assert.equal(err.code, ExitCode.refused);
      assert.match(err.hint ?? '', /helm schema-rollback capture kagent --source DIR --replace/);
      assert.match(err.hint ?? '', /--source DIR\|FILE\.tar\.gz\|URL/);
      return err;
    }
    assert.fail('not refused');
  };

  it('refuses (exit 12, naming capture --replace and --source) content that does not match its checksum', () => {
    const err = refusal(found({ actualSha256: 'f'.repeat(64) }));
    assert.match(err.message, /do not match their checksum: sha256 f{64} of the content, [0-9a-f]{64} recorded at capture/);
  });

  it('refuses a copy of another chart version or release, even with its checksum intact, and a damaged or incomplete one', () => {
    assert.match(refusal(found({ record: record({ chartVersion: '0.8.0' }) })).message, /say they are chart 0\.8\.0's, and the release runs 0\.9\.0/);
    assert.match(refusal(found({ content: { ...content(), chartVersion: '0.8.0' } })).message, /hold the files of release kagent chart 0\.8\.0/);
    assert.match(refusal(found({ content: { ...content(), release: 'other' } })).message, /hold the files of release other chart 0\.9\.0/);
    assert.match(refusal(found({ content: undefined, damage: 'kagent-schema-rollback-src-0.9.0-1, part 2 of 2, is missing' })).message, /cannot be read whole: .*part 2 of 2, is missing/);
    assert.match(refusal(found(), ['core', 'vector', 'audit']).message, /have no files for track audit \(captured: core, vector\)/);
  });
});

describe('captured down files: capture', () => {
  const annotations = { 'schema-rollback.io/tracks': '- {name: core, tool: golang-migrate, revision: "13"}\n- {name: vector, tool: golang-migrate, revision: "3"}' };
  const releaseInfo = (over: Partial<ReleaseInfo> = {}): ReleaseInfo => ({ name: 'kagent', namespace: 'ai', revision: 4, status: 'deployed', chart: 'kagent', version: '0.9.0', annotations, ...over });

  /** A store as the Secrets adapter behaves, in memory: what was written is what is read. */
  function memoryStore() {
    const kept = new Map<string, { record: CaptureRecord; content: CapturedContent }>();
    let writes = 0;
    const port: CapturedSourcePort = {
      checksum: (c) => sha256(packContent(c)),
      async read(release, version) {
        const k = kept.get(`${release}/${version}`);
        return k && { record: k.record, content: k.content, actualSha256: sha256(packContent(k.content)) };
      },
      async write(c, meta) {
        writes++;
        const r = record({ ...meta, sha256: sha256(packContent(c)) });
        kept.set(`${c.release}/${c.chartVersion}`, { record: r, content: c });
        return r;
      },
    };
    return { port, writes: () => writes };
  }

  const deps = (store: CapturedSourcePort, files: Record<string, Array<{ name: string; body: string }>>, release = releaseInfo()) => ({
    helm: { namespace: 'ai', getRelease: async () => release, getValues: async () => ({}) } satisfies HelmPort,
    tools: { get: getTool },
    captured: store,
    openSource: () => ({ origin: './migrations', files: async (track: string) => ({ origin: `./migrations/${track}/`, files: files[track] ?? [] }) }),
  });
  const opts = { release: 'kagent', overrides: {}, replace: false, holder: 'ci@runner (pid 7)', now: () => new Date('2026-12-05T00:00:00Z') };

  it('stores the running version\'s files once; the same files again change nothing', async () => {
    const store = memoryStore();
    const first = await captureSource(deps(store.port, content().tracks), opts);
    assert.equal(first.result, 'captured');
    assert.equal(first.record.sha256, sha256(packContent(content())));
    const again = await captureSource(deps(store.port, content().tracks), opts);
    assert.equal(again.result, 'unchanged');
    assert.equal(store.writes(), 1);
  });

  it('refuses other files for a version already captured unless --replace, writing nothing', async () => {
    const store = memoryStore();
    await captureSource(deps(store.port, content().tracks), opts);
    const other = { ...content().tracks, vector: [{ name: '000003_v.down.sql', body: 'DROP INDEX v;' }] };
    const err = await captureSource(deps(store.port, other), opts).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RefusedError, String(err));
    assert.match(err.message, /already has down files captured for chart 0\.9\.0: other files \(sha256 [0-9a-f]{12}…, captured 2026-12-05T00:00:00\.000Z by ci@runner/);
    assert.match(err.hint ?? '', /pass --replace/);
    assert.equal(store.writes(), 1);
    assert.equal((await captureSource(deps(store.port, other), { ...opts, replace: true })).result, 'replaced');
  });

  it('refuses a release that is not deployed, and a track with no files, before writing anything', async () => {
    const store = memoryStore();
    const failed = await captureSource(deps(store.port, content().tracks, releaseInfo({ status: 'failed' })), opts).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof RefusedError);
    assert.match(failed.message, /is failed, not deployed or being deployed/);
    // A chart's post-upgrade hook runs while Helm still calls the revision pending-upgrade.
    assert.equal((await captureSource(deps(memoryStore().port, content().tracks, releaseInfo({ status: 'pending-upgrade' })), opts)).result, 'captured');
    const empty = await captureSource(deps(store.port, { core: content().tracks['core']! }), opts).then(() => undefined, (e: unknown) => e);
    assert.ok(empty instanceof RefusedError);
    assert.match(empty.message, /track vector: no migration files in \.\/migrations\/vector\//);
    assert.equal(store.writes(), 0);
  });
});
