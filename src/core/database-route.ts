/**
 * Reaching the database from where helm runs. The URL an application keeps usually names an
 * in-cluster Service (`kagent-postgres.ai.svc.cluster.local`): it answers inside the cluster, not
 * on a laptop or a CI runner. So the plugin connects directly first and, when that fails the way an
 * in-cluster address fails from outside (unknown host, refused, timeout) and the host names a
 * Service (or `--port-forward-target` names one), connects through `kubectl port-forward` instead:
 * only host:port of the URL change, to the forward's local end; credentials, database and options
 * stay. Messages name the Service and the ports, never the URL.
 */
import { DatabaseUnreachableError, DatabaseUrlError, UsageError } from './errors.js';
import type { DatabaseConnector, DatabaseSession, ForwardTarget, Log, PortForwardPort, Tunnel } from './ports.js';

export const PORT_FORWARD_MODES = ['auto', 'always', 'never'] as const;
export type PortForwardMode = (typeof PORT_FORWARD_MODES)[number];

export interface PortForwardChoice {
  /** auto: direct, then a forward if that fails as an in-cluster address does; always: only the forward; never: only direct. */
  mode: PortForwardMode;
  /** --port-forward-target TYPE/NAME[:PORT], in the release's namespace; default: the Service the URL's host names. */
  target?: string;
}

export interface RouteOptions extends PortForwardChoice {
  /** The release's namespace: for a host that names none, and for --port-forward-target. */
  namespace: string;
}

export interface RouteDeps {
  connector: DatabaseConnector;
  forwarder: PortForwardPort;
  log: Log;
}

export interface DatabaseRoute {
  /** An open session; the caller closes it. */
  session: DatabaseSession;
  /** The URL to connect with from now on: the original, or the same with host:port of the forward's local end. */
  url: string;
  /** How the database was reached, safe to print: "direct" or "kubectl port-forward to svc/NAME port P (namespace NS)". */
  via: string;
  /** Stops the forward, if any (the session is closed separately). */
  close(): Promise<void>;
}

/** The failures a forward can fix: the host is unknown here, or nothing answers at its address. */
const FORWARDABLE = new Set(['dns', 'refused', 'timeout', 'network']);

export async function openDatabase(deps: RouteDeps, url: string, opts: RouteOptions): Promise<DatabaseRoute> {
  const { host, port } = hostAndPort(url);
  const target = opts.target !== undefined ? parseForwardTarget(opts.target, port, opts.namespace) : serviceForHost(host, port, opts.namespace);
  if (opts.mode === 'always') {
    if (!target) {
      throw new UsageError(`--port-forward always: the database host "${host}" is not an in-cluster Service name`, {
        hint: 'name the Service or pod to forward to with --port-forward-target svc/NAME:PORT',
      });
    }
    return connectThrough(deps, url, target, await deps.forwarder.open(target));
  }
  let session: DatabaseSession;
  try {
    session = await deps.connector.connect(url);
  } catch (err) {
    if (!(err instanceof DatabaseUnreachableError) || !FORWARDABLE.has(err.reason) || !target) throw err;
    if (opts.mode === 'never') {
      throw new DatabaseUnreachableError(err.message, { reason: err.reason, cause: err.cause, hint: neverHint(host, target) });
    }
    deps.log.debug(`database: no direct connection to ${address(host, port)} (${err.reason}); trying ${describeTarget(target)}`);
    let tunnel: Tunnel;
    try {
      tunnel = await deps.forwarder.open(target);
    } catch (forwardErr) {
      throw forwardFailed(err, target, forwardErr);
    }
    return connectThrough(deps, url, target, tunnel);
  }
  deps.log.debug(`database: connected directly to ${address(host, port)}`);
  return { session, url, via: 'direct', close: async () => undefined };
}

async function connectThrough(deps: RouteDeps, url: string, target: ForwardTarget, tunnel: Tunnel): Promise<DatabaseRoute> {
  const local = tunnelUrl(url, tunnel.localPort);
  const via = describeTarget(target);
  try {
    const session = await deps.connector.connect(local);
    deps.log.debug(`database: connected through ${via}, local port ${tunnel.localPort}`);
    return { session, url: local, via, close: () => tunnel.close() };
  } catch (err) {
    const said = tunnel.lastError();
    await tunnel.close();
    if (!(err instanceof DatabaseUnreachableError)) throw err;
    throw new DatabaseUnreachableError(`through ${via}: ${err.message}`, {
      reason: err.reason,
      cause: err.cause,
      hint: said
        ? `kubectl port-forward said: ${said}`
        : `check that ${target.resource} in namespace ${target.namespace} has a running pod that serves port ${target.port}`,
    });
  }
}

function forwardFailed(direct: DatabaseUnreachableError, target: ForwardTarget, err: unknown): DatabaseUnreachableError {
  const what = describeTarget(target);
  const message = err instanceof Error ? err.message : String(err);
  // The forwarder's message usually starts with the same description.
  const why = message.startsWith(`${what} failed: `) ? message.slice(what.length + ' failed: '.length) : message;
  return new DatabaseUnreachableError(`${direct.message}; ${what} failed too: ${why}`, {
    reason: direct.reason,
    cause: err,
    hint:
      `check that ${target.resource} exists in namespace ${target.namespace} with a running pod, or name the Service or pod ` +
      'with --port-forward-target TYPE/NAME:PORT; run from inside the cluster (--port-forward never) if it is not reachable through kubectl',
  });
}

function neverHint(host: string, target: ForwardTarget): string {
  return (
    `"${host}" is the in-cluster address of ${target.resource} (namespace ${target.namespace}): drop --port-forward never ` +
    '(the default, --port-forward auto, reaches it through kubectl port-forward), or run where the cluster\'s addresses answer'
  );
}

export function describeTarget(target: ForwardTarget): string {
  return `kubectl port-forward to ${target.resource} port ${target.port} (namespace ${target.namespace})`;
}

const address = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** The host and port a PostgreSQL URL names (libpq's `?host=` and `?port=` win, as in the connector). */
export function hostAndPort(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    // Node's error would repeat the URL, password included.
    throw new DatabaseUrlError('the database URL is malformed', { hint: 'expected postgres://USER:PASSWORD@HOST:PORT/DATABASE' });
  }
  const host = (u.searchParams.get('host') ?? u.hostname).replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = Number(u.searchParams.get('port') || u.port || 5432);
  return { host, port };
}

/**
 * The URL of a forward's local end: 127.0.0.1 and the local port, plus, when the URL named its
 * host, TLS_SERVERNAME_PARAM with that name, so that sslmode=verify-full still checks the server's
 * certificate against the name the app uses (and sends it as SNI), not against 127.0.0.1.
 */
export function tunnelUrl(url: string, localPort: number): string {
  const { host } = hostAndPort(url);
  const u = new URL(rewriteHostPort(url, '127.0.0.1', localPort));
  if (!IPV4.test(host) && !host.includes(':') && !host.startsWith('/')) u.searchParams.set(TLS_SERVERNAME_PARAM, host);
  return u.href;
}

/**
 * A URL parameter only the plugin's own connector reads (src/adapters/postgres.ts): the name to
 * verify the server's certificate against. x- parameters are never sent to the server.
 */
export const TLS_SERVERNAME_PARAM = 'x-tls-servername';

/** The URL with only host and port replaced: user, password, database and query stay as written. */
export function rewriteHostPort(url: string, host: string, port: number): string {
  const u = new URL(url.trim());
  if (u.searchParams.has('host')) u.searchParams.set('host', host);
  if (u.searchParams.has('port')) u.searchParams.set('port', String(port));
  if (u.hostname !== '') {
    u.hostname = host.includes(':') ? `[${host}]` : host;
    u.port = String(port);
  }
  return u.href;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Service names are RFC 1035 labels: they start with a letter. */
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The Service (or pod) an in-cluster host name means, as the cluster's DNS resolves it: `NAME`
 * (in `namespace`), `NAME.NS`, `NAME.NS.svc` and `NAME.NS.svc.<cluster domain>`; also
 * `POD.NAME.NS.svc[.<domain>]`, a pod behind a headless Service (a StatefulSet's). Undefined for IP
 * addresses, localhost, socket paths and other names.
 */
export function serviceForHost(host: string, port: number, namespace: string): ForwardTarget | undefined {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === '' || name === 'localhost' || name.includes(':') || name.includes('/') || IPV4.test(name)) return undefined;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  const svc = labels.indexOf('svc');
  const service = (n: string, ns: string) => (SERVICE_NAME.test(n) ? { resource: `svc/${n}`, namespace: ns, port } : undefined);
  if (svc < 0 && labels.length === 1) return service(labels[0]!, namespace);
  if (svc < 0 && labels.length === 2) return service(labels[0]!, labels[1]!);
  if (svc === 2) return service(labels[0]!, labels[1]!);
  if (svc === 3 && SERVICE_NAME.test(labels[1]!)) return { resource: `pod/${labels[0]}`, namespace: labels[2]!, port };
  return undefined;
}

const KINDS: Record<string, string> = {
  svc: 'svc', service: 'svc', services: 'svc',
  pod: 'pod', pods: 'pod', po: 'pod',
  deploy: 'deployment', deployment: 'deployment', deployments: 'deployment',
  sts: 'statefulset', statefulset: 'statefulset', statefulsets: 'statefulset',
};

/** `--port-forward-target TYPE/NAME[:PORT]` (TYPE: svc, pod, deployment, statefulset); PORT defaults to the URL's. */
export function parseForwardTarget(text: string, defaultPort: number, namespace: string): ForwardTarget {
  const m = /^([a-z]+)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::(\d{1,5}))?$/.exec(text.trim());
  const kind = m && KINDS[m[1]!];
  const port = m?.[4] === undefined ? defaultPort : Number(m[4]);
  if (!m || !kind || port < 1 || port > 65535) {
    throw new UsageError(`--port-forward-target "${text}" is not TYPE/NAME[:PORT]`, {
      hint: 'e.g. --port-forward-target svc/my-postgres:5432 (TYPE: svc, pod, deployment, statefulset; PORT: the Service port, default the URL\'s)',
    });
  }
  return { resource: `${kind}/${m[2]}`, namespace, port };
}
