/**
 * `kubectl port-forward`, for a database that answers only inside the cluster. kubectl runs with the
 * same connection flags as every other kubectl call (Helm's context, API server, token, ...), listens
 * on 127.0.0.1 at a port it picks (`:PORT`), and is stopped when the command is done. Logged as argv
 * only; what it prints names pods and ports, never the database URL, which it never sees.
 */
import { ClusterError, DatabaseUnreachableError, ExitCode, RollbackError } from '../core/errors.js';
import type { ForwardTarget, Log, PortForwardPort, Tunnel } from '../core/ports.js';
import { startCommand } from './command.js';
import { kubectlConnectionArgs } from './kubectl.js';

export interface PortForwarderOptions {
  /** $SCHEMA_ROLLBACK_KUBECTL, or "kubectl" from PATH. */
  bin: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  /** How long kubectl may take to find a running pod and listen. Default 30 s. */
  readyTimeoutMs?: number;
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** kubectl prints this once per address it listens on, before any connection is forwarded. */
const READY = /^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/;

/** kubectl's arguments after the connection flags. The port is the Service's (kubectl maps it to the pod's targetPort). */
export function portForwardArgs(target: ForwardTarget, podRunningTimeoutSeconds: number): string[] {
  return [
    '--namespace', target.namespace, 'port-forward', target.resource, `:${target.port}`,
    '--address', '127.0.0.1', `--pod-running-timeout=${podRunningTimeoutSeconds}s`,
  ];
}

/** The message of one of kubectl's stderr lines: klog's `err="..."` when there is one, else the line. */
export function kubectlComplaint(line: string): string {
  const err = /\berr="((?:[^"\\]|\\.)*)"/.exec(line);
  return (err ? err[1]!.replace(/\\"/g, '"') : line.replace(/^error:\s*/i, '')).trim();
}

export function createPortForwarder(opts: PortForwarderOptions): PortForwardPort {
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  return {
    async open(target: ForwardTarget): Promise<Tunnel> {
      const what = `kubectl port-forward to ${target.resource} port ${target.port} (namespace ${target.namespace})`;
      const argv = [...kubectlConnectionArgs(opts.env), ...portForwardArgs(target, Math.max(1, Math.floor((readyTimeoutMs * 2) / 3000)))];
      let last: string | undefined;
      let onReady: (port: number) => void = () => undefined;
      const ready = new Promise<number>((resolve) => (onReady = resolve));
      const command = await startCommand(opts.bin, argv, {
        env: opts.env,
        log: opts.log,
        onStdout: (line) => {
          const m = READY.exec(line);
          if (m) onReady(Number(m[1]));
        },
        onStderr: (line) => {
          if (line.trim() === '') return;
          last = kubectlComplaint(line);
          opts.log.debug(`kubectl port-forward: ${last}`);
        },
      });
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        ready.then((port) => ({ kind: 'ready' as const, port })),
        command.ended.then((end) => ({ kind: 'ended' as const, end })),
        new Promise<{ kind: 'timeout' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'timeout' }), readyTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (outcome.kind === 'ready') {
        opts.log.debug(`${what}: listening on 127.0.0.1:${outcome.port}`);
        let stopped = false;
        void command.ended.then((end) => {
          if (!stopped) opts.log.debug(`${what} ended (exit ${end.exitCode ?? end.signal})${last ? `: ${last}` : ''}`);
        });
        return {
          localPort: outcome.port,
          lastError: () => last,
          async close() {
            stopped = true;
            await command.stop();
          },
        };
      }
      await command.stop();
      if (outcome.kind === 'timeout') {
        throw new DatabaseUnreachableError(`${what} did not start listening within ${readyTimeoutMs / 1000} s${last ? `: ${last}` : ''}`, {
          hint: `check that ${target.resource} has a running pod: kubectl -n ${target.namespace} get ${target.resource}`,
        });
      }
      if (outcome.end.spawnError) {
        throw new RollbackError(ExitCode.commandFailed, `cannot run kubectl (${opts.bin}): ${outcome.end.spawnError}`, {
          hint: 'install kubectl on PATH, or set SCHEMA_ROLLBACK_KUBECTL to its path',
        });
      }
      const why = last ?? `kubectl exited ${outcome.end.exitCode ?? outcome.end.signal}`;
      if (/Unable to connect to the server|no such host|i\/o timeout|context .* does not exist/i.test(why)) {
        throw new ClusterError(`${what}: kubectl cannot reach the cluster: ${why}`, {
          hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
        });
      }
      throw new DatabaseUnreachableError(`${what} failed: ${why}`, {
        hint: `check the Service or pod and its port: kubectl -n ${target.namespace} get ${target.resource}; name another with --port-forward-target TYPE/NAME:PORT`,
      });
    },
  };
}
