/**
 * The kubeconfig tests hand to helm and kubectl. Plain HTTP on loopback: no TLS flags needed,
 * and clients send the fake token without complaint.
 */
import { writeFileSync } from 'node:fs';

/** Context names, the same against the double and a real cluster (see test/harness/cluster.ts). */
export const CONTEXTS = {
  /** Current context, namespace "default". */
  main: 'double',
  /** Same server, namespace "other". */
  other: 'double-other',
  /** Nothing listens there: for "cluster unreachable" paths. */
  unreachable: 'unreachable',
} as const;

export const UNREACHABLE_SERVER = 'http://127.0.0.1:1';

export interface KubeconfigSource {
  /** `cluster:` block of the server under test (server, TLS data…). */
  cluster: Record<string, unknown>;
  /** `user:` block (token, client certificates…). */
  user: Record<string, unknown>;
}

/** Writes a kubeconfig with the three contexts of CONTEXTS. JSON is valid YAML, and keeps quoting trivial. */
export function writeKubeconfig(path: string, source: KubeconfigSource): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      { name: 'double', cluster: source.cluster },
      { name: 'unreachable', cluster: { server: UNREACHABLE_SERVER } },
    ],
    users: [{ name: 'double', user: source.user }],
    contexts: [
      { name: CONTEXTS.main, context: { cluster: 'double', user: 'double', namespace: 'default' } },
      { name: CONTEXTS.other, context: { cluster: 'double', user: 'double', namespace: 'other' } },
      { name: CONTEXTS.unreachable, context: { cluster: 'unreachable', user: 'double', namespace: 'default' } },
    ],
    'current-context': CONTEXTS.main,
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
