/**
 * The migration source adapter against real files, real GNU tar archives (gnu, ustar and pax
 * formats, names longer than 100 characters) and a local HTTP server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMigrationSource } from '../../src/adapters/migration-source.js';
import { UsageError } from '../../src/core/errors.js';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/migrations/kagent');
const names = async (source: string, track: string, tracks = ['core', 'vector']) => (await openMigrationSource(source, { tracks }).files(track)).files.map((f) => f.name).sort();
const coreNames = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13'].length * 2;

describe('adapters/migration-source', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'hsr-source-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const tarball = (name: string, args: string[]) => {
    const file = path.join(work, name);
    execFileSync('tar', ['czf', file, ...args]);
    return file;
  };

  it('a directory with one subdirectory per track', async () => {
    assert.equal((await names(fixture, 'core')).length, coreNames);
    assert.deepEqual((await names(fixture, 'vector')).slice(0, 2), ['000001_vector_support.down.sql', '000001_vector_support.up.sql']);
  });

  it('one track: the directory itself, or its subdirectory named like the track', async () => {
    assert.equal((await names(path.join(fixture, 'core'), 'core', ['core'])).length, coreNames);
    assert.equal((await names(fixture, 'core', ['core'])).length, coreNames);
  });

  it('top level only, following symlinks to files, as golang-migrate reads a directory', async () => {
    const dir = path.join(work, 'links');
    mkdirSync(path.join(dir, 'nested'), { recursive: true });
    writeFileSync(path.join(dir, 'nested', '2_b.up.sql'), 'SELECT 2;');
    symlinkSync(path.join(fixture, 'core', '000001_initial.up.sql'), path.join(dir, '000001_initial.up.sql'));
    const { files } = await openMigrationSource(dir, { tracks: ['core'] }).files('core');
    assert.deepEqual(files.map((f) => f.name), ['000001_initial.up.sql']);
    assert.match(files[0]!.body, /CREATE TABLE agents/);
  });

  for (const format of ['gnu', 'ustar', 'pax']) {
    it(`a ${format} tar.gz, with paths longer than 100 characters and a wrapping directory`, async () => {
      const root = path.join(work, `${format}-src`, 'release-0.9.0');
      cpSync(fixture, root, { recursive: true });
      // ustar cannot store a name over 100 characters, only a long path (split into prefix + name).
      const long = `000014_${'x'.repeat(format === 'ustar' ? 80 : 120)}.down.sql`;
      writeFileSync(path.join(root, 'core', long), 'SELECT 14;');
      const file = path.join(work, `${format}.tgz`);
      execFileSync('tar', [`--format=${format}`, '-czf', file, '-C', path.dirname(root), 'release-0.9.0']);
      const source = openMigrationSource(file, { tracks: ['core', 'vector'] });
      const core = await source.files('core');
      assert.equal(core.files.length, coreNames + 1);
      assert.equal(core.files.find((f) => f.name === long)?.body, 'SELECT 14;');
      assert.equal(core.origin, `${file}:release-0.9.0/core/`);
      assert.equal((await source.files('vector')).files.length, 6);
    });
  }

  it('a tarball made from inside the directory ("./core/...")', async () => {
    const file = tarball('dot.tgz', ['-C', fixture, '.']);
    assert.equal((await names(file, 'core')).length, coreNames);
  });

  it('a one-track tarball of the files themselves', async () => {
    const file = tarball('flat.tgz', ['-C', path.join(fixture, 'vector'), '.']);
    assert.equal((await names(file, 'vector', ['vector'])).length, 6);
  });

  it('names the missing track directory', async () => {
    const file = tarball('core-only.tgz', ['-C', fixture, 'core']);
    await assert.rejects(names(file, 'vector'), (err: unknown) => err instanceof UsageError && /has no directory vector\/ for track vector/.test(err.message));
    await assert.rejects(names(path.join(fixture, 'core'), 'vector'), /has no directory vector\//);
  });

  it('refuses a missing path and a file that is no archive', async () => {
    await assert.rejects(names(path.join(work, 'nope'), 'core'), (err: unknown) => err instanceof UsageError && /no such file or directory/.test(err.message));
    await assert.rejects(names(path.join(fixture, 'core', '000001_initial.up.sql'), 'core'), /neither a directory nor a tar/);
  });

  describe('over http', () => {
    let server: Server;
    let base: string;
    before(async () => {
      const archive = tarball('served.tgz', ['-C', fixture, 'core', 'vector']);
      const body = await import('node:fs/promises').then((fs) => fs.readFile(archive));
      server = createServer((req, res) => {
        if (req.url === '/kagent.tgz') return void res.writeHead(200).end(body);
        if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
        if (req.url === '/slow') return; // never answers
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it('downloads a tarball', async () => {
      assert.equal((await names(`${base}/kagent.tgz`, 'core')).length, coreNames);
    });
    it('reports HTTP errors, redirect loops, timeouts and oversize bodies, without credentials', async () => {
      const withUser = base.replace('http://', 'http://user:secret@');
      await assert.rejects(names(`${withUser}/missing.tgz?token=abc`, 'core'), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /cannot download migration source http:\/\/127\.0\.0\.1:\d+\/missing\.tgz\?…: HTTP 404/);
        assert.doesNotMatch(err.message, /secret|abc/);
        return true;
      });
      await assert.rejects(names(`${base}/loop`, 'core'), /too many redirects/);
      await assert.rejects(openMigrationSource(`${base}/slow`, { tracks: ['core'], fetchTimeoutMs: 200 }).files('core'), /no answer within 200 ms/);
      await assert.rejects(openMigrationSource(`${base}/kagent.tgz`, { tracks: ['core'], maxBytes: 100 }).files('core'), /larger than 100 bytes/);
    });
  });
});
