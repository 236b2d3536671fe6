/**
 * Kubernetes, through kubectl. kubectl ignores Helm's HELM_* variables, so the connection settings
 * Helm resolved (context, namespace, API server, token, ...) are turned into kubectl flags here, in
 * one place, for every call.
 */
import { ClusterError, CommandFailedError, ExitCode, RollbackError } from '../core/errors.js';
import type { KubeObject, KubePort, Log } from '../core/ports.js';
import { maskArgv, runCommand } from './command.js';

export interface KubectlOptions {
  /** $SCHEMA_ROLLBACK_KUBECTL, or "kubectl" from PATH. */
  bin: string;
  namespace: string;
  env: NodeJS.ProcessEnv;
  log: Log;
}

export interface Kubectl extends KubePort {
  run(args: string[], input?: string): Promise<string>;
}

/**
 * kubectl flags for the connection settings Helm passes to plugins as environment variables
 * (`helm --kube-context`, `--kube-token`, ...). Empty values are Helm's "not set".
 */
export function kubectlConnectionArgs(env: NodeJS.ProcessEnv): string[] {
  const pairs: Array<[string, string]> = [
    ['HELM_KUBECONTEXT', '--context'],
    ['HELM_KUBEAPISERVER', '--server'],
    ['HELM_KUBETOKEN', '--token'],
    ['HELM_KUBEASUSER', '--as'],
    ['HELM_KUBECAFILE', '--certificate-authority'],
    ['HELM_KUBETLS_SERVER_NAME', '--tls-server-name'],
  ];
  const args: string[] = [];
  for (const [name, flag] of pairs) {
    const value = env[name];
    if (value) args.push(flag, value);
  }
  for (const group of (env['HELM_KUBEASGROUPS'] ?? '').split(',').filter(Boolean)) args.push('--as-group', group);
  if (env['HELM_KUBEINSECURE_SKIP_TLS_VERIFY'] === 'true') args.push('--insecure-skip-tls-verify=true');
  return args;
}

export function createKubectl(opts: KubectlOptions): Kubectl {
  const connection = kubectlConnectionArgs(opts.env);
  const run = async (args: string[], input?: string): Promise<string> => {
    const argv = [...connection, '--namespace', opts.namespace, ...args];
    const result = await runCommand(opts.bin, argv, { env: opts.env, log: opts.log, input });
    if (result.spawnError) {
      throw new RollbackError(ExitCode.commandFailed, `cannot run kubectl (${opts.bin}): ${result.spawnError}`, {
        hint: 'install kubectl on PATH, or set SCHEMA_ROLLBACK_KUBECTL to its path',
      });
    }
    if (result.exitCode !== 0) throw kubectlError([opts.bin, ...argv], result.exitCode, result.stderr, opts.namespace);
    return result.stdout;
  };
  return {
    run,
    async get(kind, name) {
      return JSON.parse(await run(['get', kind, name, '-o', 'json'])) as KubeObject;
    },
  };
}

function kubectlError(argv: string[], exitCode: number | undefined, stderr: string, namespace: string): RollbackError {
  const notFound = /Error from server \(NotFound\): (.*)/.exec(stderr);
  if (notFound) {
    return new ClusterError(`${notFound[1]!.trim()} (namespace "${namespace}")`, {
      hint: 'check the name in the chart annotations or flags (schema-rollback.io/workload, --workload) and the namespace (-n)',
    });
  }
  if (/Unable to connect to the server|connection refused|no such host|i\/o timeout|context .* does not exist/i.test(stderr)) {
    return new ClusterError(`kubectl cannot reach the cluster: ${stderr.trim().split('\n').pop()}`, {
      hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
    });
  }
  return new CommandFailedError(maskArgv(argv), exitCode, stderr);
}
