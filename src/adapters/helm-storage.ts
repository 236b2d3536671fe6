/**
 * Helm's release reads answered from Helm's own storage through the in-process API client (issue
 * 12: `helm get metadata`, `get values --all`, `get manifest` and `history` were a helm process
 * each, 50-150 ms, on the critical path of every plan and status).
 *
 * Helm keeps each revision as a Secret (HELM_DRIVER unset or "secret", the default) or a ConfigMap
 * ("configmap") named sh.helm.release.v1.NAME.vN in the release's namespace, labelled owner=helm,
 * name=NAME; its data.release is base64 of the gzipped release JSON (a Secret's data adds its own
 * base64 on top). Helm's Storage.History lists them by that label selector; Last is the highest
 * version whatever its status, which is what `helm get` reads. The answers below are those of the
 * helm commands they replace (equivalence: test/kube/helm-storage.test.ts, both Helm majors). The
 * sql and memory drivers keep helm (see createHelm: this is used only for secrets and configmaps).
 */
import { gunzipSync } from 'node:zlib';
import { ReleaseNotFoundError } from '../core/errors.js';
import type { HelmPort, HelmUpgradePort, ReleaseInfo, ReleaseManifestPort } from '../core/ports.js';
import { coalesceValues, hasNestedNull } from './helm-coalesce.js';
import { manifestObject, manifestsFromYaml, releaseFromMetadata } from './helm.js';
import type { KubeApi } from './kube-api.js';

/** The fields of Helm's stored release this file reads (pkg/release Release, JSON). */
export interface StoredRelease {
  name: string;
  namespace: string;
  version: number;
  info?: { status?: string; last_deployed?: string };
  chart?: { metadata?: { name?: string; version?: string; appVersion?: string; annotations?: Record<string, string>; dependencies?: unknown[] }; values?: Record<string, unknown> | null };
  config?: Record<string, unknown> | null;
  manifest?: string;
  labels?: Record<string, string>;
  /** Helm 4: "ssa" or "csa". */
  apply_method?: string;
}

/** `helm history`'s default --max: older revisions are not listed. */
const HISTORY_MAX = 256;
const GZIP = [0x1f, 0x8b, 0x08];

/** data.release of a stored revision → the release (Helm's decodeRelease: base64, then gunzip when gzip's magic is there). */
export function decodeStoredRelease(kind: 'Secret' | 'ConfigMap', data: string): StoredRelease {
  const text = kind === 'Secret' ? Buffer.from(data, 'base64').toString('utf8') : data;
  let bytes = Buffer.from(text, 'base64');
  if (GZIP.every((b, i) => bytes[i] === b)) bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8')) as StoredRelease;
}

/** `helm get metadata -o json`, as releaseFromMetadata reads it. */
export function metadataOf(rel: StoredRelease): Record<string, unknown> {
  const meta = rel.chart?.metadata ?? {};
  return {
    name: rel.name,
    chart: meta.name ?? '',
    version: meta.version ?? '',
    // A Go string field: "" when the chart has none, as helm prints it.
    appVersion: meta.appVersion ?? '',
    ...(meta.annotations && Object.keys(meta.annotations).length > 0 ? { annotations: meta.annotations } : {}),
    namespace: rel.namespace,
    revision: rel.version,
    status: rel.info?.status ?? '',
    ...(rel.apply_method ? { applyMethod: rel.apply_method } : {}),
  };
}

export type HelmStorageReads = Pick<HelmPort, 'getRelease'> & Pick<ReleaseManifestPort, 'manifestObjects'> & Pick<HelmUpgradePort, 'deployedRelease'> & {
  /**
   * `helm get values --all`, or undefined when the answer depends on which Helm major asks (a null
   * below the top level of the values, helm-coalesce.ts): helm itself is asked then.
   */
  getValues(name: string): Promise<Record<string, unknown> | undefined>;
};

export function createHelmStorage(api: KubeApi, namespace: string, storage: 'secrets' | 'configmaps'): HelmStorageReads {
  const kind = storage === 'secrets' ? 'Secret' : 'ConfigMap';
  /** Every stored revision of the release, oldest first; ReleaseNotFoundError when there is none (helm: "release: not found"). */
  const history = async (name: string): Promise<StoredRelease[]> => {
    const selector = encodeURIComponent(`name=${name},owner=helm`);
    const list = await api.json<{ items?: Array<{ data?: Record<string, string> }> }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/${storage}?labelSelector=${selector}`, { namespace });
    const releases: StoredRelease[] = [];
    for (const item of list.items ?? []) {
      const data = item.data?.['release'];
      if (!data) continue;
      try {
        releases.push(decodeStoredRelease(kind, data));
      } catch {
        // Helm's Query skips a revision it cannot decode ("failed to decode release").
      }
    }
    if (releases.length === 0) throw new ReleaseNotFoundError(name, namespace);
    return releases.sort((a, b) => a.version - b.version);
  };
  /** Reads of the same release at the same time (a plan asks for metadata, values and manifest at once) share one list; none is kept after it answers. */
  const inFlight = new Map<string, Promise<StoredRelease[]>>();
  const revisions = (name: string): Promise<StoredRelease[]> => {
    let reading = inFlight.get(name);
    if (!reading) {
      reading = history(name).finally(() => inFlight.delete(name));
      inFlight.set(name, reading);
    }
    return reading;
  };
  const latest = async (name: string): Promise<StoredRelease> => (await revisions(name)).at(-1)!;
  return {
    async getRelease(name) {
      return releaseFromMetadata(metadataOf(await latest(name)), namespace);
    },
    async getValues(name) {
      const rel = await latest(name);
      if (hasNestedNull(rel.config) || hasNestedNull(rel.chart?.values)) return undefined;
      return coalesceValues(rel.chart?.values, rel.config);
    },
    async manifestObjects(name) {
      return manifestsFromYaml((await latest(name)).manifest ?? '').map(manifestObject);
    },
    async deployedRelease(name): Promise<ReleaseInfo | undefined> {
      const deployed = (await revisions(name)).slice(-HISTORY_MAX).filter((r) => r.info?.status === 'deployed').at(-1);
      return deployed ? releaseFromMetadata(metadataOf(deployed), namespace) : undefined;
    },
  };
}
