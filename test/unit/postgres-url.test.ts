import assert from 'node:assert/strict';
import { DatabaseUrlError } from '../../src/core/errors.js';
import { connectError, parseDatabaseUrl, redactUrl, sanitizeError, sslAttempts } from '../../src/adapters/postgres.js';
import { DatabaseAuthError, DatabaseUnreachableError } from '../../src/core/errors.js';

describe('adapters/postgres: URLs', () => {
  describe('redactUrl', () => {
    const cases: Array<[string, string]> = [
      ['postgres://app:s3cret@db:5432/app', 'postgres://app:***@db:5432/app'],
      ['postgresql://app:s3cr%40t%2F@db.ns.svc.cluster.local/app?sslmode=disable', 'postgresql://app:***@db.ns.svc.cluster.local/app?sslmode=disable'],
      ['postgres://app:p@ss@db/app', 'postgres://app:***@db/app'],
      ['postgres://app@db/app?password=hunter2&sslmode=require', 'postgres://app@db/app?password=***&sslmode=require'],
      ['postgres://app@db/app', 'postgres://app@db/app'],
      ['postgresql+asyncpg://app:pw123@db/app', 'postgresql+asyncpg://app:***@db/app'],
      // Not parseable as URLs: redacted by pattern.
      ['postgres://app:pa/ss#x@db/app', 'postgres://app:***@db/app'],
      // No "://": may be a bare password, never shown.
      ['hunter2', '(a value that is not a URL)'],
      ['app:hunter2@db/app', '(a value that is not a URL)'],
    ];
    for (const [input, expected] of cases) {
      it(`${input} -> ${expected}`, () => assert.equal(redactUrl(input), expected));
    }
  });

  describe('parseDatabaseUrl', () => {
    it('reads host, port, user and database, decoding percent-escapes', () => {
      const t = parseDatabaseUrl(' postgres://my%40user:pw@db.ns.svc:6543/my%20db?sslmode=disable\n');
      assert.deepEqual(
        { host: t.host, port: t.port, user: t.user, database: t.database, address: t.address },
        { host: 'db.ns.svc', port: 6543, user: 'my@user', database: 'my db', address: 'db.ns.svc:6543' },
      );
      assert.equal(t.redacted, 'postgres://my%40user:***@db.ns.svc:6543/my%20db?sslmode=disable');
    });
    it('defaults the port to 5432 and leaves a missing database to the server', () => {
      const t = parseDatabaseUrl('postgresql://app@db');
      assert.equal(t.port, 5432);
      assert.equal(t.database, undefined);
    });
    it('accepts driver-qualified schemes apps keep in Secrets', () => {
      for (const url of ['postgresql+psycopg2://a:b@h/d', 'postgresql+asyncpg://a:b@h/d', 'pgx5://a:b@h/d']) assert.equal(parseDatabaseUrl(url).host, 'h');
    });
    it('reads IPv6 hosts', () => {
      assert.equal(parseDatabaseUrl('postgres://a:b@[::1]:5433/d').address, '[::1]:5433');
    });
    for (const [url, why] of [
      ['', /empty/],
      ['hunter2-the-password', /not a URL/],
      ['mysql://root:pw@h/d', /scheme "mysql"/],
      ['postgres://app:secretpw@h:99999/d', /malformed/],
      ['postgres://app:secretpw@h:abc/d', /malformed/],
      ['postgres://app:secret%zzpw@h/d', /percent-encoding/],
      ['postgres:///d', /no host/],
    ] as const) {
      it(`refuses ${JSON.stringify(url)} without showing the password`, () => {
        assert.throws(
          () => parseDatabaseUrl(url),
          (err: unknown) => err instanceof DatabaseUrlError && why.test(err.message) && !/secret|hunter2|pw@/.test(`${err.message} ${err.hint} ${String(err.cause)}`) && err.cause === undefined,
        );
      });
    }
  });

  describe('connectError', () => {
    const target = parseDatabaseUrl('postgres://app:Sup3rSecret@db.ns.svc:5432/app');
    const secrets = ['Sup3rSecret'];
    const fail = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code });

    it('maps 28P01 to DatabaseAuthError naming the user', () => {
      const err = connectError(fail('password authentication failed for user "app"', '28P01'), target, 10_000, secrets);
      assert.ok(err instanceof DatabaseAuthError);
      assert.match(err.message, /db\.ns\.svc:5432 refused the password of user "app"/);
      assert.match(err.hint ?? '', /Secret/);
    });
    it('maps 28000 "no encryption" to DatabaseAuthError with an sslmode hint', () => {
      const err = connectError(fail('no pg_hba.conf entry for host "10.0.0.1", user "app", database "app", no encryption', '28000'), target, 10_000, secrets);
      assert.ok(err instanceof DatabaseAuthError);
      assert.match(err.hint ?? '', /sslmode=require/);
    });
    it('maps refused, DNS and timeout failures to DatabaseUnreachableError with a port-forward hint', () => {
      const cases: Array<[unknown, RegExp]> = [
        [fail('connect ECONNREFUSED 10.0.0.1:5432', 'ECONNREFUSED'), /nothing accepts connections at db\.ns\.svc:5432/],
        [new AggregateError([fail('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED'), fail('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')], ''), /connection refused/],
        [fail('getaddrinfo ENOTFOUND db.ns.svc', 'ENOTFOUND'), /cannot resolve the database host "db\.ns\.svc"/],
        [fail('getaddrinfo EAI_AGAIN db.ns.svc', 'EAI_AGAIN'), /cannot resolve/],
        [fail('Connection terminated due to connection timeout'), /no answer from db\.ns\.svc:5432 within 10 s/],
      ];
      for (const [input, message] of cases) {
        const err = connectError(input, target, 10_000, secrets);
        assert.ok(err instanceof DatabaseUnreachableError, String(input));
        assert.match(err.message, message);
        assert.match(err.hint ?? '', /port-forward/);
      }
    });
    it('maps 3D000 to a "database does not exist" message', () => {
      const err = connectError(fail('database "app" does not exist', '3D000'), target, 10_000, secrets);
      assert.ok(err instanceof DatabaseUnreachableError);
      assert.equal(err.message, 'database "app" does not exist on db.ns.svc:5432');
    });
    it('scrubs the password from whatever pg says, in the message and the cause chain', () => {
      const inner = fail('could not connect using postgres://app:Sup3rSecret@db.ns.svc/app', 'EWHATEVER');
      const outer = new Error('failed: Sup3rSecret', { cause: inner });
      const err = connectError(outer, target, 10_000, secrets);
      const all = [err.message, String(err), String(err.cause), String((err.cause as Error).cause), (err.cause as Error).stack];
      for (const text of all) assert.doesNotMatch(String(text), /Sup3rSecret/);
    });
  });

  describe('sanitizeError', () => {
    it('keeps code, detail and hint, scrubbed, and drops every other field', () => {
      const source = Object.assign(new Error('bad pw1234'), { code: '28P01', detail: 'pw1234', hint: 'h', input: 'postgres://a:pw1234@h' });
      const copy = sanitizeError(source, ['pw1234']) as Error & Record<string, unknown>;
      assert.equal(copy.message, 'bad ***');
      assert.equal(copy.code, '28P01');
      assert.equal(copy.detail, '***');
      assert.equal(copy.input, undefined);
    });
  });

  describe('the TLS attempts of each sslmode (libpq\'s semantics)', () => {
    it('no sslmode or "prefer" to a remote host: TLS without verifying first, then plain text', () => {
      assert.deepEqual(sslAttempts(undefined, 'db.example.com'), ['tls-no-verify', 'plain']);
      assert.deepEqual(sslAttempts('prefer', '10.0.0.7'), ['tls-no-verify', 'plain']);
    });
    it('no sslmode or "prefer" to a loopback address: plain text first, TLS when the server refuses it ("allow")', () => {
      for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1']) {
        assert.deepEqual(sslAttempts(undefined, host), ['plain', 'tls-no-verify'], host);
        assert.deepEqual(sslAttempts('prefer', host), ['plain', 'tls-no-verify'], host);
      }
    });
    it('an explicit mode is kept as given, loopback or not', () => {
      assert.deepEqual(sslAttempts('require', '127.0.0.1'), ['tls-no-verify']);
      assert.deepEqual(sslAttempts('disable', 'db.example.com'), ['plain']);
      assert.deepEqual(sslAttempts('allow', 'db.example.com'), ['plain', 'tls-no-verify']);
      assert.deepEqual(sslAttempts('verify-full', '127.0.0.1'), ['as-given']);
    });
  });
});
