import assert from 'node:assert/strict';
import { maskArgv, maskUrlPasswords, printable, Redactor, secretFlagValues } from '../../src/core/redact.js';

describe('redaction: what leaves the plugin', () => {
  it('masks the password of any URL in free text, up to the last @ before the host', () => {
    assert.equal(maskUrlPasswords('url: postgres://app:s3cret@db:5432/app?sslmode=disable'), 'url: postgres://app:***@db:5432/app?sslmode=disable');
    assert.equal(maskUrlPasswords('a postgresql://u:p@ss@h/d b'), 'a postgresql://u:***@h/d b');
    assert.equal(maskUrlPasswords('{"url":"postgres://u:pw@h/d","x":"a@b"}'), '{"url":"postgres://u:***@h/d","x":"a@b"}');
    assert.equal(maskUrlPasswords('postgres://app@db/app and https://example.com/x'), 'postgres://app@db/app and https://example.com/x');
  });

  it('masks every known secret wherever it appears: the URL, its password encoded and decoded, Secret values', () => {
    const r = new Redactor();
    r.add('postgres://app:p%40ss%3Aw%2Frd@db/app');
    r.add('tok-1234567');
    r.add('1');
    const out = r.redact('password p@ss:w/rd, encoded p%40ss%3Aw%2Frd, token tok-1234567 and 1 replica');
    assert.equal(out, 'password ***, encoded ***, token *** and 1 replica');
  });

  it('masks password assignments (libpq keyword strings, YAML, env)', () => {
    const r = new Redactor();
    assert.equal(r.redact('host=db password=hunter2 dbname=app'), 'host=db password=*** dbname=app');
    assert.equal(r.redact('  password: hunter2'), '  password: ***');
    assert.equal(r.redact('PGPASSWORD=hunter2 psql'), 'PGPASSWORD=*** psql');
    assert.equal(r.redact('{"db.password": "hunter2", "user": "app"}'), '{"db.password": "***", "user": "app"}');
    assert.equal(r.redact('bypass: true'), 'bypass: true');
    assert.equal(r.redact('password authentication failed for user "app"'), 'password authentication failed for user "app"');
  });

  it('masks the values of every --set* flag in argv, keys kept, in both spellings', () => {
    assert.deepEqual(
      maskArgv(['--set-file', 'cert=/tmp/c.pem', '--set-json=auth={"a":"x","b":"y"}', '--set-literal', 'db.url=a,b', '--set', 'a=x\\,y', '--database-url=postgres://u:p@h/d']),
      ['--set-file', 'cert=***', '--set-json=auth=***', '--set-literal', 'db.url=***', '--set', 'a=***,***', '--database-url=***'],
    );
  });

  it('takes the values of credential-like --set keys as secrets, not every value', () => {
    assert.deepEqual(
      secretFlagValues(['--set', 'image.tag=0.8.0,db.password=hunter2', '--set-json=auth.token={"a":"b,c"}', '--set-file', 'tls.key=/k', '--timeout', '5m']),
      ['hunter2', '{"a":"b,c"}'],
    );
  });

  it('escapes control characters and cuts very long values in messages', () => {
    assert.equal(printable('release "\u001b[31mred\u001b[0m"\nnext\tline'), 'release "\\x1b[31mred\\x1b[0m"\nnext\tline');
    const long = printable(`release "${'a'.repeat(100_000)}" not found`);
    assert.ok(long.length < 400, `${long.length} characters`);
    assert.match(long, /^release "a{199}…\(99802 more characters\) not found$/);
  });
});
