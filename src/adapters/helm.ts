/**
 * Helm, through $HELM_BIN. The child inherits HELM_NAMESPACE, HELM_KUBECONTEXT, KUBECONFIG and the
 * rest of the HELM_* environment that Helm gave the plugin, so every call acts on the cluster and
 * namespace the user chose with `helm -n NS --kube-context CTX schema-rollback ...`.
 */
import { ClusterError, CommandFailedError, ExitCode, ReleaseNotFoundError, RollbackError } from '../core/errors.js';
import type { HelmPort, Log, ReleaseInfo } from '../core/ports.js';
import { maskArgv, runCommand } from './command.js';

export interface HelmOptions {
  /** $HELM_BIN, or "helm" from PATH when the binary runs outside Helm. */
  bin: string;
  /** The namespace Helm resolved ($HELM_NAMESPACE), or the user's -n when run outside Helm. */
  namespace: string;
  env: NodeJS.ProcessEnv;
  log: Log;
}

export interface Helm extends HelmPort {
  /** Runs helm with the namespace appended; returns stdout or throws a mapped error. */
  run(args: string[]): Promise<string>;
}

export function createHelm(opts: HelmOptions): Helm {
  const run = async (args: string[]): Promise<string> => {
    const argv = [...args, '--namespace', opts.namespace];
    const result = await runCommand(opts.bin, argv, { env: opts.env, log: opts.log });
    if (result.spawnError) {
      throw new RollbackError(ExitCode.commandFailed, `cannot run helm (${opts.bin}): ${result.spawnError}`, {
        hint: 'run the plugin through helm ("helm schema-rollback ..."), or put helm on PATH / set HELM_BIN',
      });
    }
    if (result.exitCode !== 0) throw helmError([opts.bin, ...argv], result.exitCode, result.stderr);
    return result.stdout;
  };
  return {
    namespace: opts.namespace,
    run,
    async getRelease(name) {
      let stdout: string;
      try {
        stdout = await run(['get', 'metadata', name, '-o', 'json']);
      } catch (err) {
        if (err instanceof CommandFailedError && /release: not found/.test(err.stderr)) {
          throw new ReleaseNotFoundError(name, opts.namespace);
        }
        throw err;
      }
      return releaseFromMetadata(JSON.parse(stdout) as Record<string, unknown>, opts.namespace);
    },
    async getValues(name) {
      const stdout = await run(['get', 'values', name, '--all', '-o', 'json']);
      return (JSON.parse(stdout) ?? {}) as Record<string, unknown>;
    },
  };
}

function helmError(argv: string[], exitCode: number | undefined, stderr: string): RollbackError {
  if (/Kubernetes cluster unreachable|connection refused|no such host|i\/o timeout/i.test(stderr)) {
    return new ClusterError(`helm cannot reach the cluster: ${lastLine(stderr)}`, {
      hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
    });
  }
  return new CommandFailedError(maskArgv(argv), exitCode, stderr);
}

/** `helm get metadata -o json`: same keys in 3.17 and 4.1 (4.1 adds labels and applyMethod). */
export function releaseFromMetadata(m: Record<string, unknown>, namespace: string): ReleaseInfo {
  return {
    name: String(m['name']),
    namespace: typeof m['namespace'] === 'string' ? m['namespace'] : namespace,
    revision: Number(m['revision']),
    status: String(m['status'] ?? ''),
    chart: String(m['chart']),
    version: String(m['version']),
    appVersion: typeof m['appVersion'] === 'string' ? m['appVersion'] : undefined,
    annotations: (m['annotations'] as Record<string, string> | undefined) ?? {},
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.replace(/^Error:\s*/, '') ?? '';
}
