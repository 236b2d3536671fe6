/**
 * The PostgreSQL adapter against real servers: connecting, how each failure maps to the core's
 * errors, and that the password shows up nowhere (message, String(err), hint, cause chain, debug log).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { createPostgresConnector, redactUrl } from '../../src/adapters/postgres.js';
import { DatabaseAuthError, DatabaseUnreachableError, DatabaseUrlError, RollbackError } from '../../src/core/errors.js';
import type { DatabaseSession } from '../../src/core/ports.js';
import { freshDatabase, getServer, startServers, testedMajors, type FreshDatabase, type PgServer } from '../harness/postgres.js';

/** Every text the CLI could print for an error: message, String(err), hint, and the whole cause chain. */
function printable(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    parts.push(String(current), inspect(current, { depth: 5 }));
    if (current instanceof RollbackError && current.hint !== undefined) parts.push(current.hint);
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '');
      current = current.cause;
    } else {
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** The password in every form it could leak: raw and percent-encoded. */
function forms(password: string): string[] {
  return [password, encodeURIComponent(password)];
}

function assertNoSecret(text: string, passwords: string[]): void {
  for (const password of passwords) {
    for (const form of forms(password)) assert.ok(!text.includes(form), `leaked ${JSON.stringify(form)} in:\n${text}`);
  }
}

async function expectFailure<E extends RollbackError>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${inspect(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but it connected`);
}

describe('PostgreSQL adapter', function () {
  this.timeout(60_000);
  const majors = testedMajors();
  const major = majors[majors.length - 1] ?? 18;
  let server: PgServer;
  let db: FreshDatabase;
  const debug: string[] = [];
  const log = { debug: (message: string) => void debug.push(message) };
  const connector = createPostgresConnector({ log });
  const sessions: DatabaseSession[] = [];
  const open = async (url: string) => {
    const s = await connector.connect(url);
    sessions.push(s);
    return s;
  };

  before(async () => {
    await startServers(majors);
    server = await getServer(major);
  });
  beforeEach(async () => {
    db = await freshDatabase(major);
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await db.drop();
  });
  after(() => {
    // No password in any debug line written by any test of this file.
    assert.ok(debug.length > 0);
    assertNoSecret(debug.join('\n'), [server.password]);
  });

  for (const m of majors) {
    it(`connects to PostgreSQL ${m} with application_name and keeps bigint as strings`, async () => {
      const other = await freshDatabase(m);
      try {
        const session = await open(other.url);
        const { rows } = await session.query<{ db: string; app: string; big: unknown; version: string }>(
          "SELECT current_database() AS db, current_setting('application_name') AS app, 9007199254740993::bigint AS big, current_setting('server_version_num') AS version",
        );
        assert.deepEqual(rows[0]?.db, other.name);
        assert.equal(rows[0]?.app, 'helm-schema-rollback');
        assert.equal(rows[0]?.big, '9007199254740993');
        assert.equal(Math.floor(Number(rows[0]?.version) / 10000), m);
      } finally {
        await Promise.all(sessions.splice(0).map((s) => s.close()));
        await other.drop();
      }
    });
  }

  it('no sslmode to a loopback address: plain text at once, one connection, no TLS attempt first ("prefer" there is libpq\'s "allow")', async () => {
    const before = debug.length;
    const session = await open(db.url);
    const { rows } = await session.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(rows, [{ ssl: false }]);
    const lines = debug.slice(before);
    assert.deepEqual(lines.filter((line) => /postgres: connecting to/.test(line)).map((line) => /\((\S+),/.exec(line)?.[1]), ['plain'], lines.join('\n'));
    assert.ok(!lines.some((line) => /trying/.test(line)), lines.join('\n'));
  });

  it('connects with sslmode=disable directly', async () => {
    const session = await open(`${db.url}?sslmode=disable`);
    assert.deepEqual((await session.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  it('refuses a wrong password with DatabaseAuthError naming the user, and no password anywhere', async () => {
    const wrong = `Wr0ng-${randomBytes(6).toString('hex')}`;
    const url = server.url(db.name, { user: 'postgres', password: wrong });
    const err = await expectFailure(open(url), DatabaseAuthError);
    assert.equal(err.code, 9);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${server.port} refused the password of user "postgres"`));
    assert.match(err.hint ?? '', /Secret/);
    assert.ok(err.cause instanceof Error && (err.cause as { code?: string }).code === '28P01');
    assertNoSecret(printable(err), [wrong, server.password]);
  });

  it('refuses a role that does not exist as an authentication failure (the server does not say which)', async () => {
    const err = await expectFailure(open(server.url(db.name, { user: 'nobody', password: 'whatever-pw' })), DatabaseAuthError);
    assert.match(err.message, /user "nobody"/);
  });

  it('refuses a URL without a password when the server asks for one', async () => {
    const err = await expectFailure(open(server.url(db.name, { user: 'postgres' })), DatabaseAuthError);
    assert.match(err.message, /asks user "postgres" for a password, and the database URL has none/);
  });

  it('reports a refused port as DatabaseUnreachableError naming host:port, with a port-forward hint', async () => {
    const port = await closedPort();
    const url = `postgres://postgres:${encodeURIComponent(server.password)}@127.0.0.1:${port}/app`;
    const started = performance.now();
    const err = await expectFailure(open(url), DatabaseUnreachableError);
    assert.ok(performance.now() - started < 2000);
    assert.equal(err.code, 8);
    assert.equal(err.message, `nothing accepts connections at 127.0.0.1:${port} (connection refused)`);
    assert.match(err.hint ?? '', /kubectl port-forward/);
    assertNoSecret(printable(err), [server.password]);
  });

  it('reports "localhost" refused on both address families the same way', async () => {
    const port = await closedPort();
    const err = await expectFailure(open(`postgres://u:secret-pw@localhost:${port}/app`), DatabaseUnreachableError);
    assert.match(err.message, new RegExp(`localhost:${port} \\(connection refused\\)`));
    assertNoSecret(printable(err), ['secret-pw']);
  });

  it('reports an unresolvable host as DatabaseUnreachableError', async () => {
    const err = await expectFailure(
      createPostgresConnector({ connectTimeoutMs: 5000 }).connect('postgres://u:secret-pw@db.does-not-exist.invalid:5432/app'),
      DatabaseUnreachableError,
    );
    assert.match(err.message, /db\.does-not-exist\.invalid/);
    assertNoSecret(printable(err), ['secret-pw']);
  });

  it('gives up after the connect timeout on a server that never answers', async () => {
    const silent = await silentServer();
    try {
      const started = performance.now();
      const err = await expectFailure(
        createPostgresConnector({ connectTimeoutMs: 300 }).connect(`postgres://u:secret-pw@127.0.0.1:${silent.port}/app`),
        DatabaseUnreachableError,
      );
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
      assert.equal(err.message, `no answer from 127.0.0.1:${silent.port} within 300 ms`);
      assertNoSecret(printable(err), ['secret-pw']);
    } finally {
      await silent.close();
    }
  });

  it('reports a missing database distinctly', async () => {
    const url = server.url('no_such_database_here');
    const err = await expectFailure(open(url), DatabaseUnreachableError);
    assert.equal(err.message, `database "no_such_database_here" does not exist on 127.0.0.1:${server.port}`);
    assert.match(err.hint ?? '', /database name/);
    assertNoSecret(printable(err), [server.password]);
  });

  it('reports sslmode=require against a server without TLS', async () => {
    const err = await expectFailure(open(`${db.url}?sslmode=require`), DatabaseUnreachableError);
    assert.match(err.message, /does not accept TLS/);
    assert.match(err.hint ?? '', /sslmode=disable/);
  });

  it('refuses a malformed URL with DatabaseUrlError, without the password', async () => {
    const err = await expectFailure(open(`postgres://postgres:${server.password}@127.0.0.1:${server.port}/x`), DatabaseUrlError);
    assert.equal(err.code, 7);
    assertNoSecret(printable(err), [server.password]);
    const bare = await expectFailure(open(server.password), DatabaseUrlError);
    assertNoSecret(printable(bare), [server.password]);
  });

  it('passes SQL errors through with their SQLSTATE', async () => {
    const session = await open(db.url);
    await assert.rejects(session.query('SELECT * FROM no_such_table'), (err: unknown) => (err as { code?: string }).code === '42P01');
    // The session is still usable afterwards.
    assert.deepEqual((await session.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
  });

  it('reports a session killed by the server as DatabaseUnreachableError on the next query', async () => {
    const session = await open(db.url);
    const [{ pid }] = (await session.query('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    await server.admin('SELECT pg_terminate_backend($1)', [pid]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const err = await expectFailure(session.query('SELECT 1'), DatabaseUnreachableError);
    assert.match(err.message, new RegExp(`lost the connection to 127\\.0\\.0\\.1:${server.port}`));
    assertNoSecret(printable(err), [server.password]);
  });

  it('reports a session terminated during a query (57P01) as DatabaseUnreachableError', async () => {
    const session = await open(db.url);
    const [{ pid }] = (await session.query('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    const running = session.query('SELECT pg_sleep(30)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.admin('SELECT pg_terminate_backend($1)', [pid]);
    const err = await expectFailure(running, DatabaseUnreachableError);
    assert.match(err.message, /lost the connection/);
    assert.equal((err.cause as { code?: string }).code, '57P01');
  });

  it('honours search_path from the URL, as lib/pq does, and drops golang-migrate x- options', async () => {
    await server.admin('CREATE SCHEMA app', [], db.name);
    const session = await open(`${db.url}?search_path=app&x-migrations-table=foo&x-multi-statement=true`);
    assert.deepEqual((await session.query('SELECT current_schema() AS s')).rows, [{ s: 'app' }]);
  });

  it('closes idempotently', async () => {
    const session = await connector.connect(db.url);
    await session.close();
    await session.close();
  });

  it('logs only redacted URLs', () => {
    const lines = debug.filter((line) => line.includes('connecting to'));
    assert.ok(lines.length > 0);
    // Either no password in the URL, or "***" in its place.
    assert.ok(lines.every((line) => /:\/\/[^:@/]+(:\*\*\*)?@/.test(line)), lines.join('\n'));
    assert.equal(redactUrl(db.url), db.url.replace(/:[^:@/]+@/, ':***@'));
  });
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return typeof address === 'object' && address !== null ? address.port : 1;
}

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const address = srv.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}
