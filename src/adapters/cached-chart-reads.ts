/**
 * The plan's two chart lookups without a helm process where Helm's own caches already answer them
 * (issue 12: `helm search repo` and `helm show chart`, one after the other, were ~190 ms of a
 * kagent plan's critical path, each helm parsing every repository index):
 *
 * - findChartRef(name): the repositories of $HELM_REPOSITORY_CONFIG, each one's cached index
 *   ($HELM_REPOSITORY_CACHE/NAME-index.yaml, the file `helm search repo` reads); answered when
 *   exactly one repository has a chart of that name.
 * - showChart(repo/chart, version): the index entry of exactly that version, then the Chart.yaml
 *   kept under its package digest ($HELM_CACHE_HOME/schema-rollback/charts/DIGEST.json, what
 *   `revisions` and an earlier plan read from the package itself). A digest names one package's
 *   bytes, so a hit is the package's own Chart.yaml.
 *
 * Anything else (no repository file, an index that cannot be read, no or several matches, a version
 * range, a chart directory, oci://, a cache miss) is asked of helm as before, so its answers and
 * errors are unchanged; a miss answered by helm is remembered under the digest for the next plan.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ChartInfo, ChartPort, Log } from '../core/ports.js';
import { helmSettings, readCachedJson, writeCachedJson } from './helm-cache.js';
import { chartRefKind } from './helm.js';
import { chartCacheFile, indexEntries, type RepoEntry } from './published-charts.js';

type ChartLookups = Pick<ChartPort, 'findChartRef' | 'showChart'>;

export function withCachedChartReads<H extends ChartLookups & { run(args: string[]): Promise<string> }>(helm: H, env: NodeJS.ProcessEnv, log: Log): H {
  const setting = helmSettings(env, (args) => helm.run(args));
  const indexes = new Map<string, Promise<Record<string, RepoEntry[]> | undefined>>();
  /** One repository's slimmed index, read once per process; undefined when it cannot be read. */
  const index = (repo: string) => {
    let entries = indexes.get(repo);
    if (!entries) {
      entries = (async () => {
        const file = path.join(await setting('HELM_REPOSITORY_CACHE'), `${repo}-index.yaml`);
        return indexEntries(setting, await readFile(file, 'utf8'), file, log);
      })().catch((err: unknown) => {
        log.debug(`chart cache: index of ${repo} not read (${(err as Error).message.split('\n')[0]}); asking helm`);
        return undefined;
      });
      indexes.set(repo, entries);
    }
    return entries;
  };
  const repositories = async (): Promise<string[] | undefined> => {
    try {
      const doc = parseYaml(await readFile(await setting('HELM_REPOSITORY_CONFIG'), 'utf8')) as { repositories?: Array<{ name?: unknown }> } | null;
      const names = (doc?.repositories ?? []).map((r) => r.name).filter((n): n is string => typeof n === 'string' && n !== '');
      return names.length > 0 ? names : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    ...helm,
    async findChartRef(chartName) {
      const repos = await repositories();
      const found = repos && (await Promise.all(repos.map(async (r) => ({ repo: r, entries: await index(r) }))));
      // Only a complete answer is given here: one unreadable index and helm decides, as it would.
      if (found && found.every((f) => f.entries)) {
        const having = found.filter((f) => (f.entries![chartName] ?? []).length > 0);
        if (having.length === 1) {
          log.debug(`chart cache: ${chartName} is ${having[0]!.repo}/${chartName} (repository indexes)`);
          return `${having[0]!.repo}/${chartName}`;
        }
      }
      return helm.findChartRef(chartName);
    },
    async showChart(ref, version) {
      // helm takes a path that exists (a directory named repo/chart) before a repository's chart.
      const entry = chartRefKind(ref) === 'repo' && !existsSync(ref) ? await indexEntry(ref, version) : undefined;
      const file = await chartCacheFile(setting, entry?.digest).catch(() => undefined);
      if (file) {
        const hit = await readCachedJson<ChartInfo>(file);
        if (hit && hit.version === version && typeof hit.name === 'string' && hit.annotations && typeof hit.annotations === 'object') {
          log.debug(`chart cache: ${ref} ${version} from ${file}`);
          return hit;
        }
      }
      const chart = await helm.showChart(ref, version);
      if (file && chart.version === version) await writeCachedJson(file, chart, log);
      return chart;
    },
  };

  /** The index entry of exactly this version (a range or a missing version: none, helm resolves it). */
  async function indexEntry(ref: string, version: string): Promise<RepoEntry | undefined> {
    const [repo, chart] = ref.split('/') as [string, string];
    return (await index(repo))?.[chart]?.find((e) => e.version === version);
  }
}
