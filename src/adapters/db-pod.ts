/**
 * PostgreSQL's own client programs in the database's pod, through `kubectl exec -i`: the snapshot
 * and restore of a forward-only schema (src/core/snapshot.ts). The script is argv (it holds no
 * secret); the URLs go on stdin.
 */
import { ClusterError, ExitCode, RollbackError } from '../core/errors.js';
import type { DatabasePodPort } from '../core/snapshot.js';
import { streamCommand } from './command.js';
import { kubectlConnectionArgs, type Kubectl, type KubectlOptions } from './kubectl.js';

export function createDatabasePod(kube: Pick<Kubectl, 'get' | 'run'>, opts: KubectlOptions): DatabasePodPort {
  const connection = kubectlConnectionArgs(opts.env);
  return {
    async podBehindService(service) {
      const labels = ((await kube.get('service', service)).spec as { selector?: Record<string, string> } | undefined)?.selector;
      if (!labels || Object.keys(labels).length === 0) {
        throw new ClusterError(`service ${service} has no selector to find the database's pod by`, { hint: 'name the pod with --db-pod' });
      }
      const text = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
      const pods = JSON.parse(await kube.run(['get', 'pods', '-l', text, '--field-selector=status.phase=Running', '-o', 'json'])) as { items?: Array<{ metadata: { name: string } }> };
      const names = (pods.items ?? []).map((p) => p.metadata.name).sort();
      // A primary/replica pair (CloudNativePG, Bitnami) behind one Service: a restore must reach the primary.
      if (names.length !== 1) {
        throw new ClusterError(`service ${service} selects ${names.length === 0 ? 'no Running pod' : `${names.length} Running pods (${names.join(', ')})`}`, {
          hint: 'name the database\'s primary pod with --db-pod',
        });
      }
      return names[0]!;
    },
    async runScript(pod, container, script, input, onLine) {
      const args = [...connection, '--namespace', opts.namespace, 'exec', '-i', pod, ...(container ? ['-c', container] : []), '--', 'sh', '-c', script];
      const result = await streamCommand(opts.bin, args, { env: opts.env, log: opts.log, from: 'all', onLine, input });
      if (result.spawnError) {
        throw new RollbackError(ExitCode.commandFailed, `cannot run kubectl (${opts.bin}): ${result.spawnError}`, { hint: 'install kubectl on PATH, or set SCHEMA_ROLLBACK_KUBECTL to its path' });
      }
      return result.exitCode ?? 1;
    },
  };
}
