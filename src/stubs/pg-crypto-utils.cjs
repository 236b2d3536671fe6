// Stand-in for pg's lib/crypto/utils.js (SCRAM and MD5 password auth), aliased in by scripts/build.mjs
// for pg's own two imports of it. pg's version goes through WebCrypto (crypto.subtle): loading it
// builds its algorithm tables (~3 ms) and each of the SCRAM exchange's six digests is a promise
// round trip through the thread pool, on the path of every command that opens the database (issue
// 12). The same functions on node:crypto, giving the same bytes (test/unit/pg-crypto-utils.test.ts
// compares them with pg's); the key derivation (PBKDF2, thousands of iterations) stays off the
// event loop.
'use strict';
const nodeCrypto = require('node:crypto');

/** WebCrypto's hash names (SHA-256) as node:crypto's (sha256). */
const nodeHash = (name) => String(name).toLowerCase().replace('-', '');

const randomBytes = (length) => nodeCrypto.randomBytes(length);
const md5 = async (string) => nodeCrypto.createHash('md5').update(string, 'utf-8').digest('hex');

// See AuthenticationMD5Password at https://www.postgresql.org/docs/current/static/protocol-flow.html
async function postgresMd5PasswordHash(user, password, salt) {
  const inner = await md5(password + user);
  const outer = await md5(Buffer.concat([Buffer.from(inner), salt]));
  return 'md5' + outer;
}

const sha256 = async (text) => nodeCrypto.createHash('sha256').update(Buffer.from(text)).digest();
const hashByName = async (hashName, text) => nodeCrypto.createHash(nodeHash(hashName)).update(Buffer.from(text)).digest();
const hmacSha256 = async (keyBuffer, msg) => nodeCrypto.createHmac('sha256', Buffer.from(keyBuffer)).update(msg).digest();

function deriveKey(password, salt, iterations) {
  return new Promise((resolve, reject) =>
    nodeCrypto.pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
}

module.exports = { postgresMd5PasswordHash, randomBytes, deriveKey, sha256, hashByName, hmacSha256, md5 };
