/**
 * The workload and the Secrets and ConfigMaps its containers name, in one kubectl call (issue 12:
 * the database URL cost two kubectl processes one after the other on the critical path of every
 * plan and every `status`: the workload, then the Secret its env names).
 *
 * Which objects a workload names is known only once it is read; so the names seen the last time
 * (names only, never data) are kept under $HELM_CACHE_HOME/schema-rollback/workload-refs/, keyed
 * by the cluster settings, namespace and workload, and the next read of that workload asks for
 * them in the same call. The live workload stays the truth: an object it names that was not read
 * with it is read as before, one read with it that it no longer names is never used. When the
 * joint call fails (an object gone or forbidden), the workload is read alone, and that workload is
 * not read jointly again until its names change.
 */
import path from 'node:path';
import type { KubeObject, KubePort, Log } from '../core/ports.js';
import { podContainers } from '../core/database-url.js';
import { pluginCacheDir, readCachedJson, writeCachedJson } from './helm-cache.js';
import type { Kubectl } from './kubectl.js';
import { sha256Hex } from './lazy-builtins.js';

/** Kinds whose pod template's env names Secrets and ConfigMaps (as resolveDatabaseUrl reads them). */
const WORKLOADS = new Set(['deployment', 'deployments', 'deploy', 'statefulset', 'statefulsets', 'sts', 'daemonset', 'daemonsets', 'ds']);
/** More than this many named objects are not read ahead: the joint read would fetch data nobody may need. */
const MAX_AHEAD = 4;

type Ref = { kind: 'secret' | 'configmap'; name: string };
interface Remembered {
  key: string;
  refs: Ref[];
  /** The joint read failed with these names: read the workload alone until they change. */
  alone?: boolean;
}

export interface WorkloadPrefetchOptions {
  namespace: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Helm's settings (HELM_CACHE_HOME: where the remembered names are kept), from helm's env. */
  helmSetting: (name: string) => Promise<string>;
}

export function withWorkloadPrefetch<K extends Pick<Kubectl, 'get' | 'getObjects'>>(kube: K, opts: WorkloadPrefetchOptions): K {
  const setting = opts.helmSetting;
  // The connection settings a cached name list is true for: another cluster, another list.
  const cluster = ['HELM_KUBECONTEXT', 'HELM_KUBEAPISERVER', 'HELM_KUBEASUSER', 'KUBECONFIG'].map((k) => opts.env[k] ?? '').join('\0');
  const fileOf = async (key: string) => path.join(await pluginCacheDir(setting, 'workload-refs'), `${sha256Hex(key)}.json`);
  /** Objects read with a workload, handed out once each to the read that asks for them. */
  const ahead = new Map<string, KubeObject>();
  /** A workload being read now: a second read at the same time shares it. */
  const inFlight = new Map<string, Promise<KubeObject>>();

  const readWorkload = async (kind: string, name: string): Promise<KubeObject> => {
    const key = `${cluster}\0${opts.namespace}\0${kind}/${name}`;
    const file = await fileOf(key).catch(() => undefined);
    const remembered = file ? await readCachedJson<Remembered>(file) : undefined;
    const refs = remembered?.key === key && !remembered.alone ? remembered.refs.slice(0, MAX_AHEAD) : [];
    let workload: KubeObject | undefined;
    let failedTogether = false;
    if (refs.length > 0) {
      try {
        const [first, ...rest] = await kube.getObjects([{ kind, name }, ...refs]);
        workload = first;
        rest.forEach((obj, i) => ahead.set(`${refs[i]!.kind}/${refs[i]!.name}`, obj));
        opts.log.debug(`kubectl: ${kind}/${name} read with ${refs.map((r) => `${r.kind}/${r.name}`).join(', ')}`);
      } catch (err) {
        failedTogether = true;
        opts.log.debug(`kubectl: ${kind}/${name} with the objects it named last time failed (${(err as Error).message.split('\n')[0]}); reading it alone`);
      }
    }
    workload ??= await kube.get(kind, name);
    const named = namedObjects(workload);
    const same = remembered?.key === key && sameRefs(remembered.refs, named);
    if (file && (!same || (failedTogether && !remembered?.alone))) {
      await writeCachedJson(file, { key, refs: named, ...(failedTogether && sameRefs(refs, named) ? { alone: true } : {}) } satisfies Remembered, opts.log);
    }
    return workload;
  };

  const get: KubePort['get'] = async (kind, name) => {
    const lower = kind.toLowerCase();
    if (lower === 'secret' || lower === 'configmap') {
      const held = ahead.get(`${lower}/${name}`);
      if (held) {
        ahead.delete(`${lower}/${name}`);
        return held;
      }
      return kube.get(kind, name);
    }
    if (!WORKLOADS.has(lower)) return kube.get(kind, name);
    const id = `${lower}/${name}`;
    let reading = inFlight.get(id);
    if (!reading) {
      reading = readWorkload(kind, name).finally(() => inFlight.delete(id));
      inFlight.set(id, reading);
    }
    return reading;
  };
  return { ...kube, get };
}

/** The Secrets and ConfigMaps a workload's containers name in env and envFrom, in the order written, once each. */
export function namedObjects(workload: KubeObject): Ref[] {
  const out: Ref[] = [];
  const add = (kind: Ref['kind'], name: string | undefined) => {
    if (name && !out.some((r) => r.kind === kind && r.name === name)) out.push({ kind, name });
  };
  for (const c of podContainers(workload)) {
    for (const e of c.env ?? []) {
      add('secret', e.valueFrom?.secretKeyRef?.name);
      add('configmap', e.valueFrom?.configMapKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      add('secret', e.secretRef?.name);
      add('configmap', e.configMapRef?.name);
    }
  }
  return out;
}

function sameRefs(a: readonly Ref[], b: readonly Ref[]): boolean {
  return a.length === b.length && a.every((r, i) => r.kind === b[i]!.kind && r.name === b[i]!.name);
}
