/**
 * The composition root: reads the environment Helm hands a plugin once, and builds the adapters the
 * core works with. Nothing else reads process.env.
 */
import { createHelm, releaseStorage } from '../adapters/helm.js';
import { createHelmStorage } from '../adapters/helm-storage.js';
import { createKubeApi, resolveKubeConnection, runExecPlugin, type KubeApi } from '../adapters/kube-api.js';
import { withKubeApi } from '../adapters/kube-api-kubectl.js';
import { helmMajorCache } from '../adapters/helm-version-cache.js';
import { withCachedChartReads } from '../adapters/cached-chart-reads.js';
import { createKubectl } from '../adapters/kubectl.js';
import { withWorkloadPrefetch } from '../adapters/workload-prefetch.js';
import { createPortForwarder } from '../adapters/port-forward.js';
import { createPostgresConnector } from '../adapters/postgres.js';
import { DATABASE_URL_ENV } from '../core/database-url.js';
import type { DatabaseConnector, DiscoveryCachePort, Log, RunRecordPort, ToolRegistry } from '../core/ports.js';
import { createRunRecords } from '../adapters/run-records.js';
import { createSnapshotRecords } from '../adapters/snapshot-records.js';
import { createCapturedSources } from '../adapters/captured-sources.js';
import type { CapturedSourcePort } from '../core/capture.js';
import { createDatabasePod } from '../adapters/db-pod.js';
import type { DatabasePodPort, SnapshotRecordPort } from '../core/snapshot.js';
import { hostname, userInfo } from 'node:os';
import { printable, Redactor } from '../core/redact.js';
import { createDiscoveryCache, helmSettings } from '../adapters/helm-cache.js';
import { getTool } from '../tools/index.js';
import { locateTables } from '../tools/sql.js';
import type { ColorFlag } from './progress.js';

export interface GlobalFlags {
  debug?: boolean;
  namespace?: string;
  /** --database-url (status, rollback): a secret the moment it is read. */
  databaseUrl?: string;
  /** --color never|auto|always (Helm 4 passes its own on to plugins); --no-color is never. */
  color?: ColorFlag;
}

export interface Context {
  helm: ReturnType<typeof createHelm>;
  kube: ReturnType<typeof createKubectl>;
  connector: DatabaseConnector;
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
  /** The run record of each release's rollback, as a ConfigMap beside the release. */
  runRecords: RunRecordPort;
  /** USER@HOST (pid N): who a run record says holds a rollback. */
  holder: string;
  /** Forward-only schemas: the snapshots' records beside the release, and pg_dump/psql in the database's pod. */
  snapshots: SnapshotRecordPort;
  dbPod: DatabasePodPort;
  /** Down files captured beside the release, per chart version (Secrets). */
  capturedSources: CapturedSourcePort;
}

/**
 * `secrets` is the run's Redactor (CommandIo.secrets, which masks what is written to `stderr` and
 * stdout): every secret an adapter reads is added to it.
 */
export function createContext(flags: GlobalFlags, env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream, secrets: Redactor = new Redactor()): Context {
  // Helm strips --debug and -n from a plugin's argv and passes HELM_DEBUG / HELM_NAMESPACE instead;
  // the flags exist for running the binary outside Helm.
  const debug = flags.debug === true || env['HELM_DEBUG'] === 'true';
  const namespace = namespaceFrom(flags.namespace, env);
  const log: Log = { debug: (message) => debug && stderr.write(`debug: ${printable(message)}\n`) };
  const urlFromEnv = env[DATABASE_URL_ENV] || undefined;
  for (const url of [flags.databaseUrl, urlFromEnv]) if (url) secrets.add(url);
  if (flags.databaseUrl && hasPassword(flags.databaseUrl)) {
    // Helm 4 with --debug logs a plugin's whole argv ("executing plugin command"), and ps shows it:
    // the plugin masks its own output but cannot reach those.
    stderr.write(`warning: --database-url carries a password, which shows in ps and in helm --debug's own "executing plugin command" line; set ${DATABASE_URL_ENV} instead\n`);
  }
  // Every URL a session is opened with (from a Secret, a $(VAR) expansion, a port-forward's local end) is a secret.
  const postgres = createPostgresConnector();
  const connector: DatabaseConnector = { connect: (url) => (secrets.add(url), postgres.connect(url)), prepare: () => postgres.prepare?.() };
  // A namespace given to the binary directly must reach child helm calls too.
  const childEnv = { ...env, HELM_NAMESPACE: namespace };
  const kubectl = env['SCHEMA_ROLLBACK_KUBECTL'] || 'kubectl';
  // Issue 12: the read-only helm and kubectl calls answered in process, over one kept-alive connection.
  const api = kubeApiFor(childEnv, log, secrets);
  // Issue 12: chart lookups answered from Helm's repository caches where they can be (helm otherwise).
  const helm = withCachedChartReads(helmFor(namespace, env, log, undefined, api), env, log);
  const kubectlAdapter = createKubectl({ bin: kubectl, namespace, env: childEnv, log, secrets });
  // Helm's settings (HELM_CACHE_HOME...): the plugin's environment when helm runs it, else one `helm env`.
  const helmSetting = helmSettings(env, (args) => helm.run(args));
  // Issue 12: a workload read with the Secrets and ConfigMaps it named last time, in one call.
  const kube = withWorkloadPrefetch(api ? withKubeApi(kubectlAdapter, api, { namespace, secrets }) : kubectlAdapter, { namespace, env: childEnv, log, helmSetting });
  return {
    helm,
    kube,
    // The record lives in the cluster, read by whoever may read ConfigMaps there: masked like the output.
    runRecords: createRunRecords(kube, namespace, (text) => secrets.redact(text)),
    holder: `${env['USER'] || safeUserName()}@${hostname()} (pid ${process.pid})`,
    snapshots: createSnapshotRecords(kube, namespace),
    capturedSources: createCapturedSources(kube, namespace),
    dbPod: createDatabasePod(kube, { bin: kubectl, namespace, env: childEnv, log, secrets }),
    connector,
    forwarder: createPortForwarder({ bin: kubectl, env: childEnv, log }),
    tools: { get: getTool, locateTables },
    discoveryCache: createDiscoveryCache(helmSetting, log),
    log,
    debug,
    namespace,
    databaseUrlFromEnv: urlFromEnv,
  };
}

/** The namespace Helm resolved (HELM_NAMESPACE), or -n when the binary runs outside Helm. */
export function namespaceFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag || env['HELM_NAMESPACE'] || 'default';
}

/**
 * helm as every command calls it: $HELM_BIN (helm from PATH outside Helm), acting in `namespace`.
 * With `api`, the release reads come from Helm's storage (secrets and configmaps drivers).
 */
export function helmFor(namespace: string, env: NodeJS.ProcessEnv, log: Log, deadline?: number, api?: KubeApi): ReturnType<typeof createHelm> {
  const driver = releaseStorage(env['HELM_DRIVER']);
  const storage = api && driver ? createHelmStorage(api, namespace, driver) : undefined;
  const bin = env['HELM_BIN'] || 'helm';
  // A namespace given to the binary directly must reach child helm calls too.
  const helm = createHelm({ bin, namespace, env: { ...env, HELM_NAMESPACE: namespace }, log, deadline, storage, majorCache: helmMajorCache(bin, helmSettings(env, (args) => helm.run(args)), log) });
  return helm;
}

/**
 * The in-process Kubernetes API client for the connection kubectl would make, or undefined (kubectl
 * and helm for the whole run) when the kubeconfig asks for what it does not do, or HSR_KUBE_CLIENT=kubectl.
 */
export function kubeApiFor(env: NodeJS.ProcessEnv, log: Log, secrets?: Redactor): KubeApi | undefined {
  const resolved = resolveKubeConnection(env);
  if ('fallback' in resolved) {
    log.debug(`kube-api: not used, kubectl and helm answer every Kubernetes call: ${resolved.fallback}`);
    return undefined;
  }
  // The kubeconfig's credentials are secrets like any other the run reads: masked wherever they might show.
  const auth = resolved.connection.auth;
  if (auth.type === 'token') secrets?.add(auth.token);
  if (auth.type === 'basic' && auth.password) secrets?.add(auth.password);
  log.debug(`kube-api: context ${resolved.connection.context}, ${resolved.connection.auth.type} auth`);
  return createKubeApi(resolved.connection, log, (exec, info) => runExecPlugin(exec, info, env));
}

export function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return /:\/\/[^/@\s]*:[^/@\s]+@/.test(url);
  }
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
