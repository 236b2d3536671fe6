/**
 * The major version of the helm binary, remembered per binary (issue 12: `helm version` is a
 * 50-100 ms process, and the hand-off's dry run, the plan's slowest read, waited on it every time).
 * Kept in $HELM_CACHE_HOME/schema-rollback/helm-version/, keyed by the binary's real path, inode,
 * size and modification time: a helm upgraded or replaced in place is a new key, asked again.
 * A binary given by name only (found on PATH) is not remembered.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../core/ports.js';
import { pluginCacheDir, readCachedJson, writeCachedJson } from './helm-cache.js';
import { sha256Hex } from './lazy-builtins.js';

export interface HelmMajorCache {
  get(): Promise<number | undefined>;
  set(major: number): Promise<void>;
}

export function helmMajorCache(bin: string, setting: (name: string) => Promise<string>, log: Log): HelmMajorCache | undefined {
  if (!path.isAbsolute(bin)) return undefined;
  // Asked only when the major is: outside Helm, finding the cache directory may run `helm env`.
  let entry: Promise<{ key: string; file: string } | undefined> | undefined;
  const locate = () =>
    (entry ??= (async () => {
      const real = await realpath(bin);
      const s = await stat(real);
      const key = [real, s.ino, s.size, s.mtimeMs].join('\0');
      return { key, file: path.join(await pluginCacheDir(setting, 'helm-version'), `${sha256Hex(key)}.json`) };
    })().catch(() => undefined));
  return {
    async get() {
      const e = await locate();
      if (!e) return undefined;
      const cached = await readCachedJson<{ key?: string; major?: unknown }>(e.file);
      return cached?.key === e.key && typeof cached.major === 'number' ? cached.major : undefined;
    },
    async set(major) {
      const e = await locate();
      if (e) await writeCachedJson(e.file, { key: e.key, major }, log);
    },
  };
}
