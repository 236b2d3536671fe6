/**
 * An in-process Kubernetes API double that real helm (3.17, 4.1) and kubectl (1.33) talk to over
 * plain HTTP on 127.0.0.1, with a fake kubelet that runs pods as local processes.
 *
 *   const kube = await startKubeDouble({ dir, images: { 'example/app:1.0.0': fixtureDir } });
 *   await run(kubectl, ['get', 'pods'], { env: { ...process.env, ...kube.env } });
 *   kube.get({ apiVersion: 'apps/v1', kind: 'Deployment' }, 'web');
 *   await kube.close();
 *
 * `kubectl port-forward` works (WebSocket-tunnelled SPDY and plain SPDY, see portforward.ts): a pod
 * says where its port leads with the annotation `kube-double/forward-<port>: "127.0.0.1:<real port>"`.
 *
 * Child processes must be started asynchronously (spawn, not spawnSync/execFileSync): the
 * server runs on this process's event loop, so a synchronous call would deadlock.
 * Not modelled: `metadata.managedFields` (apply conflicts are, see field-owners.ts), serving custom
 * resources of CRDs, typed-client protobuf bodies other than Secret/ConfigMap/Namespace/ServiceAccount
 * (`kubectl create job|deployment`), SPDY for exec, container restarts, pagination,
 * watching Tables (`kubectl get -w`), admission/validation beyond a few immutable fields and the
 * webhook-like denials a test sets up with denyWrites().
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { KubeApi } from './api.js';
import { Authorizer, requestAttributes, type DenyRule } from './authorization.js';
import { handleUpgrade, refuse } from './exec.js';
import { decodeRelease, type HelmRelease } from './helm-releases.js';
import { JobController } from './jobs.js';
import { writeKubeconfig } from './kubeconfig.js';
import { Kubelet } from './kubelet.js';
import { handlePortForward } from './portforward.js';
import { mustFind } from './registry.js';
import { createHandler, parseResourcePath, recordRequest, type AdmissionRule, type HoldRule, type RequestRecord } from './server.js';
import { ApiError, clone, type KubeObject } from './types.js';
import { startWorkloadControllers } from './workloads.js';

export { CONTEXTS } from './kubeconfig.js';
export { FORWARD_ANNOTATION_PREFIX } from './portforward.js';
export type { DenyRule } from './authorization.js';
export type { HelmRelease } from './helm-releases.js';
export type { RequestRecord } from './server.js';
export type { KubeObject, ObjectMeta } from './types.js';

export interface KubeDoubleOptions {
  /** A scratch directory: the kubeconfig and the discovery cache go here. */
  dir: string;
  /** Image name → fixture directory that plays the image (see test/kube/pod-env.ts). */
  images?: Record<string, string>;
}

/** A resource by `{apiVersion, kind}` (e.g. apps/v1 Deployment) or `{group, resource}` (e.g. apps deployments). */
export type ResourceRef = { apiVersion: string; kind: string } | { group: string; resource: string };

export interface KubeDouble {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Path of a kubeconfig with contexts `double` (current, ns default), `double-other` (ns other), `unreachable`. */
  kubeconfig: string;
  /** For child processes: KUBECONFIG, plus a KUBECACHEDIR of this server's own (discovery is cached on disk per host:port). */
  env: { KUBECONFIG: string; KUBECACHEDIR: string };
  /** Every HTTP request received, in order; clear with `requests.length = 0`. */
  requests: RequestRecord[];
  /** The kubelet's image map; may be extended while running. */
  images: Record<string, string>;
  /** An object, or undefined. `namespace` defaults to "default" and is ignored for cluster-scoped resources. */
  get<T extends KubeObject = KubeObject>(ref: ResourceRef, name: string, namespace?: string): T | undefined;
  /** Objects of a resource; all namespaces unless one is given. */
  list<T extends KubeObject = KubeObject>(ref: ResourceRef, opts?: { namespace?: string; labelSelector?: string; fieldSelector?: string }): T[];
  /**
   * Creates or replaces an object through the API (defaults, controllers and watches all see it,
   * like `kubectl replace`); the namespace is created if missing. Returns the stored object.
   */
  put<T extends KubeObject = KubeObject>(obj: T): T;
  /** Replaces only `status` (the status subresource). Controllers may overwrite it on their next pass. */
  putStatus<T extends KubeObject = KubeObject>(obj: T): T;
  /** Deletes (with dependents); false if it did not exist. */
  delete(ref: ResourceRef, name: string, namespace?: string): boolean;
  /** Resolves with the object once `predicate` holds; rejects after `timeoutMs` (default 10 s). */
  waitFor<T extends KubeObject = KubeObject>(ref: ResourceRef, name: string, namespace: string, predicate: (o: T) => boolean, timeoutMs?: number): Promise<T>;
  /** A container's log so far (first container if not named); undefined if the pod never ran. */
  podLogs(namespace: string, pod: string, container?: string): string | undefined;
  /**
   * Denies writes (create, update, patch, delete) of the named object as a validating admission
   * webhook would, with the API server's answer to a denial (400, `admission webhook "WEBHOOK" denied
   * the request: MESSAGE`); reads and subresources (scale, status) pass. Returns a function that
   * lifts the denial.
   */
  denyWrites(rule: { resource: ResourceRef; name: string; namespace?: string; webhook: string; message: string }): () => void;
  /**
   * Denies a request until the returned function is called: such requests get a 403 Forbidden with
   * RBAC's message, and SelfSubjectAccessReviews for them answer allowed: false.
   * Everything else stays allowed.
   */
  deny(rule: DenyRule): () => void;
  /**
   * Holds matching requests unanswered, as a slow API server or webhook would, so that a test can
   * act (kill the client) while one is in flight. `method` and `name` narrow the rule (default: any).
   * release() handles the held requests and stops holding; drop() ends their connections unanswered
   * (never handled: a killed client's request must not land later) and stops holding.
   */
  hold(rule: { method?: string; resource: ResourceRef; name?: string; namespace?: string; sub?: string }): HeldRequests;
  /** Helm releases decoded from release Secrets and ConfigMaps, sorted by name then revision. */
  helmReleases(opts?: { namespace?: string; name?: string }): HelmRelease[];
  /** Kills pod processes, ends watches and exec sessions, closes the server. */
  close(): Promise<void>;
}

export interface HeldRequests {
  /** How many requests are held now. */
  count(): number;
  release(): void;
  drop(): void;
}

export async function startKubeDouble(opts: KubeDoubleOptions): Promise<KubeDouble> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const api = new KubeApi();
  const images = opts.images ?? {};
  const kubelet = new Kubelet(api, images);
  const authorizer = new Authorizer();
  startWorkloadControllers(api);
  const jobs = new JobController(api, kubelet);
  const requests: RequestRecord[] = [];
  const streams = new Set<ServerResponse>();
  const upgraded = new Set<Duplex>();
  const admission = new Set<AdmissionRule>();
  const holds = new Set<HoldRule>();
  const server = createServer(createHandler({ api, kubelet, authorizer, requests, streams, admission, holds }));
  server.on('upgrade', (req, socket, head: Buffer) => {
    if (head.length) socket.unshift(head); // bytes the client sent right after its request
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const record = recordRequest(req);
    requests.push(record);
    const onAnswer = (status: number) => (record.status = status);
    // pods/exec and pods/portforward upgrades are authorized as create, before anything else.
    const route = parseResourcePath(record.path);
    try {
      if (route) authorizer.check(requestAttributes(req.method ?? 'GET', route, new URLSearchParams(), true));
    } catch (err) {
      onAnswer(403);
      return refuse(socket, err as ApiError);
    }
    if (record.path.endsWith('/portforward')) handlePortForward(api, req, socket, onAnswer);
    else handleUpgrade(api, kubelet, req, socket, onAnswer);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { cluster: { server: url }, user: { token: 'fake' } });
  const env = { KUBECONFIG: kubeconfig, KUBECACHEDIR: mkdtempSync(join(dir, 'kube-cache-')) };

  const defOf = (ref: ResourceRef) => mustFind(ref);
  const nsOf = (ref: ResourceRef, ns: string | undefined) => (defOf(ref).namespaced ? (ns ?? 'default') : undefined);
  const releaseRefs: ResourceRef[] = [{ group: '', resource: 'secrets' }, { group: '', resource: 'configmaps' }];

  const double: KubeDouble = {
    url,
    kubeconfig,
    env,
    requests,
    images,
    deny: (rule) => authorizer.deny(rule),
    get: <T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string) => api.find(defOf(ref), nsOf(ref, namespace), name) as T | undefined,
    list: <T extends KubeObject>(ref: ResourceRef, o: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {}) =>
      api.list(defOf(ref), o.namespace, o.labelSelector, o.fieldSelector) as T[],
    put: <T extends KubeObject>(obj: T) => {
      const def = mustFind({ apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '' });
      const ns = def.namespaced ? (obj.metadata.namespace ?? 'default') : undefined;
      if (ns) api.ensureNamespace(ns);
      const existing = api.find(def, ns, obj.metadata.name!);
      const body = { ...clone(obj), metadata: { ...clone(obj.metadata), resourceVersion: undefined } };
      return (existing ? api.update(def, ns, obj.metadata.name!, body) : api.create(def, ns, body)) as T;
    },
    putStatus: <T extends KubeObject>(obj: T) => {
      const def = mustFind({ apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? '' });
      const ns = def.namespaced ? (obj.metadata.namespace ?? 'default') : undefined;
      const body = { ...clone(obj), metadata: { ...obj.metadata, resourceVersion: undefined } };
      return api.update(def, ns, obj.metadata.name!, body, { subresource: 'status' }) as T;
    },
    delete: (ref, name, namespace) => {
      const def = defOf(ref);
      if (!api.find(def, nsOf(ref, namespace), name)) return false;
      api.delete(def, nsOf(ref, namespace), name);
      return true;
    },
    waitFor: <T extends KubeObject>(ref: ResourceRef, name: string, namespace: string, predicate: (o: T) => boolean, timeoutMs = 10_000) =>
      new Promise<T>((ok, fail) => {
        const check = () => {
          const o = api.find(defOf(ref), nsOf(ref, namespace), name) as T | undefined;
          if (o && predicate(o)) {
            done();
            ok(o);
          }
        };
        const unsubscribe = api.store.subscribe(() => check());
        const timer = setTimeout(() => {
          done();
          const o = api.find(defOf(ref), nsOf(ref, namespace), name);
          const seen = JSON.stringify(o?.status ?? o ?? 'absent');
          fail(new Error(`kube double: timed out after ${timeoutMs} ms waiting for ${JSON.stringify(ref)} ${namespace}/${name}; last seen: ${seen}`));
        }, timeoutMs);
        const done = () => {
          unsubscribe();
          clearTimeout(timer);
        };
        check();
      }),
    podLogs: (namespace, pod, container) => {
      const p = api.find(mustFind({ group: '', resource: 'pods' }), namespace, pod);
      return p && kubelet.logText(p, container);
    },
    denyWrites: ({ resource, name, namespace, webhook, message }) => {
      const def = defOf(resource);
      const rule: AdmissionRule = (r) =>
        r.def === def && r.name === name && r.ns === nsOf(resource, namespace) && r.sub === undefined
          ? new ApiError(400, 'BadRequest', `admission webhook "${webhook}" denied the request: ${message}`)
          : undefined;
      admission.add(rule);
      return () => void admission.delete(rule);
    },
    hold: ({ method, resource, name, namespace, sub }) => {
      const def = defOf(resource);
      const rule: HoldRule = {
        matches: (m, r) => (method === undefined || m === method) && r.def === def && r.ns === nsOf(resource, namespace) && (name === undefined || r.name === name) && r.sub === sub,
        held: new Set(),
      };
      holds.add(rule);
      const end = (how: 'release' | 'drop') => {
        holds.delete(rule);
        for (const h of [...rule.held]) h[how]();
      };
      return { count: () => rule.held.size, release: () => end('release'), drop: () => end('drop') };
    },
    helmReleases: (o = {}) =>
      releaseRefs
        .flatMap((ref) => api.list(defOf(ref), o.namespace, `owner=helm${o.name ? `,name=${o.name}` : ''}`))
        .filter((obj) => obj.data?.release)
        .map(decodeRelease)
        .sort((a, b) => (a.name === b.name ? a.version - b.version : a.name < b.name ? -1 : 1)),
    close: async () => {
      jobs.close();
      kubelet.close();
      for (const res of streams) res.end();
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
  return double;
}
