/**
 * The Kubernetes cluster a test talks to.
 *
 * By default: the in-process API double of test/kube (fast, no Docker, with a fake kubelet that
 * runs pods as local processes from an image → directory map).
 *
 * SCHEMA_ROLLBACK_TEST_KUBECONFIG=/path/to/kubeconfig
 *   Runs the same tests against a real cluster (e.g. `kind create cluster`, then
 *   `kind get kubeconfig > /tmp/kind.yaml`). The current context of that file is used; the harness
 *   writes its own kubeconfig with the same contexts as the double (`double` = namespace default,
 *   `double-other` = namespace other, created if missing; `unreachable`), so tests need not branch.
 *   In this mode there are no store accessors (`cluster.double` is undefined), and images are real
 *   images: tests that rely on the fake kubelet's image map call requireDouble(), which skips them.
 *   Tests share the cluster between runs: use unique release names and clean up.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startKubeDouble, type KubeDouble } from '../kube/index.js';
import { CONTEXTS, writeKubeconfig } from '../kube/kubeconfig.js';
import { kubectl } from './binaries.js';
import { run, runOk } from './run.js';

export const REAL_CLUSTER_ENV = 'SCHEMA_ROLLBACK_TEST_KUBECONFIG';

export { CONTEXTS };

export interface ClusterOptions {
  /** A scratch directory for the kubeconfig and the discovery cache. */
  dir: string;
  /** The double's image map (ignored against a real cluster, see requireDouble). */
  images?: Record<string, string>;
}

export interface Cluster {
  mode: 'double' | 'real';
  /** Kubeconfig with contexts double (current), double-other and unreachable, in both modes. */
  kubeconfig: string;
  /** For child processes: KUBECONFIG and a fresh KUBECACHEDIR. */
  env: { KUBECONFIG: string; KUBECACHEDIR: string };
  /** The double (store accessors, request log), or undefined against a real cluster. */
  double?: KubeDouble;
  close(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const real = process.env[REAL_CLUSTER_ENV];
  if (!real) {
    const double = await startKubeDouble(opts);
    return { mode: 'double', kubeconfig: double.kubeconfig, env: double.env, double, close: () => double.close() };
  }
  if (!existsSync(real)) throw new Error(`${REAL_CLUSTER_ENV}=${real}: no such file`);
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const env = { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: mkdtempSync(join(dir, 'kube-cache-')) };
  const view = await runOk(kubectl, ['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json'], {
    env: { ...process.env, KUBECONFIG: real },
  });
  const config = JSON.parse(view.stdout) as { clusters: { cluster: Record<string, unknown> }[]; users: { user: Record<string, unknown> }[] };
  writeKubeconfig(env.KUBECONFIG, { cluster: config.clusters[0]!.cluster, user: config.users[0]?.user ?? {} });
  const childEnv = { ...process.env, ...env };
  const reach = await run(kubectl, ['--context', CONTEXTS.main, 'get', 'namespace', 'default', '-o', 'name'], { env: childEnv, timeoutMs: 30_000 });
  if (reach.exitCode !== 0) throw new Error(`${REAL_CLUSTER_ENV}=${real}: the cluster does not answer:\n${reach.stderr}`);
  const other = await run(kubectl, ['--context', CONTEXTS.main, 'create', 'namespace', 'other'], { env: childEnv });
  if (other.exitCode !== 0 && !/AlreadyExists|already exists/.test(other.stderr)) throw new Error(`cannot create namespace other:\n${other.stderr}`);
  return { mode: 'real', kubeconfig: env.KUBECONFIG, env, close: async () => undefined };
}

/**
 * The double, or skips the calling test (or the whole suite, from a before hook) with a message
 * saying why, when running against a real cluster.
 */
export function requireDouble(ctx: Mocha.Context, cluster: Cluster, why = 'needs the fake kubelet image map or store access'): KubeDouble {
  if (cluster.double) return cluster.double;
  console.log(`      skipped against ${process.env[REAL_CLUSTER_ENV]}: ${why}`);
  ctx.skip();
  throw new Error('unreachable: skip() throws');
}
