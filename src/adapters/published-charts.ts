/**
 * Every published version of a chart with its Chart.yaml annotations, fast: the runbook's way
 * (`helm show chart REPO/CHART --version V` once per version) loads the whole repository index and
 * downloads the package again for every version.
 *
 * Here, for a repo/chart: the repository index helm keeps (`helm repo add` / `helm repo update`
 * write $HELM_REPOSITORY_CACHE/NAME-index.yaml) lists the versions, each package's digest and, since
 * `helm repo index` copies every package's Chart.yaml metadata into its entry, each version's
 * annotations. When the caller accepts an entry's annotations (options.acceptIndexEntry), nothing
 * is fetched for it: no network at all, warm or cold. Otherwise (no schema-rollback.io annotation
 * in the entry, annotations the caller refuses, or no acceptIndexEntry: --from-packages) the
 * package is downloaded (in parallel, credentials and CA of $HELM_REPOSITORY_CONFIG honoured as
 * helm does), checked against that digest, and Chart.yaml is read from it. What a package said is
 * kept under $HELM_CACHE_HOME/schema-rollback/charts/DIGEST.json: a digest names one package's
 * bytes, so the cache is correct for as long as it exists (a plan's chart read trusts it as the
 * package's own Chart.yaml: only package reads are written there). A version whose package cannot
 * be downloaded this way falls back to `helm show chart`.
 *
 * For an oci:// chart: the registry's tag list, then per tag the manifest digest (the cache key)
 * and the config blob, which is the chart's Chart.yaml as JSON (no package download at all).
 */
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type https from 'node:https';
import path from 'node:path';
import semver from 'semver';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../core/errors.js';
import { hasContract, PREFIX } from '../core/contract.js';
import type { ChartInfo, ChartPort, Log, PublishedChart, PublishedChartsPort, PublishedChartsReadOptions } from '../core/ports.js';
import { helmSettings, pluginCacheDir, readCachedJson, writeCachedJson } from './helm-cache.js';
import { mapLimit } from './map-limit.js';
import { chartFromYaml, chartRefKind } from './helm.js';
import { http as lazyHttp, https as lazyHttps, sha256Hex } from './lazy-builtins.js';

export interface PublishedChartsOptions {
  helm: ChartPort & { run(args: string[]): Promise<string> };
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Parallel downloads. Default 16. */
  concurrency?: number;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
  /** OCI registries over plain HTTP (helm's --plain-http), e.g. a registry on localhost. */
  plainHttp?: boolean;
}

export interface RepoEntry {
  name?: string;
  version?: string;
  appVersion?: string;
  digest?: string;
  urls?: string[];
  /** The entry's schema-rollback.io/ annotations only (the slimmed index keeps no others). */
  annotations?: Record<string, string>;
}

interface RepoConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  insecure_skip_tls_verify?: boolean;
  pass_credentials_all?: boolean;
}

/** What a cache file holds. */
interface CachedChart {
  name: string;
  version: string;
  appVersion?: string;
  annotations: Record<string, string>;
}

export function createPublishedCharts(opts: PublishedChartsOptions): PublishedChartsPort {
  const setting = helmSettings(opts.env, (args) => opts.helm.run(args));
  const limit = opts.concurrency ?? 16;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  const cached = async (digest: string | undefined): Promise<CachedChart | undefined> => {
    const file = await chartCacheFile(setting, digest);
    return file ? readCachedJson<CachedChart>(file) : undefined;
  };
  const remember = async (digest: string | undefined, chart: CachedChart): Promise<void> => {
    const file = await chartCacheFile(setting, digest);
    if (file) await writeCachedJson(file, chart, opts.log);
  };

  async function fromRepo(ref: string, wanted: (v: string) => boolean, options: PublishedChartsReadOptions): Promise<PublishedChart[]> {
    const [repoName, chartName] = ref.split('/') as [string, string];
    const indexFile = path.join(await setting('HELM_REPOSITORY_CACHE'), `${repoName}-index.yaml`);
    let text: string;
    try {
      text = await readFile(indexFile, 'utf8');
    } catch {
      throw new UsageError(`no index for chart repository ${repoName} (${indexFile})`, { hint: `add the repository ("helm repo add ${repoName} URL") or refresh it ("helm repo update ${repoName}")` });
    }
    const index = await indexEntries(setting, text, indexFile, opts.log);
    const entries = (index[chartName] ?? []).filter((e) => typeof e.version === 'string' && wanted(e.version));
    if (!index[chartName]) {
      throw new UsageError(`repository ${repoName} has no chart ${chartName}`, { hint: `check the name with "helm search repo ${repoName}/", or run "helm repo update ${repoName}"` });
    }
    // Read only when a package is: a warm or index-only run needs no credentials.
    let repo: Promise<RepoConfig | undefined> | undefined;
    const repoOnce = () => (repo ??= setting('HELM_REPOSITORY_CONFIG').then((file) => repoConfig(file, repoName), () => undefined));
    const fromIndex = (entry: RepoEntry): PublishedChart | undefined => {
      const annotations = entry.annotations ?? {};
      if (!options.acceptIndexEntry || !hasContract(annotations) || !options.acceptIndexEntry({ version: entry.version!, annotations })) return undefined;
      return { name: chartName, version: entry.version!, ...(entry.appVersion === undefined ? {} : { appVersion: entry.appVersion }), annotations, digest: entry.digest, cached: true, source: 'index' };
    };
    const read = await mapLimit(entries, limit, async (entry): Promise<PublishedChart> => fromIndex(entry) ?? fromPackage(ref, chartName, entry, repoOnce));
    const packages = read.filter((c) => c.source === 'package').length;
    opts.log.debug(`revisions: ${entries.length} versions of ${ref} in ${indexFile}; ${entries.length - packages} read from the index, ${packages} from their packages`);
    return read;
  }

  /** One version's Chart.yaml from its package: the cache by digest, a download, or `helm show chart`. */
  async function fromPackage(ref: string, chartName: string, entry: RepoEntry, repo: () => Promise<RepoConfig | undefined>): Promise<PublishedChart> {
    const version = entry.version!;
    const hit = await cached(entry.digest);
    if (hit) return { ...hit, digest: entry.digest, cached: true, source: 'package' };
    try {
      const chart = await downloadChart(entry, await repo(), timeoutMs);
      await remember(entry.digest, chart);
      return { ...chart, digest: entry.digest, cached: false, source: 'package' };
    } catch (err) {
      opts.log.debug(`revisions: ${ref} ${version}: ${(err as Error).message}; asking helm`);
      try {
        const chart = await opts.helm.showChart(ref, version);
        await remember(entry.digest, chart);
        return { ...chart, digest: entry.digest, cached: false, source: 'package' };
      } catch (helmErr) {
        return { name: chartName, version, annotations: {}, digest: entry.digest, error: (helmErr as Error).message.split('\n')[0] };
      }
    }
  }

  async function fromOci(ref: string, wanted: (v: string) => boolean): Promise<PublishedChart[]> {
    const registry = await ociRegistry(ref, opts.plainHttp === true, timeoutMs, setting);
    const listed = await registry.tags().catch((err: Error) => {
      throw new UsageError(`cannot list the tags of ${ref}: ${err.message}`, {
        hint: 'check the reference and your login ("helm registry login HOST"); a registry without TLS needs --plain-http',
      });
    });
    const tags = listed.map((t) => ({ tag: t, version: t.replace(/_/g, '+') })).filter((t) => semver.valid(t.version) && wanted(t.version));
    return mapLimit(tags, limit, async ({ tag, version }): Promise<PublishedChart> => {
      try {
        const { digest, config } = await registry.manifest(tag);
        const hit = await cached(digest);
        if (hit) return { ...hit, digest, cached: true, source: 'package' };
        const meta = JSON.parse((await registry.blob(config)).toString('utf8')) as Record<string, unknown>;
        const chart = cachedFrom(meta);
        await remember(digest, chart);
        return { ...chart, digest, cached: false, source: 'package' };
      } catch (err) {
        return { name: path.posix.basename(ref), version, annotations: {}, error: (err as Error).message };
      }
    });
  }

  return {
    async publishedCharts(ref, wanted = () => true, options = {}) {
      const kind = chartRefKind(ref);
      let charts: PublishedChart[];
      if (kind === 'repo') charts = await fromRepo(ref, wanted, options);
      else if (kind === 'oci') charts = await fromOci(ref, wanted);
      else throw new UsageError(`cannot list the versions of ${ref}`, { hint: 'give a chart of a repository (repo/chart, after helm repo add) or an oci:// chart' });
      return charts.sort((a, b) => (semver.valid(a.version) && semver.valid(b.version) ? semver.rcompare(a.version, b.version) : a.version < b.version ? 1 : -1));
    },
  };
}

/**
 * The index's entries, slimmed to what the plugin reads (version, appVersion, digest, urls and the
 * schema-rollback.io/ annotations): parsing a large index.yaml is most of a warm run, so the slimmed
 * entries are kept too, keyed by the sha256 of the index's text (a `helm repo update` that changes
 * it changes the key) and by SLIM_FORMAT (what a slimmed entry holds).
 */
export async function indexEntries(setting: (name: string) => Promise<string>, text: string, where: string, log: Log): Promise<Record<string, RepoEntry[]>> {
  const key = sha256Hex(text);
  const file = path.join(await pluginCacheDir(setting, 'index'), `${key}.${SLIM_FORMAT}.json`);
  const hit = await readCachedJson<Record<string, RepoEntry[]>>(file);
  if (hit) return hit;
  const slim: Record<string, RepoEntry[]> = {};
  for (const [name, list] of Object.entries(parseIndex(text, where).entries ?? {})) {
    slim[name] = (Array.isArray(list) ? list : []).map((e) => ({
      version: e.version === undefined ? undefined : String(e.version),
      appVersion: e.appVersion === undefined || e.appVersion === null ? undefined : String(e.appVersion),
      digest: e.digest,
      urls: e.urls,
      annotations: ownAnnotations(e.annotations),
    }));
  }
  await writeCachedJson(file, slim, log);
  return slim;
}

/** Bumped whenever a slimmed entry holds something else, so an older plugin's file is never read as this one's. */
const SLIM_FORMAT = 'v2';

/** The schema-rollback.io/ annotations of an index entry, as strings (Helm's are map[string]string); undefined for none. */
function ownAnnotations(annotations: unknown): Record<string, string> | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const own = Object.entries(annotations as Record<string, unknown>).filter(([k]) => k.startsWith(PREFIX));
  return own.length > 0 ? Object.fromEntries(own.map(([k, v]) => [k, String(v)])) : undefined;
}

/** Where one package's Chart.yaml is kept once read: $HELM_CACHE_HOME/schema-rollback/charts/DIGEST.json; undefined for no or a malformed digest. */
export async function chartCacheFile(setting: (name: string) => Promise<string>, digest: string | undefined): Promise<string | undefined> {
  if (!digest || !/^(sha256:)?[0-9a-f]{64}$/.test(digest)) return undefined;
  return path.join(await pluginCacheDir(setting, 'charts'), `${digest.replace(/^sha256:/, '')}.json`);
}

function parseIndex(text: string, where: string): { entries?: Record<string, Array<Omit<RepoEntry, 'annotations'> & { annotations?: unknown }>> } {
  try {
    // Helm writes YAML; JSON (a subset) parses faster when a repository serves it.
    return (text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text, { maxAliasCount: -1 })) ?? {};
  } catch (err) {
    throw new UsageError(`${where} is not a readable repository index: ${(err as Error).message.split('\n')[0]}`, { hint: 'refresh it with "helm repo update"' });
  }
}

async function repoConfig(file: string, name: string): Promise<RepoConfig | undefined> {
  if (!file) return undefined;
  try {
    const doc = parseYaml(await readFile(file, 'utf8')) as { repositories?: RepoConfig[] } | null;
    return doc?.repositories?.find((r) => r.name === name);
  } catch {
    return undefined;
  }
}

function cachedFrom(meta: Record<string, unknown>): CachedChart {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries((meta['annotations'] as Record<string, unknown> | undefined) ?? {})) annotations[k] = String(v);
  return {
    name: String(meta['name'] ?? ''),
    version: String(meta['version'] ?? ''),
    ...(meta['appVersion'] === undefined ? {} : { appVersion: String(meta['appVersion']) }),
    annotations,
  };
}

/** Downloads one package, checks its digest, and reads its Chart.yaml. */
async function downloadChart(entry: RepoEntry, repo: RepoConfig | undefined, timeoutMs: number): Promise<CachedChart> {
  const first = entry.urls?.[0];
  if (!first) throw new Error('the index lists no URL for it');
  const base = repo?.url ? (repo.url.endsWith('/') ? repo.url : `${repo.url}/`) : undefined;
  const url = new URL(first, base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported URL scheme ${url.protocol}`);
  const headers: Record<string, string> = {};
  // Helm sends the repository's credentials only to its own host, unless pass_credentials_all.
  if (repo?.username !== undefined && (repo.pass_credentials_all || (base !== undefined && new URL(base).host === url.host))) {
    headers['Authorization'] = `Basic ${Buffer.from(`${repo.username}:${repo.password ?? ''}`).toString('base64')}`;
  }
  const tls: https.RequestOptions = {};
  if (repo?.caFile) tls.ca = await readFile(repo.caFile);
  if (repo?.certFile) tls.cert = await readFile(repo.certFile);
  if (repo?.keyFile) tls.key = await readFile(repo.keyFile);
  if (repo?.insecure_skip_tls_verify) tls.rejectUnauthorized = false;
  const body = await get(url, { headers, ...tls }, timeoutMs);
  if (entry.digest) {
    const sum = sha256Hex(body);
    if (sum !== entry.digest.replace(/^sha256:/, '')) throw new Error(`the package's sha256 ${sum} is not the index's digest ${entry.digest}`);
  }
  const { readTarball } = await import('./tar.js');
  const files = readTarball(body, (why) => new Error(`broken chart package (${why})`));
  const chartYaml = files.find((f) => f.type === 'file' && /^[^/]+\/Chart\.yaml$/.test(f.path.replace(/^\.\//, '')));
  if (!chartYaml) throw new Error('the package holds no Chart.yaml');
  const chart: ChartInfo = chartFromYaml(chartYaml.data.toString('utf8'));
  if (entry.version && chart.version !== entry.version) throw new Error(`the package is version ${chart.version}, the index says ${entry.version}`);
  return { name: chart.name, version: chart.version, ...(chart.appVersion === undefined ? {} : { appVersion: chart.appVersion }), annotations: chart.annotations };
}

/**
 * node:http or node:https, loaded when a request is made: a run that reads every contract from the
 * index or the cache makes none, and loading them (TLS, zlib for packages) was ~20 ms of start-up.
 */
function httpClient(url: URL): typeof http | typeof https {
  return url.protocol === 'https:' ? lazyHttps() : lazyHttp();
}

/** One GET, following redirects; resolves the body of a 200. */
async function get(url: URL, options: https.RequestOptions, timeoutMs: number, redirects = 5): Promise<Buffer> {
  const client = httpClient(url);
  return new Promise((resolve, reject) => {
    const request = client.get(url, { ...options, timeout: timeoutMs }, (response) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location !== undefined && redirects > 0) {
        response.resume();
        const next = new URL(location, url);
        // Credentials do not follow a redirect to another host.
        const headers = next.host === url.host ? options.headers : {};
        return resolve(get(next, { ...options, headers }, timeoutMs, redirects - 1));
      }
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => (status === 200 ? resolve(Buffer.concat(chunks)) : reject(Object.assign(new Error(`HTTP ${status} from ${url.host}${url.pathname}`), { status, headers: response.headers }))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// OCI registries (the distribution API: tags/list, manifests, blobs), with helm's registry logins

interface OciRegistry {
  tags(): Promise<string[]>;
  manifest(tag: string): Promise<{ digest: string; config: string }>;
  blob(digest: string): Promise<Buffer>;
}

const HELM_CONFIG_MEDIA_TYPE = 'application/vnd.cncf.helm.config.v1+json';

async function ociRegistry(ref: string, plainHttp: boolean, timeoutMs: number, setting: (name: string) => Promise<string>): Promise<OciRegistry> {
  const rest = ref.slice('oci://'.length).replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  if (slash < 0) throw new UsageError(`${ref} names no repository`, { hint: 'oci://REGISTRY/PATH/CHART' });
  const host = rest.slice(0, slash);
  const repository = rest.slice(slash + 1);
  // Like helm: HTTPS unless --plain-http.
  const scheme = plainHttp ? 'http' : 'https';
  const basic = await registryLogin(await setting('HELM_REGISTRY_CONFIG').catch(() => ''), host);
  let token: string | undefined;
  const request = async (pathname: string, accept?: string): Promise<{ body: Buffer; digest?: string }> => {
    const url = new URL(`${scheme}://${host}/v2/${repository}/${pathname}`);
    const headers: Record<string, string> = accept ? { Accept: accept } : {};
    if (token) headers['Authorization'] = `Bearer ${token}`;
    else if (basic) headers['Authorization'] = `Basic ${basic}`;
    try {
      return await getWithHeaders(url, headers, timeoutMs);
    } catch (err) {
      const e = err as { status?: number; headers?: http.IncomingHttpHeaders };
      const challenge = e.status === 401 ? String(e.headers?.['www-authenticate'] ?? '') : '';
      if (!challenge.startsWith('Bearer ') || token !== undefined) throw err;
      token = await bearerToken(challenge, basic, timeoutMs);
      return request(pathname, accept);
    }
  };
  return {
    async tags() {
      const { body } = await request('tags/list');
      return ((JSON.parse(body.toString('utf8')) as { tags?: string[] }).tags ?? []).filter((t) => typeof t === 'string');
    },
    async manifest(tag) {
      const { body, digest } = await request(`manifests/${encodeURIComponent(tag)}`, 'application/vnd.oci.image.manifest.v1+json');
      const manifest = JSON.parse(body.toString('utf8')) as { config?: { mediaType?: string; digest?: string } };
      if (manifest.config?.mediaType !== HELM_CONFIG_MEDIA_TYPE || !manifest.config.digest) throw new Error(`tag ${tag} is not a Helm chart`);
      return { digest: digest ?? `sha256:${sha256Hex(body)}`, config: manifest.config.digest };
    },
    async blob(digest) {
      const { body } = await request(`blobs/${digest}`);
      return body;
    },
  };
}

async function getWithHeaders(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<{ body: Buffer; digest?: string }> {
  const client = httpClient(url);
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers, timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        const next = new URL(res.headers.location, url);
        // Blob redirects go to storage that must not see the registry's credentials.
        return resolve(getWithHeaders(next, next.host === url.host ? headers : {}, timeoutMs));
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (status === 200) resolve({ body: Buffer.concat(chunks), digest: (res.headers['docker-content-digest'] as string | undefined) ?? undefined });
        else reject(Object.assign(new Error(`HTTP ${status} from ${url.host}${url.pathname}`), { status, headers: res.headers }));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** The token endpoint named by a `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge. */
async function bearerToken(challenge: string, basic: string | undefined, timeoutMs: number): Promise<string> {
  const params = Object.fromEntries([...challenge.slice('Bearer '.length).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  if (!params['realm']) throw new Error('the registry asks for a token but names no realm');
  const url = new URL(params['realm']);
  for (const key of ['service', 'scope']) if (params[key]) url.searchParams.set(key, params[key]);
  const { body } = await getWithHeaders(url, basic ? { Authorization: `Basic ${basic}` } : {}, timeoutMs);
  const parsed = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string };
  const token = parsed.token ?? parsed.access_token;
  if (!token) throw new Error('the registry gave no token');
  return token;
}

/** base64(user:password) for a registry from helm's registry config (docker config.json format), if logged in. */
async function registryLogin(file: string, host: string): Promise<string | undefined> {
  if (!file) return undefined;
  try {
    const config = JSON.parse(await readFile(file, 'utf8')) as { auths?: Record<string, { auth?: string }> };
    for (const [key, value] of Object.entries(config.auths ?? {})) {
      if (key.replace(/^https?:\/\//, '').replace(/\/.*$/, '') === host && value.auth) return value.auth;
    }
  } catch {
    // not logged in
  }
  return undefined;
}
