/**
 * The plugin's files under Helm's cache ($HELM_CACHE_HOME/schema-rollback/...): where they live, and
 * how one is read and written. Writes are atomic (a temporary file renamed over the old one), so a
 * crash or two plugins at once leave a whole file or none; a cache that cannot be read or written
 * is only slower, never wrong, so failures are logged under --debug and otherwise ignored.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import type { DiscoveryCachePort, Log } from '../core/ports.js';
import { randomHex, sha256Hex } from './lazy-builtins.js';

/** HELM_* paths: Helm gives them to plugins; outside Helm, `helm env` says them (asked once). */
export function helmSettings(env: NodeJS.ProcessEnv, runHelm: (args: string[]) => Promise<string>): (name: string) => Promise<string> {
  let helmEnv: Promise<Record<string, string>> | undefined;
  return async (name) => {
    const direct = env[name];
    if (direct) return direct;
    helmEnv ??= runHelm(['env']).then(parseHelmEnv);
    const value = (await helmEnv)[name];
    if (!value) throw new UsageError(`cannot tell ${name} (not set, and "helm env" does not say)`);
    return value;
  };
}

/** `helm env`: KEY="value" lines. */
export function parseHelmEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)="(.*)"$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** $HELM_CACHE_HOME/schema-rollback/SUB (~/.cache/helm when Helm cannot say). */
export async function pluginCacheDir(setting: (name: string) => Promise<string>, sub: string): Promise<string> {
  const home = await setting('HELM_CACHE_HOME').catch(() => path.join(os.homedir(), '.cache', 'helm'));
  return path.join(home, 'schema-rollback', sub);
}

/** A cached JSON value, or undefined when there is none (or it cannot be read). */
export async function readCachedJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function writeCachedJson(file: string, value: unknown, log: Log): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomHex(4)}.tmp`;
    await writeFile(temp, JSON.stringify(value));
    await rename(temp, file);
  } catch (err) {
    log.debug(`cache: cannot write ${file}: ${(err as Error).message}`);
  }
}

/**
 * Discovered target revisions ($HELM_CACHE_HOME/schema-rollback/discovered/SHA256(key).json). The
 * key names the chart version, track, image and command; the file repeats it, so a hash collision
 * or a stray file is a miss, not a wrong answer.
 */
export function createDiscoveryCache(setting: (name: string) => Promise<string>, log: Log): DiscoveryCachePort {
  const file = async (key: string) => path.join(await pluginCacheDir(setting, 'discovered'), `${sha256Hex(key)}.json`);
  return {
    async get(key) {
      const entry = await readCachedJson<{ key?: unknown; revision?: unknown }>(await file(key));
      return entry?.key === key && typeof entry.revision === 'string' ? entry.revision : undefined;
    },
    async set(key, revision) {
      await writeCachedJson(await file(key), { key, revision, discoveredAt: new Date().toISOString() }, log);
    },
  };
}
