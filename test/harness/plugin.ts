/**
 * Installs the plugin into a real, isolated Helm (3.17 or 4.1) for end-to-end tests.
 *
 *   const plugin = await installPlugin(helm4, stagePluginDir(ensureBinary()));
 *   const { stdout } = await plugin.helm(['schema-rollback', '--version']);
 *   await plugin.cleanup();
 *
 * Every installation gets its own HELM_CONFIG_HOME / HELM_DATA_HOME / HELM_CACHE_HOME, with
 * HELM_PLUGINS = $HELM_DATA_HOME/plugins (Helm 4 local installs ignore HELM_PLUGINS: helm/helm#32646),
 * a KUBECONFIG inside the home (absent until a test writes one), and a bin/ directory first on PATH
 * holding `helm` and `kubectl` links, so the plugin's `$HELM_BIN` and a bare `helm`/`kubectl` are the
 * binaries under test. Inherited HELM_*, KUBECONFIG and NODE_OPTIONS are dropped.
 * Set KEEP_E2E_TMP=1 to keep the temporary directories for inspection.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { helms, helmEnv as helmHomes, kubectl, repoRoot } from './binaries.js';
import { run, type RunOptions, type RunResult } from './run.js';

// The binaries and the runner live in binaries.ts and run.ts; re-exported for the e2e tests.
export { helm3, helm4, kubectl, repoRoot } from './binaries.js';
export { run, type RunOptions, type RunResult };

/** The Helm versions every e2e scenario runs against. */
export const helmVersions = helms.map((h) => ({ ...h, label: h.major === 3 ? 'Helm 3.17' : 'Helm 4.1' }));

const tempDirs: string[] = [];

/** A new directory under the OS temp dir, removed by removeTempDirs(). */
export function makeTempDir(prefix = 'hsr-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory made by makeTempDir() (kept when KEEP_E2E_TMP=1). */
export function removeTempDirs(): void {
  if (process.env.KEEP_E2E_TMP === '1') return;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The environment for running `helmBin` with its state under `home` (created if missing).
 * `extra` is applied last, e.g. `{ KUBECONFIG: ..., HELM_NAMESPACE: ... }`.
 */
export function helmEnv(helmBin: string, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const binDir = join(home, 'bin');
  mkdirSync(binDir, { recursive: true });
  for (const [name, target] of [['helm', helmBin], ['kubectl', kubectl]] as const) {
    if (!existsSync(join(binDir, name))) symlinkSync(target, join(binDir, name));
  }
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('HELM_') || key === 'KUBECONFIG' || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return {
    ...env,
    PATH: [binDir, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter),
    ...helmHomes(home),
    KUBECONFIG: join(home, 'kube', 'config'),
    ...extra,
  };
}

/** The files a release of the plugin carries (besides bin/). */
const pluginFiles = ['plugin.yaml', 'install-binary.sh', 'plugin.complete', 'README.md', 'LICENSE'];

/**
 * A fresh directory laid out like a release of the plugin: plugin.yaml, install-binary.sh (and
 * README/LICENSE when they exist) plus, when `binary` is given, bin/helm-schema-rollback.
 * Named helm-schema-rollback, like a clone of the repository.
 */
export function stagePluginDir(binary?: string): string {
  const dir = join(makeTempDir('hsr-plugin-'), 'helm-schema-rollback');
  mkdirSync(dir);
  for (const file of pluginFiles) {
    const from = join(repoRoot, file);
    if (existsSync(from)) cpSync(from, join(dir, file), { preserveTimestamps: true });
  }
  if (binary !== undefined) {
    mkdirSync(join(dir, 'bin'));
    cpSync(binary, join(dir, 'bin', 'helm-schema-rollback'), { preserveTimestamps: true });
  }
  return dir;
}

/**
 * A fresh directory laid out like a source checkout without bin/: the plugin files, the sources and
 * build scripts, and node_modules as a symlink to the repository's (the install hook never deletes
 * an existing node_modules, so the shared one is safe).
 */
export function stageSourceDir(): string {
  const dir = stagePluginDir();
  const sources = ['src', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json'];
  for (const file of sources) {
    cpSync(join(repoRoot, file), join(dir, file), { recursive: true, preserveTimestamps: true });
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export interface InstalledPlugin {
  /** Root of this installation's Helm state (HELM_*_HOME live under it). */
  home: string;
  /** The environment helm runs with; pass a modified copy as `opts.env` to change it. */
  env: NodeJS.ProcessEnv;
  /** The helm binary this installation uses (a link in `home`/bin to the real one). */
  helmBin: string;
  /** Output of `helm plugin install` (hook output included). */
  install: RunResult;
  /** Runs helm with this installation's environment; never throws on a non-zero exit. */
  helm: (args: string[], opts?: RunOptions) => Promise<RunResult>;
  /** Removes `home` (not the plugin directory it was installed from). */
  cleanup: () => Promise<void>;
}

export interface InstallOptions {
  /** Extra environment for helm, applied on top of helmEnv(). */
  env?: NodeJS.ProcessEnv;
  /** Use this directory for the Helm state instead of a new temp dir. */
  home?: string;
}

/**
 * `helm plugin install <dir>` into an isolated Helm state. Helm 3 and 4 both link a local
 * directory (Helm 4 calls it "development mode") and run the install hook. Throws with helm's
 * output if the install fails.
 */
export async function installPlugin(
  helmBin: string,
  dir: string,
  opts: InstallOptions = {},
): Promise<InstalledPlugin> {
  const home = opts.home ?? makeTempDir('hsr-helm-');
  const env = helmEnv(helmBin, home, opts.env);
  const linkedHelm = join(home, 'bin', 'helm');
  const helm = (args: string[], runOpts: RunOptions = {}) =>
    run(linkedHelm, args, { ...runOpts, env: runOpts.env ?? env });
  const install = await helm(['plugin', 'install', dir], { timeoutMs: 300_000 });
  if (install.exitCode !== 0) {
    throw new Error(
      `helm plugin install ${dir} (${helmBin}) exited ${install.exitCode}:\n${install.stdout}${install.stderr}`,
    );
  }
  return {
    home,
    env,
    helmBin: linkedHelm,
    install,
    helm,
    cleanup: async () => {
      if (process.env.KEEP_E2E_TMP !== '1') rmSync(home, { recursive: true, force: true });
    },
  };
}
