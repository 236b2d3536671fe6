/**
 * HTTP routing: discovery, OpenAPI stub, and the REST verbs on resources and their subresources
 * (status, scale, log). `pods/exec` and `pods/portforward` arrive as HTTP upgrades and are handled
 * in exec.ts and portforward.ts.
 * Every request is logged (method, path, query, content type) so tests can assert what a client
 * actually did; logging all requests was also the fastest way to learn what clients need.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PATCH_TYPES, type KubeApi, type PatchType } from './api.js';
import type { Authorizer } from './authorization.js';
import { requestAttributes } from './authorization.js';
import type { Kubelet } from './kubelet.js';
import { decodeProtobuf } from './protobuf.js';
import { apiVersionOf, discovery, findByPath, openapiV3, VERSION_INFO, type ResourceDef } from './registry.js';
import { selectorString } from './selectors.js';
import { jsonPatch, mergePatch } from './json-patches.js';
import { strategicMerge } from './strategic-merge.js';
import { toTable, wantsTable } from './table.js';
import { ApiError, type KubeObject } from './types.js';
import { serveWatch } from './watch.js';

export interface RequestRecord {
  method: string;
  path: string;
  /** Query parameters; a repeated parameter (exec's `command`) is joined with ",". */
  query: Record<string, string>;
  contentType: string;
  accept: string;
  userAgent: string;
  /** HTTP status of the answer, once sent. */
  status?: number;
}

export interface ServerContext {
  api: KubeApi;
  kubelet: Kubelet;
  /** Which requests are denied (403), and the answers to SelfSubjectAccessReviews. */
  authorizer: Authorizer;
  requests: RequestRecord[];
  /** Open watch and log-follow responses, ended by close(). */
  streams: Set<ServerResponse>;
  /** Validating admission: each rule may deny a write (see KubeDouble.denyWrites). */
  admission: Set<AdmissionRule>;
  /** Requests held unanswered, as a slow API server or webhook would (see KubeDouble.hold). */
  holds: Set<HoldRule>;
}

/** Matches the requests it holds; held ones wait in `held` until released (handled) or dropped. */
export interface HoldRule {
  matches(method: string, route: ResourceRoute): boolean;
  held: Set<{ release(): void; drop(): void }>;
}

/** A write the double is about to accept: what a validating admission webhook is shown. */
export interface AdmissionRequest {
  method: string;
  def: ResourceDef;
  ns?: string;
  name?: string;
  sub?: string;
}

/** Returns the error a webhook's denial turns into, or undefined to let the write through. */
export type AdmissionRule = (request: AdmissionRequest) => ApiError | undefined;

export interface ResourceRoute {
  def: ResourceDef;
  ns?: string;
  name?: string;
  sub?: string;
}

/** `/api/v1/namespaces/ns/pods/p/log` → {def: pods, ns, name: p, sub: log}. */
export function parseResourcePath(path: string): ResourceRoute | undefined {
  const segs = path.split('/').filter(Boolean);
  let group: string, version: string | undefined, rest: string[];
  if (segs[0] === 'api') [group, version, rest] = ['', segs[1], segs.slice(2)];
  else if (segs[0] === 'apis') [group, version, rest] = [segs[1] ?? '', segs[2], segs.slice(3)];
  else return undefined;
  if (!version) return undefined;
  let ns: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && findByPath(group, version, rest[2]!)?.namespaced) {
    ns = rest[1];
    rest = rest.slice(2);
  }
  const def = findByPath(group, version, rest[0] ?? '');
  if (!def || rest.length > 3) return undefined;
  return { def, ns, name: rest[1], sub: rest[2] };
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string, kind: string): unknown {
  if (raw.length === 0) return undefined;
  if (contentType.includes('protobuf')) return decodeProtobuf(raw, kind);
  if (contentType.includes('cbor')) throw new ApiError(415, 'UnsupportedMediaType', 'the double does not speak CBOR');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    // Go clients send apply patches as JSON even under the YAML content type.
    throw new ApiError(415, 'UnsupportedMediaType', `kube double: body of type ${contentType} is not JSON (YAML bodies are not supported)`);
  }
}

function tryParse(raw: Buffer, contentType: string, kind: string): unknown {
  try {
    return parseBody(raw, contentType, kind);
  } catch {
    return undefined;
  }
}

function toScale(obj: KubeObject): object {
  const { name, namespace, uid, resourceVersion, creationTimestamp } = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: obj.spec?.replicas ?? 0 },
    status: { replicas: obj.status?.replicas ?? 0, selector: selectorString(obj.spec?.selector) },
  };
}

export function recordRequest(req: IncomingMessage): RequestRecord {
  const url = new URL(req.url ?? '/', 'http://double');
  const query: Record<string, string> = {};
  for (const k of new Set(url.searchParams.keys())) query[k] = url.searchParams.getAll(k).join(',');
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query,
    contentType: req.headers['content-type'] ?? '',
    accept: req.headers.accept ?? '',
    userAgent: req.headers['user-agent'] ?? '',
  };
}

export function createHandler(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://double');
    const record = recordRequest(req);
    ctx.requests.push(record);
    // 'close' also covers watches and log follows that the client ends.
    res.on('close', () => (record.status = res.statusCode));
    const target = parseResourcePath(url.pathname);
    const hold = target && [...ctx.holds].find((rule) => rule.matches(req.method ?? 'GET', target));
    if (hold) {
      const entry = {
        release: () => {
          hold.held.delete(entry);
          handle(ctx, req, res, url);
        },
        // Never handled: the client sees its connection end without an answer.
        drop: () => {
          hold.held.delete(entry);
          req.socket.destroy();
        },
      };
      hold.held.add(entry);
      return;
    }
    handle(ctx, req, res, url);
  };
}

function handle(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): void {
  route(ctx, req, res, url).catch((err: unknown) => {
    const apiErr =
      err instanceof ApiError
        ? err
        : err instanceof SyntaxError
          ? new ApiError(400, 'BadRequest', err.message)
          : new ApiError(500, 'InternalError', `kube double: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (apiErr.code === 500) console.error(apiErr.message);
    if (res.headersSent) res.end();
    else json(res, apiErr.code, apiErr.toStatus());
  });
}

async function route(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  const q = url.searchParams;
  if (path === '/version' || path === '/version/') return json(res, 200, VERSION_INFO);
  if (['/healthz', '/readyz', '/livez'].includes(path)) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    return void res.end('ok');
  }
  const doc = path.startsWith('/openapi/v3') ? openapiV3(path) : req.method === 'GET' ? discovery(path) : undefined;
  if (doc) return json(res, 200, doc);
  const r = parseResourcePath(path);
  if (!r) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const { def, ns, name, sub } = r;
  const { api } = ctx;
  ctx.authorizer.check(requestAttributes(req.method ?? 'GET', r, q));
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const raw = await readBody(req);
  // DeleteOptions are optional and mostly ignored: an undecodable one must not fail the delete.
  const body = (req.method === 'DELETE' ? tryParse(raw, contentType, def.kind) : parseBody(raw, contentType, def.kind)) as KubeObject | undefined;
  const dryRun = q.get('dryRun') === 'All';
  // Like the API server: without ?fieldManager, the writer is named after its user agent ("kubectl/v1.33.9 …").
  const fieldManager = q.get('fieldManager') ?? ((req.headers['user-agent'] ?? '').split('/')[0] || 'unknown');
  const isStatus = sub === 'status';

  if (sub && !(def.subresources ?? []).includes(sub)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if ((req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') && body === undefined) {
    throw new ApiError(400, 'BadRequest', `${req.method} ${path} needs a request body`);
  }
  if (def.resource === 'selfsubjectaccessreviews') {
    if (req.method !== 'POST' || name) throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not supported on ${path}`);
    return json(res, 201, ctx.authorizer.review(body!));
  }
  if (req.method !== 'GET') {
    const request = { method: req.method ?? '', def, ns, name: name ?? body?.metadata?.name, sub };
    for (const rule of ctx.admission) {
      const denied = rule(request);
      if (denied) throw denied;
    }
  }
  switch (req.method) {
    case 'GET': {
      if (!name) {
        if (q.get('watch') === 'true' || q.get('watch') === '1') return serveWatch(res, api, def, ns, q, ctx.streams);
        const items = api.list(def, ns, q.get('labelSelector'), q.get('fieldSelector'));
        return json(res, 200, listBody(def, items, req.headers.accept, q, String(api.store.resourceVersion)));
      }
      const obj = api.get(def, ns, name);
      if (sub === 'scale') return json(res, 200, toScale(obj));
      if (sub === 'log') return ctx.kubelet.serveLogs(obj, q, res, ctx.streams);
      if (sub === 'exec' || sub === 'portforward') throw new ApiError(400, 'BadRequest', 'Upgrade request required');
      if (wantsTable(req.headers.accept)) return json(res, 200, toTable(def, [obj], q.get('includeObject'), obj.metadata.resourceVersion!));
      return json(res, 200, obj);
    }
    case 'POST': {
      if (name) throw new ApiError(405, 'MethodNotAllowed', `POST is not supported on ${path}`);
      return json(res, dryRun ? 200 : 201, api.create(def, ns, body!, { dryRun, fieldManager }));
    }
    case 'PUT': {
      if (!name) throw new ApiError(405, 'MethodNotAllowed', 'PUT needs a name');
      if (sub === 'scale') return json(res, 200, scaleTo(api, def, ns, name, body?.spec?.replicas, fieldManager));
      return json(res, 200, api.update(def, ns, name, body!, { dryRun, fieldManager, subresource: isStatus ? 'status' : undefined }));
    }
    case 'PATCH': {
      if (!name) throw new ApiError(405, 'MethodNotAllowed', 'PATCH needs a name');
      const type: PatchType | undefined = PATCH_TYPES[contentType];
      if (!type) {
        const accepted = Object.keys(PATCH_TYPES).join(', ');
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted}`);
      }
      if (sub === 'scale') {
        const cur = toScale(api.get(def, ns, name));
        const patched = (type === 'json' ? jsonPatch(cur, body) : type === 'merge' ? mergePatch(cur, body) : strategicMerge(cur, body)) as KubeObject;
        return json(res, 200, scaleTo(api, def, ns, name, patched.spec?.replicas, fieldManager));
      }
      const force = q.get('force') === 'true';
      // An apply must name its manager (a real server answers 422 otherwise); other writes default it.
      const manager = type === 'apply' ? (q.get('fieldManager') ?? undefined) : fieldManager;
      const opts = { dryRun, fieldManager: manager, force, subresource: isStatus ? ('status' as const) : undefined };
      const { object, created } = api.patch(def, ns, name, type, body, opts);
      return json(res, created ? 201 : 200, object);
    }
    case 'DELETE': {
      const orphan = (q.get('propagationPolicy') ?? (body as { propagationPolicy?: string } | undefined)?.propagationPolicy) === 'Orphan';
      if (name) return json(res, 200, api.delete(def, ns, name, { dryRun, orphan }));
      const matching = api.list(def, ns, q.get('labelSelector'), q.get('fieldSelector'));
      const items = matching.map((o) => api.delete(def, o.metadata.namespace, o.metadata.name!, { dryRun, orphan }));
      return json(res, 200, { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: {}, items });
    }
    default:
      throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not supported`);
  }
}

function scaleTo(api: KubeApi, def: ResourceDef, ns: string | undefined, name: string, replicas: unknown, fieldManager: string): object {
  if (typeof replicas !== 'number' || replicas < 0) {
    throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}`);
  }
  api.mutate(def, ns, name, (o) => (o.spec.replicas = replicas), { fieldManager, subresource: 'scale' });
  return toScale(api.get(def, ns, name));
}

function listBody(def: ResourceDef, items: KubeObject[], accept: string | undefined, q: URLSearchParams, rv: string): object {
  if (wantsTable(accept)) return toTable(def, items, q.get('includeObject'), rv);
  if (/as=PartialObjectMetadataList/.test(accept ?? '')) {
    const partial = items.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }));
    return { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: rv }, items: partial };
  }
  return { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: { resourceVersion: rv }, items };
}
