/**
 * sslmode=verify-full through a port-forward: the plugin dials 127.0.0.1, and the server's
 * certificate names the host the app uses. The connector must verify the certificate against that
 * name (and send it as SNI), which the forward's URL carries (tunnelUrl, x-tls-servername).
 *
 * The server here is the front of PostgreSQL's protocol only, on a real socket: it answers the
 * client's SSLRequest with 'S', completes a real TLS handshake with a certificate for
 * db.example.internal signed by a test CA (made with openssl), then refuses the password as
 * PostgreSQL would (ErrorResponse 28P01). Reaching that refusal proves the certificate was accepted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { tunnelUrl } from '../../src/core/database-route.js';
import { DatabaseAuthError, DatabaseUnreachableError } from '../../src/core/errors.js';
import { makeTempDir } from '../harness/plugin.js';

const NAME = 'db.example.internal';

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}:\n${r.stderr}`);
}

/** A CA, and a server certificate for NAME signed by it. */
function certificates(dir: string): { ca: string; key: Buffer; cert: Buffer } {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hsr test CA']);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${NAME}`]);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  return { ca: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}

/** PostgreSQL's ErrorResponse: FATAL 28P01, as a server refusing a password sends it. */
function passwordRefused(): Buffer {
  const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed for user "app"\0\0');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

describe('sslmode=verify-full through a port-forward (TLS server name kept)', function () {
  this.timeout(30_000);
  let server: net.Server;
  let port: number;
  let ca: string;
  const sni: Array<string | false> = [];

  before(async function () {
    if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status !== 0) {
      console.log('      (skipped: openssl is needed to make the test certificates)');
      this.skip();
    }
    const dir = makeTempDir('hsr-tls-');
    writeFileSync(join(dir, 'san.ext'), `subjectAltName=DNS:${NAME}\n`);
    const made = certificates(dir);
    ca = made.ca;
    const context = tls.createSecureContext({ key: made.key, cert: made.cert });
    server = net.createServer((socket) => {
      socket.once('data', (request) => {
        // SSLRequest: length 8, code 80877103.
        if (request.length < 8 || request.readInt32BE(4) !== 80877103) return socket.destroy();
        socket.write('S');
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
        secure.on('error', () => undefined);
        secure.once('secure', () => sni.push((secure as unknown as { servername?: string | false }).servername ?? false));
        secure.once('data', () => secure.end(passwordRefused()));
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  const connector = createPostgresConnector({ connectTimeoutMs: 5_000 });

  it('verifies the certificate against the name in the app\'s URL and sends it as SNI (the server\'s refusal of the password is reached)', async () => {
    const appUrl = `postgresql://app:secret@${NAME}:5432/app?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;
    const local = tunnelUrl(appUrl, port);
    await assert.rejects(connector.connect(local), (err: unknown) => {
      assert.ok(err instanceof DatabaseAuthError, `not an auth error: ${String(err)}`);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
    assert.equal(sni.at(-1), NAME);
  });

  it('without the name, the same certificate is refused for 127.0.0.1: why the forward keeps it', async () => {
    const bare = `postgresql://app:secret@127.0.0.1:${port}/app?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;
    await assert.rejects(connector.connect(bare), (err: unknown) => {
      assert.ok(err instanceof DatabaseUnreachableError, `not unreachable: ${String(err)}`);
      assert.equal(err.reason, 'tls');
      assert.match(err.message, /TLS certificate of 127\.0\.0\.1:\d+ was not accepted/);
      return true;
    });
  });
});
