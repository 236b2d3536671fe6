/**
 * The migration source adapter against real files, real GNU tar archives (gnu, ustar and pax
 * formats, names longer than 100 characters) and a local HTTP server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMigrationSource } from '../../src/adapters/migration-source.js';
import { ExitCode, RefusedError, UsageError } from '../../src/core/errors.js';

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

  it('every file of a directory larger than one read batch, each with its own text, a link among them still refused', async () => {
    const dir = path.join(work, 'many');
    mkdirSync(dir, { recursive: true });
    for (let v = 1; v <= 600; v++) writeFileSync(path.join(dir, `${v}_t.down.sql`), `DROP TABLE t${v};\n`);
    const { files } = await openMigrationSource(dir, { tracks: ['core'] }).files('core');
    assert.equal(files.length, 600);
    assert.ok(files.every((f) => f.body === `DROP TABLE t${f.name.split('_')[0]};\n`));
    symlinkSync(path.join(dir, '1_t.down.sql'), path.join(dir, '601_t.down.sql'));
    await assert.rejects(openMigrationSource(dir, { tracks: ['core'] }).files('core'), (err: unknown) => err instanceof RefusedError && /601_t\.down\.sql is a symbolic link/.test(err.message));
  });

  it('top level only, as golang-migrate reads a directory', async () => {
    const dir = path.join(work, 'nested');
    mkdirSync(path.join(dir, 'deeper'), { recursive: true });
    writeFileSync(path.join(dir, 'deeper', '2_b.up.sql'), 'SELECT 2;');
    writeFileSync(path.join(dir, '1_a.up.sql'), 'SELECT 1;');
    const { files } = await openMigrationSource(dir, { tracks: ['core'] }).files('core');
    assert.deepEqual(files.map((f) => f.name), ['1_a.up.sql']);
  });

  describe('only regular files inside the source: anything else is refused, naming the entry, not followed or dropped', () => {
    /** A copy of the fixture's core track to spoil. */
    const coreCopy = (name: string) => {
      const dir = path.join(work, name, 'core');
      cpSync(path.join(fixture, 'core'), dir, { recursive: true });
      return dir;
    };
    const refused = (...patterns: RegExp[]) => (err: unknown) => {
      assert.ok(err instanceof RefusedError, String(err));
      assert.equal(err.code, ExitCode.refused);
      for (const p of patterns) assert.match(err.message, p);
      assert.match(err.hint ?? '', /regular files/);
      return true;
    };
    const outside = () => {
      const file = path.join(work, 'outside.sql');
      writeFileSync(file, 'DROP TABLE agents;');
      return file;
    };

    it('a symbolic link to a file outside the source, and a FIFO, every one listed', async () => {
      const dir = coreCopy('dir-links');
      rmSync(path.join(dir, '000011_agent_instance_tasks.down.sql'));
      symlinkSync(outside(), path.join(dir, '000011_agent_instance_tasks.down.sql'));
      execFileSync('mkfifo', [path.join(dir, '000012_fifo.down.sql')]);
      await assert.rejects(
        names(path.dirname(dir), 'core'),
        refused(/000011_agent_instance_tasks\.down\.sql is a symbolic link \(to .*outside\.sql\)/, /000012_fifo\.down\.sql is not a regular file/),
      );
    });

    it('a hard link (another name of the same file may lie anywhere)', async () => {
      const dir = coreCopy('dir-hard');
      linkSync(path.join(dir, '000001_initial.up.sql'), path.join(work, 'dir-hard', 'elsewhere.sql'));
      await assert.rejects(names(path.dirname(dir), 'core', ['core']), refused(/000001_initial\.up\.sql is a hard link \(one of 2 names/));
    });

    it('a track directory that is a symbolic link', async () => {
      const root = path.join(work, 'dir-track-link');
      mkdirSync(root);
      symlinkSync(path.join(fixture, 'core'), path.join(root, 'core'));
      await assert.rejects(names(root, 'core'), refused(/core is a symbolic link \(to .*\), not a directory inside the source/));
    });

    it('tar entries: a symbolic link (down file), a hard link, a track directory that is a link', async () => {
      const dir = coreCopy('tar-links');
      rmSync(path.join(dir, '000011_agent_instance_tasks.down.sql'));
      symlinkSync('../../outside.sql', path.join(dir, '000011_agent_instance_tasks.down.sql'));
      linkSync(path.join(dir, '000012_agent_instance_message_idempotency.down.sql'), path.join(dir, '000012_copy.txt'));
      const file = tarball('links.tgz', ['-C', path.join(work, 'tar-links'), 'core']);
      await assert.rejects(
        names(file, 'core'),
        refused(/links\.tgz:core\/: 000011_agent_instance_tasks\.down\.sql is a symbolic link \(to \.\.\/\.\.\/outside\.sql\)/, /is a hard link \(to core\/0000?12_/),
      );
      const root = path.join(work, 'tar-track-link');
      mkdirSync(root);
      symlinkSync('/etc', path.join(root, 'core'));
      await assert.rejects(names(tarball('track-link.tgz', ['-C', root, 'core']), 'core'), refused(/core is a symbolic link \(to \/etc\), not a directory inside the source/));
    });

    it('a tar entry whose path leaves the archive (../ or absolute)', async () => {
      const src = coreCopy('tar-escape');
      const up = tarball('escape.tgz', ['-P', '--transform', 's,^core,../core,', '-C', path.dirname(src), 'core']);
      await assert.rejects(names(up, 'core', ['core']), refused(/entry \.\.\/core\/ lies outside the archive/));
      const absolute = tarball('absolute.tgz', ['-P', outside()]);
      await assert.rejects(names(absolute, 'core', ['core']), refused(/entry \/.*outside\.sql lies outside the archive/));
    });

    it('a symbolic link elsewhere in the archive, outside the tracks read, is left alone', async () => {
      const root = path.join(work, 'tar-other-link');
      cpSync(fixture, root, { recursive: true });
      symlinkSync('core', path.join(root, 'latest'));
      assert.equal((await names(tarball('other-link.tgz', ['-C', root, '.']), 'core')).length, coreNames);
    });

    it('a track name that is not a plain name', async () => {
      await assert.rejects(names(fixture, '../kagent'), (err: unknown) => err instanceof UsageError && /track name "\.\.\/kagent" cannot name a directory/.test(err.message));
    });
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
