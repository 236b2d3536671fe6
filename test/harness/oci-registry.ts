/**
 * A minimal OCI distribution registry on loopback (plain HTTP), enough for `helm push` (blob
 * uploads: POST then PUT with ?digest, or a monolithic POST; manifest PUT by tag) and for reading
 * back (tags/list, manifests by tag or digest, blobs), optionally behind a Bearer token challenge.
 * Everything lives in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OciRegistry {
  /** 127.0.0.1:PORT, for oci://HOST/... references. */
  host: string;
  /** Requests seen, "METHOD path", for assertions. */
  requests: string[];
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startOciRegistry(opts: { token?: string } = {}): Promise<OciRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; type: string }>(); // "repo@digest" → manifest
  const tags = new Map<string, Map<string, string>>(); // repo → tag → digest
  const uploads = new Map<string, Buffer>();
  const requests: string[] = [];
  let host = '';

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    requests.push(`${req.method} ${url.pathname}`);
    const send = (status: number, data: Buffer | string = '', headers: Record<string, string> = {}) => {
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : data);
    };
    if (url.pathname === '/token') return send(200, JSON.stringify({ token: opts.token }), { 'Content-Type': 'application/json' });
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      return send(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="${host}",scope="repository:x:pull"` });
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') return send(200, '{}');
    const m = /^\/v2\/(.+)\/(blobs\/uploads\/?(.*)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list)$/.exec(url.pathname);
    if (!m) return send(404);
    const repo = m[1]!;
    if (m[2]!.startsWith('blobs/uploads')) {
      const data = await body(req);
      const digest = url.searchParams.get('digest');
      if (req.method === 'POST' && digest) {
        blobs.set(digest, data);
        return send(201, '', { Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
      if (req.method === 'POST') {
        const id = randomBytes(8).toString('hex');
        uploads.set(id, Buffer.alloc(0));
        return send(202, '', { Location: `/v2/${repo}/blobs/uploads/${id}`, 'Range': '0-0', 'Docker-Upload-UUID': id });
      }
      const id = m[3]!;
      const sofar = Buffer.concat([uploads.get(id) ?? Buffer.alloc(0), data]);
      if (req.method === 'PATCH') {
        uploads.set(id, sofar);
        return send(202, '', { Location: `/v2/${repo}/blobs/uploads/${id}`, Range: `0-${sofar.length - 1}` });
      }
      if (req.method === 'PUT' && digest) {
        if (sha256(sofar) !== digest) return send(400, 'digest mismatch');
        uploads.delete(id);
        blobs.set(digest, sofar);
        return send(201, '', { Location: `/v2/${repo}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
      return send(405);
    }
    if (m[4] !== undefined) {
      const blob = blobs.get(m[4]);
      return blob ? send(200, blob, { 'Content-Length': String(blob.length), 'Docker-Content-Digest': m[4] }) : send(404);
    }
    if (m[5] !== undefined) {
      const ref = decodeURIComponent(m[5]);
      if (req.method === 'PUT') {
        const data = await body(req);
        const digest = sha256(data);
        manifests.set(`${repo}@${digest}`, { body: data, type: String(req.headers['content-type'] ?? 'application/vnd.oci.image.manifest.v1+json') });
        if (!ref.startsWith('sha256:')) {
          if (!tags.has(repo)) tags.set(repo, new Map());
          tags.get(repo)!.set(ref, digest);
        }
        return send(201, '', { Location: `/v2/${repo}/manifests/${digest}`, 'Docker-Content-Digest': digest });
      }
      const digest = ref.startsWith('sha256:') ? ref : tags.get(repo)?.get(ref);
      const manifest = digest === undefined ? undefined : manifests.get(`${repo}@${digest}`);
      if (!manifest || digest === undefined) return send(404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      return send(200, manifest.body, { 'Content-Type': manifest.type, 'Content-Length': String(manifest.body.length), 'Docker-Content-Digest': digest });
    }
    return send(200, JSON.stringify({ name: repo, tags: [...(tags.get(repo)?.keys() ?? [])] }), { 'Content-Type': 'application/json' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
