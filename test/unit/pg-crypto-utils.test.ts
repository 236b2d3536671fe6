import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

// The binary's stand-in for pg's password-auth helpers (scripts/build.mjs aliases it in) must give
// pg's own bytes: a wrong digest is a refused password at every connection.
const require = createRequire(import.meta.url);
type Utils = {
  postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
  deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<ArrayBuffer | Buffer>;
  sha256(text: ArrayBuffer | Buffer): Promise<ArrayBuffer | Buffer>;
  hashByName(name: string, text: Buffer): Promise<ArrayBuffer | Buffer>;
  hmacSha256(key: ArrayBuffer | Buffer, msg: string): Promise<ArrayBuffer | Buffer>;
  md5(text: string): Promise<string>;
  randomBytes(n: number): Buffer;
};
const pgUtils = require('pg/lib/crypto/utils.js') as Utils;
const stub = require('../../src/stubs/pg-crypto-utils.cjs') as Utils;
const bytes = (b: ArrayBuffer | Buffer) => Buffer.from(b as ArrayBuffer).toString('hex');

describe('the binary\'s pg password-auth helpers (src/stubs/pg-crypto-utils.cjs)', () => {
  it('derive the SCRAM keys, proofs and signatures pg derives', async () => {
    const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');
    for (const [password, iterations] of [['pencil', 4096], ['pä$$wörd with spaces', 4096], ['', 1], ['x', 10000]] as const) {
      const [ours, theirs] = await Promise.all([stub.deriveKey(password, salt, iterations), pgUtils.deriveKey(password, salt, iterations)]);
      assert.equal(bytes(ours), bytes(theirs), `${password} ${iterations}`);
      const clientKey = [await stub.hmacSha256(ours, 'Client Key'), await pgUtils.hmacSha256(theirs, 'Client Key')];
      assert.equal(bytes(clientKey[0]!), bytes(clientKey[1]!));
      const stored = [await stub.sha256(clientKey[0]!), await pgUtils.sha256(clientKey[1]!)];
      assert.equal(bytes(stored[0]!), bytes(stored[1]!));
      const message = 'n=*,r=abc,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,c=biws,r=abcdef';
      assert.equal(bytes(await stub.hmacSha256(stored[0]!, message)), bytes(await pgUtils.hmacSha256(stored[1]!, message)));
    }
  });

  it('hash a certificate for channel binding with the hash it names, and MD5 passwords as pg does', async () => {
    const cert = Buffer.from('a certificate, as DER bytes');
    for (const name of ['SHA-256', 'SHA-384', 'SHA-512']) assert.equal(bytes(await stub.hashByName(name, cert)), bytes(await pgUtils.hashByName(name, cert)), name);
    const salt = Buffer.from([1, 2, 3, 4]);
    assert.equal(await stub.postgresMd5PasswordHash('app', 'secret', salt), await pgUtils.postgresMd5PasswordHash('app', 'secret', salt));
    assert.equal(await stub.md5('abc'), await pgUtils.md5('abc'));
  });

  it('exports every function pg\'s own module does (a pg update that adds one fails here, not at a connection)', () => {
    assert.deepEqual(Object.keys(stub).sort(), Object.keys(pgUtils).sort());
  });

  it('gives random nonces of the length asked', () => {
    const [a, b] = [stub.randomBytes(18), stub.randomBytes(18)];
    assert.equal(a.length, 18);
    assert.notEqual(a.toString('hex'), b.toString('hex'));
  });
});
