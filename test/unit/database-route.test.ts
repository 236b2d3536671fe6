/**
 * Reaching the database: which in-cluster Service a URL's host names, rewriting only host:port of
 * the URL to a forward's local end, and the policy (direct first, kubectl port-forward when that
 * fails as an in-cluster address does) with doubles for the connector and the forwarder.
 */
import assert from 'node:assert/strict';
import {
  hostAndPort, openDatabase, parseForwardTarget, rewriteHostPort, serviceForHost, tunnelUrl, type RouteOptions,
} from '../../src/core/database-route.js';
import { DatabaseAuthError, DatabaseUnreachableError, ExitCode, RollbackError, UsageError, type UnreachableReason } from '../../src/core/errors.js';
import type { DatabaseConnector, DatabaseSession, ForwardTarget, PortForwardPort } from '../../src/core/ports.js';

/** A password URLs must percent-encode, as the test PostgreSQL's. */
const PASSWORD = 'p@ss:w/rd%?#&=+ x';
const URL_IN_CLUSTER = `postgres://kagent:${encodeURIComponent(PASSWORD)}@kagent-postgres.ai.svc.cluster.local:5432/kagent?sslmode=disable&search_path=core`;

describe('database route: in-cluster host names', () => {
  it('reads NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.<domain> as a Service', () => {
    const svc = (resource: string, namespace: string) => ({ resource, namespace, port: 5432 });
    assert.deepEqual(serviceForHost('kagent-postgres', 5432, 'ai'), svc('svc/kagent-postgres', 'ai'));
    assert.deepEqual(serviceForHost('kagent-postgres.db', 5432, 'ai'), svc('svc/kagent-postgres', 'db'));
    assert.deepEqual(serviceForHost('kagent-postgres.db.svc', 5432, 'ai'), svc('svc/kagent-postgres', 'db'));
    assert.deepEqual(serviceForHost('kagent-postgres.db.svc.cluster.local', 5432, 'ai'), svc('svc/kagent-postgres', 'db'));
    assert.deepEqual(serviceForHost('Kagent-Postgres.DB.svc.cluster.local.', 5432, 'ai'), svc('svc/kagent-postgres', 'db'));
    assert.deepEqual(serviceForHost('pg.db.svc.k8s.example.org', 5432, 'ai'), svc('svc/pg', 'db'), 'a custom cluster domain');
  });

  it('reads POD.SERVICE.NS.svc (a StatefulSet pod behind a headless Service) as that pod', () => {
    assert.deepEqual(serviceForHost('postgres-0.postgres.db.svc.cluster.local', 5433, 'ai'), { resource: 'pod/postgres-0', namespace: 'db', port: 5433 });
  });

  it('leaves IP addresses, localhost, socket paths and outside names alone', () => {
    for (const host of ['10.96.0.12', '127.0.0.1', '::1', 'localhost', '/var/run/postgresql', 'db.example.com', 'rds.eu-west-1.amazonaws.com', '1db', 'a_b', '']) {
      assert.equal(serviceForHost(host, 5432, 'ai'), undefined, host);
    }
  });

  it('parses --port-forward-target TYPE/NAME[:PORT] in the release namespace', () => {
    assert.deepEqual(parseForwardTarget('svc/my-pg:15432', 5432, 'ai'), { resource: 'svc/my-pg', namespace: 'ai', port: 15432 });
    assert.deepEqual(parseForwardTarget('service/my-pg', 5432, 'ai'), { resource: 'svc/my-pg', namespace: 'ai', port: 5432 });
    assert.deepEqual(parseForwardTarget('pod/pg-0:5432', 1, 'ai'), { resource: 'pod/pg-0', namespace: 'ai', port: 5432 });
    assert.deepEqual(parseForwardTarget('sts/pg', 5432, 'x'), { resource: 'statefulset/pg', namespace: 'x', port: 5432 });
    for (const bad of ['my-pg', 'secret/x', 'svc/', 'svc/x:0', 'svc/x:70000', 'svc/x:pg']) {
      assert.throws(() => parseForwardTarget(bad, 5432, 'ai'), (err: unknown) => err instanceof UsageError && /TYPE\/NAME/.test(err.message), bad);
    }
  });
});

describe('database route: URL rewriting', () => {
  it('replaces only host:port, keeping user, password, database and query exactly', () => {
    const out = rewriteHostPort(URL_IN_CLUSTER, '127.0.0.1', 41234);
    const [before, after] = [new URL(URL_IN_CLUSTER), new URL(out)];
    assert.equal(after.host, '127.0.0.1:41234');
    assert.equal(decodeURIComponent(after.password), PASSWORD);
    assert.deepEqual([after.username, after.password, after.pathname, after.search], [before.username, before.password, before.pathname, before.search]);
    assert.equal(out, URL_IN_CLUSTER.replace('kagent-postgres.ai.svc.cluster.local:5432', '127.0.0.1:41234'));
  });

  it('adds the port when the URL had none, and rewrites libpq ?host= / ?port= too', () => {
    assert.equal(rewriteHostPort('postgresql://u:pw@db/app', '127.0.0.1', 40000), 'postgresql://u:pw@127.0.0.1:40000/app');
    assert.equal(tunnelUrl('postgresql://u:pw@db/app?sslmode=verify-full', 40000), 'postgresql://u:pw@127.0.0.1:40000/app?sslmode=verify-full&x-tls-servername=db');
    assert.equal(tunnelUrl('postgresql://u:pw@10.0.0.7:5432/app', 40000), 'postgresql://u:pw@127.0.0.1:40000/app', 'an IP address is no TLS server name');
    const q = new URL(rewriteHostPort('postgres://u:pw@ignored/app?host=db.ai&port=6543&sslmode=require', '127.0.0.1', 40001));
    assert.deepEqual([q.searchParams.get('host'), q.searchParams.get('port'), q.searchParams.get('sslmode')], ['127.0.0.1', '40001', 'require']);
    assert.deepEqual(hostAndPort('postgres://u:pw@ignored/app?host=db.ai&port=6543'), { host: 'db.ai', port: 6543 });
    assert.deepEqual(hostAndPort('postgres+asyncpg://u:pw@DB.AI/app'), { host: 'db.ai', port: 5432 });
  });

  it('refuses a malformed URL without repeating it', () => {
    assert.throws(() => hostAndPort(`postgres://u:${PASSWORD}@[bad/app`), (err: unknown) => err instanceof RollbackError && err.code === ExitCode.databaseUrl && !err.message.includes(PASSWORD));
  });
});

/** A connector that reaches only 127.0.0.1 (the forward's local end), failing elsewhere with `failure`. */
function connector(failure: () => Error = () => unreachable('dns')): DatabaseConnector & { urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    async connect(url) {
      urls.push(url);
      if (new URL(url).hostname !== '127.0.0.1') throw failure();
      const session: DatabaseSession = { query: async () => ({ rows: [], rowCount: 0 }), close: async () => undefined };
      return session;
    },
  };
}

const unreachable = (reason: UnreachableReason) =>
  new DatabaseUnreachableError(`cannot resolve the database host "kagent-postgres.ai.svc.cluster.local" (kagent-postgres.ai.svc.cluster.local:5432)`, { reason, hint: 'adapter hint' });

function forwarder(fail?: Error): PortForwardPort & { opened: ForwardTarget[]; closed: number } {
  const f = {
    opened: [] as ForwardTarget[],
    closed: 0,
    async open(target: ForwardTarget) {
      f.opened.push(target);
      if (fail) throw fail;
      return { localPort: 41234, lastError: () => undefined, close: async () => void f.closed++ };
    },
  };
  return f;
}

describe('database route: direct first, then kubectl port-forward', () => {
  let logged: string[];
  const deps = (c: DatabaseConnector, f: PortForwardPort) => ({ connector: c, forwarder: f, log: { debug: (m: string) => logged.push(m) } });
  const opts = (o: Partial<RouteOptions> = {}): RouteOptions => ({ mode: 'auto', namespace: 'release-ns', ...o });
  const noSecret = (...texts: string[]) => {
    for (const t of [...texts, ...logged]) assert.ok(!t.includes(PASSWORD) && !t.includes(encodeURIComponent(PASSWORD)), `secret in: ${t}`);
  };
  beforeEach(() => (logged = []));

  it('connects directly when it can, and starts no forward', async () => {
    const c = connector();
    const f = forwarder();
    const local = URL_IN_CLUSTER.replace('kagent-postgres.ai.svc.cluster.local:5432', '127.0.0.1:5432');
    const route = await openDatabase(deps(c, f), local, opts());
    assert.deepEqual([route.url, route.via, f.opened.length], [local, 'direct', 0]);
  });

  it('forwards to the Service the host names when the direct connection fails as unreachable, with the forwarded URL', async () => {
    const c = connector();
    const f = forwarder();
    const route = await openDatabase(deps(c, f), URL_IN_CLUSTER, opts());
    assert.deepEqual(f.opened, [{ resource: 'svc/kagent-postgres', namespace: 'ai', port: 5432 }]);
    // Host and port replaced; the name the app uses kept for TLS verification (sslmode=verify-full).
    assert.equal(route.url, `${rewriteHostPort(URL_IN_CLUSTER, '127.0.0.1', 41234)}&x-tls-servername=kagent-postgres.ai.svc.cluster.local`);
    assert.deepEqual(c.urls, [URL_IN_CLUSTER, route.url]);
    assert.equal(route.via, 'kubectl port-forward to svc/kagent-postgres port 5432 (namespace ai)');
    assert.ok(logged.some((m) => /no direct connection to kagent-postgres\.ai\.svc\.cluster\.local:5432 \(dns\); trying kubectl port-forward to svc\/kagent-postgres/.test(m)));
    await route.close();
    assert.equal(f.closed, 1);
    noSecret(route.via);
  });

  it('uses the release namespace for a bare Service name, and --port-forward-target over the host', async () => {
    const f = forwarder();
    await openDatabase(deps(connector(), f), 'postgres://u:pw@pg/app', opts());
    await openDatabase(deps(connector(), f), URL_IN_CLUSTER, opts({ target: 'pod/pg-0:6000' }));
    assert.deepEqual(f.opened, [
      { resource: 'svc/pg', namespace: 'release-ns', port: 5432 },
      { resource: 'pod/pg-0', namespace: 'release-ns', port: 6000 },
    ]);
  });

  it('--port-forward always skips the direct attempt; it needs a Service', async () => {
    const c = connector();
    const route = await openDatabase(deps(c, forwarder()), URL_IN_CLUSTER, opts({ mode: 'always' }));
    assert.deepEqual(c.urls, [route.url]);
    await assert.rejects(openDatabase(deps(c, forwarder()), 'postgres://u:pw@10.0.0.8/app', opts({ mode: 'always' })), (err: unknown) =>
      err instanceof UsageError && /--port-forward-target/.test(err.hint ?? ''));
  });

  it('--port-forward never fails as the direct connection did, with a hint naming --port-forward', async () => {
    const f = forwarder();
    const err = await openDatabase(deps(connector(), f), URL_IN_CLUSTER, opts({ mode: 'never' })).catch((e: unknown) => e);
    assert.ok(err instanceof DatabaseUnreachableError);
    assert.equal(err.code, ExitCode.databaseUnreachable);
    assert.match(err.hint ?? '', /in-cluster address of svc\/kagent-postgres \(namespace ai\): drop --port-forward never/);
    assert.equal(f.opened.length, 0);
    noSecret(err.message, err.hint ?? '');
  });

  it('does not forward for failures a forward cannot fix, nor for hosts that name no Service', async () => {
    const f = forwarder();
    for (const failure of [() => unreachable('no-database'), () => unreachable('tls'), () => new DatabaseAuthError('refused the password')]) {
      await assert.rejects(openDatabase(deps(connector(failure), f), URL_IN_CLUSTER, opts()), (e: unknown) => e instanceof RollbackError && !(e.message.startsWith('through')));
    }
    const ip = await openDatabase(deps(connector(), f), 'postgres://u:pw@10.96.0.12:5432/app', opts()).catch((e: unknown) => e);
    assert.ok(ip instanceof DatabaseUnreachableError && ip.hint === 'adapter hint', 'the direct error, unchanged');
    assert.equal(f.opened.length, 0);
  });

  it('says both what the direct connection and the forward said when the forward cannot start', async () => {
    const f = forwarder(new DatabaseUnreachableError('kubectl port-forward to svc/kagent-postgres port 5432 (namespace ai) failed: services "kagent-postgres" not found'));
    const err = await openDatabase(deps(connector(), f), URL_IN_CLUSTER, opts()).catch((e: unknown) => e);
    assert.ok(err instanceof DatabaseUnreachableError);
    assert.match(err.message, /^cannot resolve the database host .*; kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\) failed too: .*services "kagent-postgres" not found/);
    assert.doesNotMatch(err.message, /failed too: kubectl port-forward/, 'the description is not repeated');
    assert.match(err.hint ?? '', /--port-forward-target/);
    noSecret(err.message, err.hint ?? '');
  });

  it('closes the forward when the database does not answer through it', async () => {
    const f = forwarder();
    const c: DatabaseConnector = { connect: async () => Promise.reject(unreachable('refused')) };
    const err = await openDatabase(deps(c, f), URL_IN_CLUSTER, opts()).catch((e: unknown) => e);
    assert.ok(err instanceof DatabaseUnreachableError);
    assert.match(err.message, /^through kubectl port-forward to svc\/kagent-postgres port 5432 \(namespace ai\): /);
    assert.equal(f.closed, 1);
  });
});
