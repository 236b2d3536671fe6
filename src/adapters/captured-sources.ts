/**
 * Captured migration files (src/core/capture.ts) as Secrets in the release's namespace, through
 * kubectl: `RELEASE-schema-rollback-src-VERSION-N`, N = 0, 1, ... Owned by nothing (no
 * ownerReference, no Helm labels), so neither `helm upgrade` nor `helm rollback` removes them.
 *
 * Why Secrets and not ConfigMaps: migration files may hold secrets (a `CREATE ROLE ... PASSWORD`, a
 * seeded API key); the built-in `view` ClusterRole reads every ConfigMap but no Secret, and Secrets
 * are what clusters encrypt at rest. The rollback's Role already lists Secrets for Helm's own storage.
 *
 * The content is one JSON document (release, chart version, each track's files sorted by name),
 * gzip'd and cut into chunks of at most 768 KiB: the API server refuses a Secret whose data exceeds
 * 1 MiB, and etcd a request over 1.5 MiB, which a chunk's base64 in JSON stays well under. Every
 * chunk carries the record (chart version, tracks, sha256 of the uncompressed document, time, who,
 * N of M) in its annotations, so a chunk of another capture is recognised. Chunk 0 is written last
 * and read first: until it is written, a reader finds the previous capture (whose chunks it then
 * finds replaced: refused as damaged, never mixed).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { CapturedContent, CapturedSourcePort, CaptureRecord, FoundCapture } from '../core/capture.js';
import { captureFix, countFiles } from '../core/capture.js';
import { ClusterError, RefusedError } from '../core/errors.js';
import type { Kubectl } from './kubectl.js';
import { sha256Hex } from './lazy-builtins.js';
import type { MigrationSource } from './migration-source.js';

/** Raw (compressed) bytes per object: base64 makes 1 MiB of it, under the API server's 1 MiB of data per Secret with room to spare. */
export const DEFAULT_CHUNK_BYTES = 768 * 1024;
/** Largest capture read back, uncompressed: the migration source's own limit. */
const MAX_CONTENT_BYTES = 256 * 1024 * 1024;
const FORMAT = 'schema-rollback.io/captured-source/v1';
const SECRET_TYPE = 'schema-rollback.io/migrations';
const DATA_KEY = 'files.json.gz';
const A = 'schema-rollback.io/';

/** DNS-1123: lower case, digits, '-' and '.'; a SemVer's '+' and capitals do not fit (the exact version is in the annotations). */
export function capturedObjectName(release: string, chartVersion: string, chunk: number): string {
  const version = chartVersion.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/-*\.+-*/g, '.');
  return `${release}-schema-rollback-src-${version}-${chunk}`;
}

/** The document the checksum is of: keys in a fixed order, tracks and files sorted, whatever order they came in. */
export function packContent(content: CapturedContent): Buffer {
  const tracks = Object.fromEntries(Object.keys(content.tracks).sort().map((t) => [t, [...content.tracks[t]!]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => ({ name: f.name, body: f.body }))]));
  return Buffer.from(JSON.stringify({ format: FORMAT, release: content.release, chartVersion: content.chartVersion, tracks }), 'utf8');
}

export const sha256 = (bytes: Buffer): string => sha256Hex(bytes);

/** The gzip'd document cut into chunks of at most `chunkBytes`. */
export function chunkContent(packed: Buffer, chunkBytes = DEFAULT_CHUNK_BYTES): Buffer[] {
  const zipped = gzipSync(packed, { level: 9 });
  const chunks: Buffer[] = [];
  for (let at = 0; at < zipped.length; at += chunkBytes) chunks.push(zipped.subarray(at, at + chunkBytes));
  return chunks;
}

/** The chunks joined and unpacked: the document's checksum, and its content when it is the format. */
export function unpackChunks(chunks: Buffer[]): { actualSha256?: string; content?: CapturedContent; damage?: string } {
  let packed: Buffer;
  try {
    packed = gunzipSync(Buffer.concat(chunks), { maxOutputLength: MAX_CONTENT_BYTES });
  } catch (err) {
    return { damage: `not a readable gzip stream (${(err as Error).message})` };
  }
  const actualSha256 = sha256(packed);
  try {
    const doc = JSON.parse(packed.toString('utf8')) as { format?: unknown; release?: unknown; chartVersion?: unknown; tracks?: unknown };
    const tracksOk = typeof doc.tracks === 'object' && doc.tracks !== null &&
      Object.values(doc.tracks).every((files) => Array.isArray(files) && files.every((f) => typeof f?.name === 'string' && typeof f?.body === 'string'));
    if (doc.format !== FORMAT || typeof doc.release !== 'string' || typeof doc.chartVersion !== 'string' || !tracksOk) {
      return { actualSha256, damage: `not a capture of this plugin's format ${FORMAT}` };
    }
    return { actualSha256, content: { release: doc.release, chartVersion: doc.chartVersion, tracks: doc.tracks as CapturedContent['tracks'] } };
  } catch {
    return { actualSha256, damage: 'its content is not JSON' };
  }
}

interface SecretObject {
  metadata?: { name?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

function recordFrom(annotations: Record<string, string>, release: string, objects: string[]): CaptureRecord {
  return {
    release,
    chartVersion: annotations[`${A}chart-version`] ?? '',
    tracks: (annotations[`${A}tracks`] ?? '').split(',').filter(Boolean),
    sha256: annotations[`${A}sha256`] ?? '',
    capturedAt: annotations[`${A}captured-at`] ?? '',
    capturedBy: annotations[`${A}captured-by`] ?? '',
    origin: annotations[`${A}source`] ?? '',
    files: Number(annotations[`${A}files`] ?? 0),
    bytes: Number(annotations[`${A}bytes`] ?? 0),
    storedBytes: Number(annotations[`${A}stored-bytes`] ?? 0),
    objects,
  };
}

export function createCapturedSources(kube: Pick<Kubectl, 'run'>, namespace: string, opts: { chunkBytes?: number } = {}): CapturedSourcePort {
  const getSecret = async (name: string): Promise<SecretObject | undefined> => {
    try {
      // --raw: a 404 then does not also GET the namespace (see run-records.ts).
      return JSON.parse(await kube.run(['get', '--raw', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`])) as SecretObject;
    } catch (err) {
      if (err instanceof ClusterError && /\(NotFound\)|not found/.test(err.message)) return undefined;
      throw err;
    }
  };
  return {
    checksum: (content) => sha256(packContent(content)),

    async read(release, chartVersion): Promise<FoundCapture | undefined> {
      const first = await getSecret(capturedObjectName(release, chartVersion, 0));
      if (!first) return undefined;
      const annotations = first.metadata?.annotations ?? {};
      const total = Number(annotations[`${A}chunks`]);
      const objects = Number.isInteger(total) && total > 0 ? Array.from({ length: total }, (_, i) => capturedObjectName(release, chartVersion, i)) : [capturedObjectName(release, chartVersion, 0)];
      const record = recordFrom(annotations, release, objects);
      if (objects.length !== total) return { record, damage: `${objects[0]} does not say how many objects hold the capture (annotation ${A}chunks)` };
      const chunks: Buffer[] = [];
      for (const [i, name] of objects.entries()) {
        const secret = i === 0 ? first : await getSecret(name);
        if (!secret) return { record, damage: `${name}, part ${i + 1} of ${total}, is missing` };
        const theirs = secret.metadata?.annotations?.[`${A}sha256`];
        if (theirs !== record.sha256) return { record, damage: `${name} belongs to another capture (sha256 ${theirs ?? 'none'}, ${objects[0]} says ${record.sha256})` };
        chunks.push(Buffer.from(secret.data?.[DATA_KEY] ?? '', 'base64'));
      }
      return { record, ...unpackChunks(chunks) };
    },

    async write(content, meta, previous) {
      const packed = packContent(content);
      const chunks = chunkContent(packed, opts.chunkBytes);
      const objects = chunks.map((_, i) => capturedObjectName(content.release, content.chartVersion, i));
      const record: CaptureRecord = {
        release: content.release, chartVersion: content.chartVersion, tracks: Object.keys(content.tracks).sort(), sha256: sha256(packed),
        ...meta, files: countFiles(content), bytes: packed.length, storedBytes: chunks.reduce((n, c) => n + c.length, 0), objects,
      };
      const annotations = {
        [`${A}chart-version`]: record.chartVersion, [`${A}tracks`]: record.tracks.join(','), [`${A}sha256`]: record.sha256,
        [`${A}captured-at`]: record.capturedAt, [`${A}captured-by`]: record.capturedBy, [`${A}source`]: record.origin,
        [`${A}files`]: String(record.files), [`${A}bytes`]: String(record.bytes), [`${A}stored-bytes`]: String(record.storedBytes), [`${A}chunks`]: String(chunks.length),
      };
      const labels = {
        'app.kubernetes.io/managed-by': 'helm-schema-rollback',
        [`${A}release`]: content.release,
        // Label values allow [-._a-zA-Z0-9] and 63 characters: enough to select one version's objects.
        [`${A}captured-source`]: content.chartVersion.replace(/[^-._a-zA-Z0-9]/g, '_').slice(0, 63).replace(/[^a-zA-Z0-9]+$/, ''),
      };
      // Chunk 0 last: a reader takes the capture from it, and until then finds the previous one.
      for (const i of [...chunks.keys()].slice(1).concat(0)) {
        const secret = {
          apiVersion: 'v1', kind: 'Secret', type: SECRET_TYPE,
          metadata: { name: objects[i], labels, annotations: { ...annotations, [`${A}chunk`]: String(i) } },
          data: { [DATA_KEY]: chunks[i]!.toString('base64') },
        };
        // Server-side apply: created or replaced whole in one call, with no last-applied copy doubling its size.
        await kube.run(['apply', '--server-side', '--force-conflicts', '--field-manager=helm-schema-rollback', '-f', '-'], JSON.stringify(secret));
      }
      const stale = (previous?.objects ?? []).filter((name) => !objects.includes(name));
      if (stale.length > 0) await kube.run(['delete', 'secret', ...stale, '--ignore-not-found']);
      return record;
    },
  };
}

/** A trusted capture as the native runner's migration source: the same files a --source of them would give. */
export function capturedMigrationSource(record: CaptureRecord, content: CapturedContent): MigrationSource {
  const origin = `secret/${record.objects[0]} (captured for chart ${record.chartVersion})`;
  return {
    origin,
    async files(track) {
      const files = content.tracks[track];
      // trustedCapture() has checked every track of the plan is there; a track asked for later is not.
      if (!files) throw new RefusedError([`${origin} has no files for track ${track}`], captureFix(record.release, record.chartVersion));
      return { origin: `${origin}:${track}/`, files: files.map((f) => ({ ...f })) };
    },
  };
}
