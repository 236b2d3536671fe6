/**
 * The real binaries tests drive, unpacked by scripts/fetch-helm.sh into .tools/ (run here, once,
 * if any is missing). Never use helm or kubectl from PATH: versions there are unknown.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');

/** Helm v3.17.3 */
export const helm3 = join(repoRoot, '.tools', 'helm3', 'helm');
/** Helm v4.1.4 */
export const helm4 = join(repoRoot, '.tools', 'helm4', 'helm');
/** kubectl v1.33.9 */
export const kubectl = join(repoRoot, '.tools', 'kubectl', 'kubectl');

/** Both Helm majors, for `for (const helm of helms) describe(helm.label, …)`. */
export const helms = [
  { label: 'helm 3.17', major: 3, bin: helm3 },
  { label: 'helm 4.1', major: 4, bin: helm4 },
] as const;

if (![helm3, helm4, kubectl].every((p) => existsSync(p))) {
  // Synchronous on purpose: it runs at import, before any server lives on this event loop.
  execFileSync('bash', [join(repoRoot, 'scripts', 'fetch-helm.sh')], { cwd: repoRoot, stdio: 'inherit', timeout: 300_000 });
}

/**
 * Helm state isolated under `dir` (created). HELM_PLUGINS is set to $HELM_DATA_HOME/plugins
 * explicitly because Helm 4 ignores a derived value for local installs (helm/helm#32646).
 * Only these four variables are returned: merge them over process.env, and drop inherited
 * HELM_* variables (HELM_DRIVER, HELM_NAMESPACE…) if a test must not see them.
 */
export function helmEnv(dir: string): { HELM_CONFIG_HOME: string; HELM_DATA_HOME: string; HELM_CACHE_HOME: string; HELM_PLUGINS: string } {
  const env = {
    HELM_CONFIG_HOME: join(dir, 'config'),
    HELM_DATA_HOME: join(dir, 'data'),
    HELM_CACHE_HOME: join(dir, 'cache'),
    HELM_PLUGINS: join(dir, 'data', 'plugins'),
  };
  for (const d of Object.values(env)) mkdirSync(d, { recursive: true });
  return env;
}
