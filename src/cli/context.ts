/**
 * The composition root: reads the environment Helm hands a plugin once, and builds the adapters the
 * core works with. Nothing else reads process.env.
 */
import { createHelm } from '../adapters/helm.js';
import { createKubectl } from '../adapters/kubectl.js';
import { createPortForwarder } from '../adapters/port-forward.js';
import { createPostgresConnector } from '../adapters/postgres.js';
import { DATABASE_URL_ENV } from '../core/database-url.js';
import type { DiscoveryCachePort, Log, ToolRegistry } from '../core/ports.js';
import { createDiscoveryCache, helmSettings } from '../adapters/helm-cache.js';
import { getTool } from '../tools/index.js';

export interface GlobalFlags {
  debug?: boolean;
  namespace?: string;
}

export interface Context {
  helm: ReturnType<typeof createHelm>;
  kube: ReturnType<typeof createKubectl>;
  connector: ReturnType<typeof createPostgresConnector>;
  /** kubectl port-forward, for databases that answer only inside the cluster. */
  forwarder: ReturnType<typeof createPortForwarder>;
  tools: ToolRegistry;
  /** Revisions discovered in chart versions' images, kept under $HELM_CACHE_HOME. */
  discoveryCache: DiscoveryCachePort;
  log: Log;
  debug: boolean;
  namespace: string;
  /** $SCHEMA_ROLLBACK_DATABASE_URL */
  databaseUrlFromEnv?: string;
}

export function createContext(flags: GlobalFlags, env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream): Context {
  // Helm strips --debug and -n from a plugin's argv and passes HELM_DEBUG / HELM_NAMESPACE instead;
  // the flags exist for running the binary outside Helm.
  const debug = flags.debug === true || env['HELM_DEBUG'] === 'true';
  const namespace = flags.namespace || env['HELM_NAMESPACE'] || 'default';
  const log: Log = { debug: (message) => debug && stderr.write(`debug: ${message}\n`) };
  // A namespace given to the binary directly must reach child helm calls too.
  const childEnv = { ...env, HELM_NAMESPACE: namespace };
  const kubectl = env['SCHEMA_ROLLBACK_KUBECTL'] || 'kubectl';
  const helm = createHelm({ bin: env['HELM_BIN'] || 'helm', namespace, env: childEnv, log });
  return {
    helm,
    kube: createKubectl({ bin: kubectl, namespace, env: childEnv, log }),
    connector: createPostgresConnector(),
    forwarder: createPortForwarder({ bin: kubectl, env: childEnv, log }),
    tools: { get: getTool },
    discoveryCache: createDiscoveryCache(helmSettings(env, (args) => helm.run(args)), log),
    log,
    debug,
    namespace,
    databaseUrlFromEnv: env[DATABASE_URL_ENV] || undefined,
  };
}
