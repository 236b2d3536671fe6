/**
 * A small Kubernetes API client, in process (issue 12: each read-only kubectl or helm process on the
 * plan's and status's critical path cost 40-80 ms; one request over a kept-alive connection costs
 * a few). Node's http/https only.
 *
 * The connection is resolved the way kubectl resolves it, from the same inputs: the kubeconfig
 * files ($KUBECONFIG, a list merged first-wins per name and per key, else ~/.kube/config) and the
 * settings Helm hands a plugin (HELM_KUBECONTEXT, HELM_KUBEAPISERVER, HELM_KUBETOKEN, ...). Only
 * what is understood here is used: a kubeconfig asking for anything else (an auth-provider, a
 * proxy, a field that could change how the client authenticates) makes resolveKubeConnection
 * answer a reason instead, and the caller keeps kubectl and helm for the whole run.
 * HSR_KUBE_CLIENT=kubectl does the same on purpose.
 *
 * Under --debug a request is logged as method, path, status and milliseconds: never a header, a
 * body, a token or a certificate.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ClusterError, CommandFailedError, type ErrorDetails } from '../core/errors.js';
import { permissionDenied } from '../core/permissions.js';
import type { Log } from '../core/ports.js';
import { parseForbidden } from './kubectl.js';
// node:https (with tls) only for an https server, node:child_process only for an exec credential plugin.
import { childProcess, https } from './lazy-builtins.js';

/** HSR_KUBE_CLIENT=kubectl: every Kubernetes read and write goes through kubectl and helm, as before. */
export const KUBE_CLIENT_ENV = 'HSR_KUBE_CLIENT';

/** client-go's exec credential plugin, as written under a kubeconfig user's `exec:`. */
export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  provideClusterInfo: boolean;
}

export interface KubeConnection {
  /** The API server's URL, without a trailing slash. */
  server: string;
  /** The context the connection came from (for --debug only). */
  context: string;
  tls: { ca?: Buffer; insecure: boolean; serverName?: string; cert?: Buffer; key?: Buffer };
  auth:
    | { type: 'none' }
    | { type: 'token'; token: string }
    | { type: 'token-file'; file: string }
    | { type: 'basic'; username: string; password: string }
    | { type: 'exec'; exec: ExecConfig; cluster: { server: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string } };
  /** Impersonate-User / Impersonate-Group (helm --kube-as-user, --kube-as-group; a user's as, as-groups). */
  impersonate?: { user?: string; groups: string[] };
}

export type ResolvedConnection = { connection: KubeConnection } | { fallback: string };

interface KubeconfigFile {
  dir: string;
  config: Record<string, unknown>;
}

/** Cluster fields understood here; any other (proxy-url, ...) keeps kubectl. `extensions` carry no connection setting. */
const CLUSTER_FIELDS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'disable-compression', 'extensions']);
/** User fields understood here; any other (auth-provider, as-uid, as-user-extra, ...) keeps kubectl. */
const USER_FIELDS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'username', 'password', 'exec', 'as', 'as-groups', 'extensions']);
const EXEC_FIELDS = new Set(['apiVersion', 'command', 'args', 'env', 'installHint', 'provideClusterInfo', 'interactiveMode']);

/**
 * A kubeconfig's document. JSON (which kubectl reads too, and some tools write) is parsed as JSON:
 * the same document YAML would give, without the YAML parser's first-use cost (issue 12: about 8 ms
 * of status's start-up); one difference, a key repeated in one object is taken last where the YAML
 * parser refuses the file. Anything else, or JSON that does not parse, goes to the YAML parser.
 */
export function parseKubeconfig(text: string): unknown {
  if (text.trimStart().startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // YAML flow mappings start with "{" too, and YAML names the error better.
    }
  }
  return parseYaml(text);
}

/** The kubeconfig files kubectl reads: $KUBECONFIG's list (missing files skipped), else ~/.kube/config. */
export function kubeconfigPaths(env: NodeJS.ProcessEnv): string[] {
  const list = (env['KUBECONFIG'] ?? '').split(path.delimiter).filter(Boolean);
  if (list.length > 0) return [...new Set(list)];
  return [path.join(env['HOME'] || os.homedir(), '.kube', 'config')];
}

/**
 * The connection kubectl would make with the plugin's environment, or why this client cannot make
 * the same one (the caller then uses kubectl and helm for the whole run).
 */
export function resolveKubeConnection(env: NodeJS.ProcessEnv, readFile: (file: string) => string = (f) => readFileSync(f, 'utf8')): ResolvedConnection {
  if (env[KUBE_CLIENT_ENV] === 'kubectl') return { fallback: `${KUBE_CLIENT_ENV}=kubectl` };
  if (env['HELM_KUBEINSECURE_SKIP_TLS_VERIFY'] === 'true' && env['HELM_KUBECAFILE']) return { fallback: 'both --kube-insecure-skip-tls-verify and --kube-ca-file are set' };
  const files: KubeconfigFile[] = [];
  for (const file of kubeconfigPaths(env)) {
    let text: string;
    try {
      text = readFile(file);
    } catch {
      continue; // kubectl skips a listed file that does not exist
    }
    let config: unknown;
    try {
      config = parseKubeconfig(text);
    } catch (err) {
      return { fallback: `kubeconfig ${file} does not parse (${(err as Error).message.split('\n')[0]})` };
    }
    if (config !== null && typeof config === 'object') files.push({ dir: path.dirname(path.resolve(file)), config: config as Record<string, unknown> });
  }
  const contextName = env['HELM_KUBECONTEXT'] || (files.map((f) => f.config['current-context']).find((c) => typeof c === 'string' && c !== '') as string | undefined);
  if (!contextName) return { fallback: 'no kube context is set (no current-context, no --kube-context)' };
  const context = named(files, 'contexts', 'context', contextName);
  if (!context) return { fallback: `context ${contextName} is not in the kubeconfig` };
  const cluster = typeof context.value['cluster'] === 'string' ? named(files, 'clusters', 'cluster', context.value['cluster']) : undefined;
  const user = typeof context.value['user'] === 'string' ? named(files, 'users', 'user', context.value['user']) : undefined;
  const c = cluster?.value ?? {};
  const u = user?.value ?? {};
  const unknownCluster = Object.keys(c).find((k) => !CLUSTER_FIELDS.has(k));
  if (unknownCluster) return { fallback: `the kubeconfig's cluster sets ${unknownCluster}` };
  const unknownUser = Object.keys(u).find((k) => !USER_FIELDS.has(k));
  if (unknownUser) return { fallback: `the kubeconfig's user sets ${unknownUser}` };

  const server = (env['HELM_KUBEAPISERVER'] || str(c['server']) || '').replace(/\/+$/, '');
  if (!server) return { fallback: `the cluster of context ${contextName} has no server` };
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(server) ? server : `https://${server}`);
  } catch {
    return { fallback: `server ${server} is not a URL` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { fallback: `server scheme ${url.protocol} is not http(s)` };
  const proxy = proxyFor(env, url);
  if (proxy) return { fallback: `a proxy is set in the environment (${proxy})` };

  // kubectl refuses this pair ("specifying a root certificates file with the insecure flag is not allowed"): let it say so.
  if (c['insecure-skip-tls-verify'] === true && (str(c['certificate-authority-data']) || str(c['certificate-authority']))) return { fallback: 'the cluster sets both insecure-skip-tls-verify and a certificate authority' };
  const fromFile = (file: string, dir: string): Buffer => readFileSync(path.isAbsolute(file) ? file : path.join(dir, file));
  const insecure = env['HELM_KUBEINSECURE_SKIP_TLS_VERIFY'] === 'true' || c['insecure-skip-tls-verify'] === true;
  const tls: KubeConnection['tls'] = { insecure, serverName: env['HELM_KUBETLS_SERVER_NAME'] || str(c['tls-server-name']) };
  try {
    if (env['HELM_KUBECAFILE']) tls.ca = readFileSync(env['HELM_KUBECAFILE']);
    else if (!insecure && str(c['certificate-authority-data'])) tls.ca = Buffer.from(str(c['certificate-authority-data'])!, 'base64');
    else if (!insecure && str(c['certificate-authority'])) tls.ca = fromFile(str(c['certificate-authority'])!, cluster!.dir);
    if (str(u['client-certificate-data'])) tls.cert = Buffer.from(str(u['client-certificate-data'])!, 'base64');
    else if (str(u['client-certificate'])) tls.cert = fromFile(str(u['client-certificate'])!, user!.dir);
    if (str(u['client-key-data'])) tls.key = Buffer.from(str(u['client-key-data'])!, 'base64');
    else if (str(u['client-key'])) tls.key = fromFile(str(u['client-key'])!, user!.dir);
  } catch (err) {
    // kubectl fails on these with its own message: let it say so.
    return { fallback: `a certificate file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (Boolean(tls.cert) !== Boolean(tls.key)) return { fallback: 'the kubeconfig user has a client certificate without its key, or a key without its certificate' };

  let auth: KubeConnection['auth'] = { type: 'none' };
  const token = env['HELM_KUBETOKEN'] || str(u['token']);
  const basic = str(u['username']) !== undefined || str(u['password']) !== undefined;
  if (token) auth = { type: 'token', token };
  else if (str(u['tokenFile'])) auth = { type: 'token-file', file: path.isAbsolute(str(u['tokenFile'])!) ? str(u['tokenFile'])! : path.join(user!.dir, str(u['tokenFile'])!) };
  if (basic) {
    if (auth.type !== 'none') return { fallback: 'the kubeconfig user has both a token and a username/password' };
    auth = { type: 'basic', username: str(u['username']) ?? '', password: str(u['password']) ?? '' };
  }
  if (u['exec'] !== undefined && u['exec'] !== null && !env['HELM_KUBETOKEN']) {
    const exec = execConfig(u['exec'], user!.dir);
    if ('fallback' in exec) return exec;
    if (auth.type !== 'none') return { fallback: 'the kubeconfig user has both an exec plugin and a token or password' };
    const clusterInfo = { server, ...(str(c['certificate-authority-data']) ? { 'certificate-authority-data': str(c['certificate-authority-data'])! } : {}), ...(insecure ? { 'insecure-skip-tls-verify': true } : {}), ...(tls.serverName ? { 'tls-server-name': tls.serverName } : {}) };
    auth = { type: 'exec', exec: exec.exec, cluster: clusterInfo };
  }
  const asUser = env['HELM_KUBEASUSER'] || str(u['as']);
  const groups = env['HELM_KUBEASGROUPS'] ? env['HELM_KUBEASGROUPS'].split(',').filter(Boolean) : Array.isArray(u['as-groups']) ? (u['as-groups'] as unknown[]).map(String) : [];
  return {
    connection: {
      server: url.toString().replace(/\/+$/, ''),
      context: contextName,
      tls,
      auth,
      ...(asUser || groups.length > 0 ? { impersonate: { user: asUser, groups } } : {}),
    },
  };
}

function execConfig(raw: unknown, dir: string): { exec: ExecConfig } | { fallback: string } {
  if (typeof raw !== 'object' || raw === null) return { fallback: 'the kubeconfig user has an exec entry that is not a map' };
  const e = raw as Record<string, unknown>;
  const unknown = Object.keys(e).find((k) => !EXEC_FIELDS.has(k));
  if (unknown) return { fallback: `the exec credential plugin sets ${unknown}` };
  const apiVersion = str(e['apiVersion']) ?? '';
  if (!/^client\.authentication\.k8s\.io\/(v1|v1beta1)$/.test(apiVersion)) return { fallback: `the exec credential plugin's apiVersion ${apiVersion || '(none)'} is not client.authentication.k8s.io/v1 or v1beta1` };
  // Always: the plugin needs a terminal to talk to the user; this client gives it none.
  if (e['interactiveMode'] === 'Always') return { fallback: 'the exec credential plugin wants a terminal (interactiveMode: Always)' };
  const command = str(e['command']);
  if (!command) return { fallback: 'the exec credential plugin has no command' };
  return {
    exec: {
      apiVersion,
      // As client-go: a command with a path separator is relative to the kubeconfig file that names it.
      command: command.includes('/') && !path.isAbsolute(command) ? path.join(dir, command) : command,
      args: Array.isArray(e['args']) ? (e['args'] as unknown[]).map(String) : [],
      env: Array.isArray(e['env']) ? (e['env'] as Array<{ name: unknown; value: unknown }>).map((v) => ({ name: String(v.name), value: String(v.value) })) : [],
      provideClusterInfo: e['provideClusterInfo'] === true,
    },
  };
}

/** kubectl's merge of several kubeconfig files: the first file that defines a name wins for it. */
function named(files: KubeconfigFile[], list: string, field: string, name: string): { value: Record<string, unknown>; dir: string } | undefined {
  for (const f of files) {
    const entries = f.config[list];
    if (!Array.isArray(entries)) continue;
    const hit = (entries as Array<Record<string, unknown>>).find((e) => e && e['name'] === name);
    if (hit) return { value: (hit[field] as Record<string, unknown> | undefined) ?? {}, dir: f.dir };
  }
  return undefined;
}

/** The proxy Go's http.ProxyFromEnvironment would use for the server (never for loopback), or undefined. */
function proxyFor(env: NodeJS.ProcessEnv, url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  const names = url.protocol === 'https:' ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  const set = names.find((n) => env[n]);
  if (!set) return undefined;
  const noProxy = (env['NO_PROXY'] ?? env['no_proxy'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (noProxy.some((p) => p === '*' || host === p.replace(/^\./, '') || host.endsWith(p.startsWith('.') ? p : `.${p}`))) return undefined;
  return set;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface KubeResponse {
  status: number;
  body: string;
}

export interface KubeRequest {
  body?: string;
  contentType?: string;
}

export interface KubeApi {
  readonly server: string;
  /** One request; the answer whatever its status. Throws ClusterError when the server cannot be reached. */
  request(method: string, path: string, init?: KubeRequest): Promise<KubeResponse>;
  /** A 2xx answer's JSON; any other status is thrown as the error kubectl would report (NotFound, Forbidden, ...). */
  json<T>(method: string, path: string, init?: KubeRequest & { namespace?: string }): Promise<T>;
}

/** A kubeconfig's connection, one keep-alive agent for the run. */
export function createKubeApi(connection: KubeConnection, log: Log, runExec: ExecRunner): KubeApi {
  const url = new URL(connection.server);
  const secure = url.protocol === 'https:';
  const credentials = connection.auth.type === 'exec' ? execCredentials(connection.auth, runExec) : undefined;
  // Keep-alive: one TLS handshake for the run instead of one per read. A few sockets, so that a
  // slow request (a SelfSubjectAccessReview, a held write) does not queue the reads behind it.
  const agentFor = (cert?: Buffer, key?: Buffer) => {
    const tls = connection.tls;
    return secure
      ? new (https().Agent)({ keepAlive: true, maxSockets: 4, ca: tls.ca, cert, key, rejectUnauthorized: !tls.insecure, ...(tls.serverName ? { servername: tls.serverName } : {}) })
      : new http.Agent({ keepAlive: true, maxSockets: 4 });
  };
  let agent = agentFor(connection.tls.cert, connection.tls.key);
  let agentCert: Buffer | undefined;

  const headersFor = async (): Promise<Record<string, string | string[]>> => {
    const headers: Record<string, string | string[]> = { Accept: 'application/json', 'User-Agent': 'helm-schema-rollback' };
    const auth = connection.auth;
    if (auth.type === 'token') headers['Authorization'] = `Bearer ${auth.token}`;
    else if (auth.type === 'token-file') headers['Authorization'] = `Bearer ${readFileSync(auth.file, 'utf8').trim()}`;
    else if (auth.type === 'basic') headers['Authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    else if (credentials) {
      const cred = await credentials.get();
      if (cred.token) headers['Authorization'] = `Bearer ${cred.token}`;
      if (cred.cert && cred.key && cred.cert !== agentCert) {
        agent.destroy();
        agent = agentFor(cred.cert, cred.key);
        agentCert = cred.cert;
      }
    }
    if (connection.impersonate?.user) headers['Impersonate-User'] = connection.impersonate.user;
    if (connection.impersonate?.groups.length) headers['Impersonate-Group'] = connection.impersonate.groups;
    return headers;
  };

  const once = async (method: string, reqPath: string, init: KubeRequest): Promise<KubeResponse> => {
    const headers = await headersFor();
    if (init.body !== undefined) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(init.body));
    }
    const started = performance.now();
    const target = new URL(url.pathname.replace(/\/$/, '') + reqPath, url);
    return new Promise<KubeResponse>((resolve, reject) => {
      const req = (secure ? https() : http).request(target, { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          log.debug(`kube-api: ${method} ${target.pathname} ${res.statusCode} ${(performance.now() - started).toFixed(0)} ms`);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        log.debug(`kube-api: ${method} ${target.pathname} failed (${err.code ?? err.message}) ${(performance.now() - started).toFixed(0)} ms`);
        reject(new ClusterError(`cannot reach the cluster (API server ${connection.server}): ${err.message}`, {
          hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
        }));
      });
      if (init.body !== undefined) req.write(init.body);
      req.end();
    });
  };

  const request = async (method: string, reqPath: string, init: KubeRequest = {}): Promise<KubeResponse> => {
    const res = await once(method, reqPath, init);
    // client-go runs the exec plugin again when the server no longer takes its credential.
    if (res.status === 401 && credentials) {
      credentials.reset();
      return once(method, reqPath, init);
    }
    return res;
  };

  return {
    server: connection.server,
    request,
    async json<T>(method: string, reqPath: string, init: KubeRequest & { namespace?: string } = {}) {
      const res = await request(method, reqPath, init);
      if (res.status >= 200 && res.status < 300) return JSON.parse(res.body) as T;
      throw apiError(method, reqPath, res, init.namespace);
    },
  };
}

/** The API server's Status answer as the error kubectl's adapter raises for the same answer. */
export function apiError(method: string, reqPath: string, res: KubeResponse, namespace?: string): Error {
  let message = `the server answered ${res.status}`;
  let reason = '';
  try {
    const status = JSON.parse(res.body) as { message?: string; reason?: string };
    if (status.message) message = status.message;
    reason = status.reason ?? '';
  } catch {
    if (res.body.trim()) message = res.body.trim().split('\n')[0]!;
  }
  if (res.status === 404) {
    return new ClusterError(`${message}${namespace ? ` (namespace "${namespace}")` : ''}`, {
      hint: 'check the name in the chart annotations or flags (schema-rollback.io/workload, --workload) and the namespace (-n)',
    });
  }
  if (res.status === 403) {
    const forbidden = parseForbidden(message);
    if (forbidden) return permissionDenied([forbidden], 'Kubernetes refused a request (Forbidden)');
  }
  const details: ErrorDetails = res.status === 401 ? { hint: 'check the credentials of the kube context (kubectl auth whoami)' } : {};
  if (res.status === 401) return new ClusterError(`the Kubernetes API server refused the credentials (Unauthorized): ${message}`, details);
  return new CommandFailedError([`${method} ${reqPath}`], undefined, `Error from server (${reason || res.status}): ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Exec credential plugins

export type ExecRunner = (exec: ExecConfig, execInfo: string) => Promise<string>;

interface Credential {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** Epoch ms; undefined: valid for the run. */
  expires?: number;
}

/** The plugin's credential, run once and kept until its expirationTimestamp (or a 401). */
function execCredentials(auth: Extract<KubeConnection['auth'], { type: 'exec' }>, runExec: ExecRunner): { get(): Promise<Credential>; reset(): void } {
  let current: Promise<Credential> | undefined;
  const fetch = async (): Promise<Credential> => {
    const info = {
      apiVersion: auth.exec.apiVersion,
      kind: 'ExecCredential',
      spec: { interactive: false, ...(auth.exec.provideClusterInfo ? { cluster: auth.cluster } : {}) },
    };
    const out = await runExec(auth.exec, JSON.stringify(info));
    let parsed: { status?: { token?: string; clientCertificateData?: string; clientKeyData?: string; expirationTimestamp?: string } };
    try {
      parsed = JSON.parse(out) as typeof parsed;
    } catch {
      throw new ClusterError(`the kubeconfig's exec credential plugin (${path.basename(auth.exec.command)}) printed no ExecCredential JSON`);
    }
    const s = parsed.status ?? {};
    if (!s.token && !(s.clientCertificateData && s.clientKeyData)) {
      throw new ClusterError(`the kubeconfig's exec credential plugin (${path.basename(auth.exec.command)}) gave neither a token nor a client certificate`);
    }
    const expires = s.expirationTimestamp ? Date.parse(s.expirationTimestamp) : undefined;
    return {
      token: s.token,
      ...(s.clientCertificateData && s.clientKeyData ? { cert: Buffer.from(s.clientCertificateData), key: Buffer.from(s.clientKeyData) } : {}),
      ...(expires !== undefined && !Number.isNaN(expires) ? { expires } : {}),
    };
  };
  return {
    async get() {
      if (current) {
        const cred = await current.catch(() => undefined);
        if (cred && (cred.expires === undefined || cred.expires > Date.now())) return cred;
      }
      current = fetch();
      return current;
    },
    reset() {
      current = undefined;
    },
  };
}

/** Runs the plugin with KUBERNETES_EXEC_INFO, as client-go does; its stderr goes to the user's terminal (login prompts, warnings). */
export const runExecPlugin = (exec: ExecConfig, execInfo: string, baseEnv: NodeJS.ProcessEnv): Promise<string> =>
  new Promise((resolve, reject) => {
    const env = { ...baseEnv, ...Object.fromEntries(exec.env.map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: execInfo };
    const child = childProcess().execFile(exec.command, exec.args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) {
        reject(new ClusterError(`the kubeconfig's exec credential plugin ${path.basename(exec.command)} failed: ${(err as NodeJS.ErrnoException).code ?? err.message.split('\n')[0]}`, {
          hint: 'run the same kubectl command to see its message (kubectl get ns), and log in again if it asks',
        }));
      } else resolve(stdout);
    });
    child.stderr?.pipe(process.stderr);
  });
