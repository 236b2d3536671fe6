/**
 * Shared set-up for the double's own tests: fixture paths, temp dirs, and a clean environment
 * for helm/kubectl (no inherited HELM_* or KUBECONFIG can leak in from the developer's shell).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
/** The fake image used by these tests (see fixtures/images/smoke/README.md). */
export const SMOKE_IMAGE_DIR = join(FIXTURES, 'images', 'smoke');
export const SMOKE_CHART = join(import.meta.dirname, '..', 'fixtures', 'charts', 'kube-smoke');

export interface TempDir {
  path: string;
  remove: () => void;
}

/** Call it in a before hook, not in a describe body: mocha runs describe bodies even for suites --grep skips. */
export function tempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** process.env without Helm and kube settings, plus `extra`. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HELM_') && k !== 'KUBECONFIG' && k !== 'KUBECACHEDIR') env[k] = v;
  return { ...env, ...extra };
}
