/**
 * The release: scripts/release.sh cross-builds the per-platform binaries here (those whose Node 24
 * the npm registry has), each checked to be an executable for its platform that carries the app;
 * the release workflow passes actionlint; and the lock file installs with `npm ci` on a fresh clone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../harness/build.js';
import { makeTempDir, removeTempDirs, run } from '../harness/plugin.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const fuse = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** What each platform's executable format says about its machine, read from the header bytes. */
function executableKind(file: Buffer): string {
  if (file.readUInt32BE(0) === 0x7f454c46) {
    const machine = file.readUInt16LE(18); // e_machine (64-bit little-endian ELF)
    return `elf-${({ 0x3e: 'x64', 0xb7: 'arm64' } as Record<number, string>)[machine] ?? machine}`;
  }
  if (file.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = file.readUInt32LE(4);
    return `macho-${({ 0x01000007: 'x64', 0x0100000c: 'arm64' } as Record<number, string>)[cpu] ?? cpu}`;
  }
  if (file.toString('latin1', 0, 2) === 'MZ') {
    const pe = file.readUInt32LE(0x3c);
    assert.equal(file.toString('latin1', pe, pe + 4), 'PE\0\0');
    const machine = file.readUInt16LE(pe + 4);
    return `pe-${({ 0x8664: 'x64', 0xaa64: 'arm64' } as Record<number, string>)[machine] ?? machine}`;
  }
  return 'unknown';
}

const targets = [
  { target: 'linux-x64', file: 'helm-schema-rollback-linux-x64', kind: 'elf-x64' },
  { target: 'linux-arm64', file: 'helm-schema-rollback-linux-arm64', kind: 'elf-arm64' },
  { target: 'darwin-x64', file: 'helm-schema-rollback-darwin-x64', kind: 'macho-x64' },
  { target: 'darwin-arm64', file: 'helm-schema-rollback-darwin-arm64', kind: 'macho-arm64' },
  { target: 'windows-x64', file: 'helm-schema-rollback-windows-x64.exe', kind: 'pe-x64' },
];

describe('release: scripts/release.sh cross-builds a binary per platform', function () {
  let dist: string;
  let output: string;

  before(async function () {
    this.timeout(900_000);
    dist = makeTempDir('hsr-dist-');
    const env: NodeJS.ProcessEnv = { ...process.env, RELEASE_DIST: dist, RELEASE_UNSIGNED_DARWIN: '1', SKIP_TYPECHECK: '1' };
    delete env.NODE_OPTIONS; // the test runner's loader must not leak into the build's node
    const result = await run('bash', [join(repoRoot, 'scripts', 'release.sh')], { cwd: repoRoot, env, timeoutMs: 900_000 });
    output = result.stdout + result.stderr;
    assert.equal(result.exitCode, 0, output);
  });
  after(removeTempDirs);

  for (const { target, file, kind } of targets) {
    it(`${target}: an executable for ${kind} with the app's SEA blob injected`, function () {
      const path = join(dist, file);
      if (!existsSync(path)) {
        const why = new RegExp(`skipped ${target}: (.*)`).exec(output)?.[1];
        assert.ok(why, `${file} was neither built nor skipped with a reason:\n${output}`);
        console.log(`      (not built here: ${why})`);
        this.skip();
      }
      const binary = readFileSync(path);
      assert.equal(executableKind(binary), kind);
      // postject flips the sentinel fuse; a plain node has it at :0 and would ignore the blob.
      assert.ok(binary.includes(`${fuse}:1`), 'the SEA fuse is set');
      // The blob the script made for this target is inside, byte for byte, and it is the app.
      const blob = readFileSync(join(repoRoot, 'build', `release-${target}`, 'sea-prep.blob'));
      assert.ok(blob.includes(readFileSync(join(repoRoot, 'build', 'cli.cjs'))), 'the blob holds the bundled CLI');
      assert.ok(binary.includes(blob), 'the binary holds the blob');
    });
  }

  it('linux-x64 runs and prints the package.json version', async () => {
    const result = await run(join(dist, 'helm-schema-rollback-linux-x64'), ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    assert.deepEqual(result, { stdout: `${pkg.version}\n`, stderr: '', exitCode: 0 });
  });

  it('checksums.txt holds the sha256 of every binary, in sha256sum format', async () => {
    const lines = readFileSync(join(dist, 'checksums.txt'), 'utf8').trimEnd().split('\n');
    const built = targets.filter(({ file }) => existsSync(join(dist, file))).map(({ file }) => file);
    assert.deepEqual(lines.map((line) => line.split('  ')[1]).sort(), built.sort());
    for (const line of lines) {
      const [hash, name] = line.split('  ');
      assert.equal(hash, createHash('sha256').update(readFileSync(join(dist, name!))).digest('hex'), name);
    }
    const check = await run('sha256sum', ['-c', 'checksums.txt'], { cwd: dist });
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
  });
});

describe('release: the GitHub Actions workflow', function () {
  this.timeout(120_000);
  const lint = (args: string[]) => run(process.execPath, [join(repoRoot, 'scripts', 'lint-workflows.mjs'), ...args], { cwd: repoRoot });

  it('.github/workflows/release.yml passes actionlint', async function () {
    const result = await lint([]);
    if (result.exitCode === 2) {
      console.log(`      (actionlint unavailable: ${result.stderr.trim()})`);
      this.skip();
    }
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /1 file\(s\), 0 finding\(s\)/);
  });

  it('the linter catches a broken copy of it (an undefined matrix key, a missing needed job)', async function () {
    const broken = join(makeTempDir('hsr-wf-'), 'release.yml');
    const text = readFileSync(join(repoRoot, '.github', 'workflows', 'release.yml'), 'utf8')
      .replace('${{ matrix.runner }}', '${{ matrix.runnr }}')
      .replace('needs: build', 'needs: buld');
    writeFileSync(broken, text);
    const result = await lint([broken]);
    if (result.exitCode === 2) this.skip();
    assert.equal(result.exitCode, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /property "runnr" is not defined/);
    assert.match(result.stdout, /needs job "buld" which does not exist/);
  });

  it('builds each of the five targets on its own runner and signs macOS ad hoc', () => {
    const text = readFileSync(join(repoRoot, '.github', 'workflows', 'release.yml'), 'utf8');
    for (const { target } of targets) assert.match(text, new RegExp(`- target: ${target}\\n`));
    assert.match(text, /codesign --verify/);
    assert.match(readFileSync(join(repoRoot, 'scripts', 'release.sh'), 'utf8'), /codesign --sign - /);
  });
});

describe('release: npm ci accepts the lock file on a fresh clone', function () {
  this.timeout(300_000);
  let clone: string;

  before(async function () {
    if (!existsSync(join(repoRoot, '.git'))) this.skip();
    clone = join(makeTempDir('hsr-clone-'), 'repo');
    const result = await run('git', ['clone', '--quiet', repoRoot, clone]);
    assert.equal(result.exitCode, 0, result.stderr);
  });
  after(removeTempDirs);

  for (const npm of [['npm'], ['npx', '-y', 'npm@10']]) {
    it(`${npm.join(' ')} ci --dry-run --ignore-scripts`, async function () {
      const result = await run(npm[0]!, [...npm.slice(1), 'ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], {
        cwd: clone,
        timeoutMs: 240_000,
      });
      const output = result.stdout + result.stderr;
      if (npm[0] === 'npx' && /npm@10|ENOTFOUND|E404|canceled/.test(output) && result.exitCode !== 0 && !/Missing:/.test(output)) {
        console.log(`      (npm 10 could not be fetched: ${output.trim().split('\n').pop()})`);
        this.skip();
      }
      assert.doesNotMatch(output, /Missing: .* from lock file/);
      assert.equal(result.exitCode, 0, output);
      assert.match(output, /add @dbmate\/linux-x64 2\.36\.0/);
    });
  }
});
