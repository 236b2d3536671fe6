/**
 * Builds bin/helm-schema-rollback once for the e2e tests, and reuses it while it is newer than
 * every input of the build (src/**, package.json, the build scripts).
 *
 * The harness builds with SKIP_TYPECHECK=1: the type check is its own gate (`npm run typecheck`),
 * and e2e tests should exercise the binary even while an unrelated file does not typecheck.
 * Concurrent builds from parallel test processes are serialised by scripts/build.sh (flock), and the
 * binary is replaced atomically, so a process that is running the old binary is not disturbed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/harness/build.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where scripts/build.sh writes the binary. */
export const binaryPath = join(repoRoot, 'bin', 'helm-schema-rollback');

/** Files and directories whose change makes the binary stale. */
const buildInputs = [
  'src',
  'package.json',
  'package-lock.json',
  'scripts/build.sh',
  'scripts/build.mjs',
  'scripts/sea-config.json',
  'scripts/sea-main.cjs',
  'scripts/train-code-cache.sh',
];

let ensured: string | undefined;

/** Newest modification time (ms) under `path`, or 0 if it does not exist. */
function newestMtime(path: string): number {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted file shows up as a newer directory
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** True if bin/helm-schema-rollback exists and is newer than all build inputs. */
export function binaryIsFresh(): boolean {
  let built: number;
  try {
    built = statSync(binaryPath).mtimeMs;
  } catch {
    return false;
  }
  return buildInputs.every((input) => newestMtime(join(repoRoot, input)) < built);
}

/**
 * Returns the absolute path of a binary built from the current source, running scripts/build.sh
 * first when needed. Throws with the build output if the build fails.
 */
export function ensureBinary(): string {
  if (ensured !== undefined && binaryIsFresh()) return ensured;
  if (!binaryIsFresh()) {
    const env: NodeJS.ProcessEnv = { ...process.env, SKIP_TYPECHECK: '1' };
    delete env.NODE_OPTIONS; // the test runner's loader (tsx) must not leak into the build's node
    const result = spawnSync('bash', [join(repoRoot, 'scripts', 'build.sh')], {
      cwd: repoRoot,
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (result.status !== 0) {
      const why = result.error ? String(result.error) : `exit ${result.status ?? result.signal}`;
      throw new Error(`scripts/build.sh failed (${why}):\n${result.stdout}${result.stderr}`);
    }
  }
  ensured = binaryPath;
  return binaryPath;
}
