/**
 * The PostgreSQL adapter's TLS attempts against a real server that accepts one role over TLS only
 * (pg_hba: hostnossl reject, hostssl scram-sha-256): with no sslmode, a loopback address is tried in
 * plain text first and the server's refusal turns the connect to TLS (libpq's "allow"), so a
 * port-forward to a TLS-only database still connects; sslmode=disable stays refused. The server is
 * the harness's, given a self-signed certificate and the two pg_hba lines for a role of this test
 * only, all of it taken back afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { DatabaseAuthError } from '../../src/core/errors.js';
import { getServer, startServers, testedMajors, type PgServer } from '../harness/postgres.js';

describe('PostgreSQL adapter: a server that takes a role over TLS only', function () {
  this.timeout(60_000);
  const major = testedMajors().at(-1)!;
  const role = `hsr_tls_only_${randomBytes(3).toString('hex')}`;
  const password = `tls-${randomBytes(6).toString('hex')}`;
  let server: PgServer;
  let hba: string;
  let hbaBefore: string;
  const files: string[] = [];

  before(async function () {
    if (spawnSync('openssl', ['version']).status !== 0) {
      console.log('      skipped: openssl is missing (scripts/setup.sh installs it), and it makes the certificate');
      this.skip();
    }
    await startServers([major]);
    server = await getServer(major);
    // The key must belong to the server's own user (or root with group read) and be 0600.
    const owner = statSync(server.dataDir);
    const [cert, key] = [join(server.dataDir, `${role}.crt`), join(server.dataDir, `${role}.key`)];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    for (const f of [cert, key]) {
      chownSync(f, owner.uid, owner.gid);
      chmodSync(f, 0o600);
      files.push(f);
    }
    hba = join(server.dataDir, 'pg_hba.conf');
    hbaBefore = readFileSync(hba, 'utf8');
    // First match wins: these two lines decide for the test's role only.
    writeFileSync(hba, `hostnossl all ${role} 127.0.0.1/32 reject\nhostssl all ${role} 127.0.0.1/32 scram-sha-256\n${hbaBefore}`);
    await server.admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await server.admin(`ALTER SYSTEM SET ssl_cert_file = '${cert}'`);
    await server.admin(`ALTER SYSTEM SET ssl_key_file = '${key}'`);
    await server.admin('ALTER SYSTEM SET ssl = on');
    await server.admin('SELECT pg_reload_conf()');
    // The reload is asynchronous: wait until the server offers TLS.
    for (let i = 0; i < 50 && (await server.admin<{ ssl: string }>('SHOW ssl'))[0]?.ssl !== 'on'; i++) await new Promise((r) => setTimeout(r, 100));
  });

  after(async () => {
    if (!server) return;
    writeFileSync(hba, hbaBefore);
    for (const setting of ['ssl', 'ssl_cert_file', 'ssl_key_file']) await server.admin(`ALTER SYSTEM RESET ${setting}`);
    await server.admin('SELECT pg_reload_conf()');
    for (let i = 0; i < 50 && (await server.admin<{ ssl: string }>('SHOW ssl'))[0]?.ssl !== 'off'; i++) await new Promise((r) => setTimeout(r, 100));
    await server.admin(`DROP ROLE IF EXISTS ${role}`);
    for (const f of files) rmSync(f, { force: true });
  });

  const url = (host: string, query = '') => `postgres://${role}:${password}@${host}:${server.port}/postgres${query}`;

  for (const host of ['127.0.0.1', 'localhost']) {
    it(`no sslmode to ${host}: plain text is refused, and the refusal turns the connect to TLS, which succeeds`, async () => {
      const debug: string[] = [];
      const session = await createPostgresConnector({ log: { debug: (m: string) => void debug.push(m) } }).connect(url(host));
      try {
        const { rows } = await session.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        assert.deepEqual(rows, [{ ssl: true }]);
        assert.deepEqual(debug.filter((l) => /postgres: connecting to/.test(l)).map((l) => /\((\S+),/.exec(l)?.[1]), ['plain', 'tls-no-verify'], debug.join('\n'));
        assert.ok(!debug.join('\n').includes(password));
      } finally {
        await session.close();
      }
    });
  }

  it('sslmode=disable is refused by the server, with no TLS attempt after it', async () => {
    const debug: string[] = [];
    await assert.rejects(createPostgresConnector({ log: { debug: (m: string) => void debug.push(m) } }).connect(url('127.0.0.1', '?sslmode=disable')), DatabaseAuthError);
    assert.deepEqual(debug.filter((l) => /postgres: connecting to/.test(l)).map((l) => /\((\S+),/.exec(l)?.[1]), ['plain']);
  });
});
