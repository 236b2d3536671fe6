/**
 * Helm, through $HELM_BIN. The child inherits HELM_NAMESPACE, HELM_KUBECONTEXT, KUBECONFIG and the
 * rest of the HELM_* environment that Helm gave the plugin, so every call acts on the cluster and
 * namespace the user chose with `helm -n NS --kube-context CTX schema-rollback ...`.
 */
import semver from 'semver';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ClusterError, CommandFailedError, ExitCode, ReleaseNotFoundError, RollbackError, UsageError } from '../core/errors.js';
import type { ChartInfo, ChartPort, ChartRenderPort, HelmPort, HelmUpgradePort, KubeObject, Log, ManifestObject, ReleaseInfo, ReleaseManifestPort, UpgradeRequest, ValuesMode } from '../core/ports.js';
import { maskArgv, runCommand, streamCommand } from './command.js';
import type { HelmStorageReads } from './helm-storage.js';
import type { HelmMajorCache } from './helm-version-cache.js';

export interface HelmOptions {
  /** $HELM_BIN, or "helm" from PATH when the binary runs outside Helm. */
  bin: string;
  /** The namespace Helm resolved ($HELM_NAMESPACE), or the user's -n when run outside Helm. */
  namespace: string;
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Epoch ms after which no helm call may still run (shell completion must answer in bounded time). */
  deadline?: number;
  /**
   * The release reads (metadata, values --all, manifest, history) answered from Helm's storage in
   * process (helm-storage.ts) instead of by helm; absent: helm answers them.
   */
  storage?: HelmStorageReads;
  /** The binary's major version remembered from an earlier run (helm-version-cache.ts); absent: `helm version` every run. */
  majorCache?: HelmMajorCache;
}

export interface Helm extends HelmPort, ChartPort, HelmUpgradePort, ChartRenderPort, ReleaseManifestPort {
  /** Runs helm with the namespace appended; returns stdout or throws a mapped error. `input` goes to its stdin. */
  run(args: string[], input?: string): Promise<string>;
  /** The names of the releases in the namespace, as `helm list` shows them (deployed and failed). */
  listReleases(): Promise<string[]>;
}

export function createHelm(opts: HelmOptions): Helm {
  const run = async (args: string[], input?: string): Promise<string> => {
    const argv = [...args, '--namespace', opts.namespace];
    const timeoutMs = opts.deadline === undefined ? undefined : opts.deadline - Date.now();
    if (timeoutMs !== undefined && timeoutMs <= 0) throw new RollbackError(ExitCode.commandFailed, `no time left to run helm ${args[0]}`);
    const result = await runCommand(opts.bin, argv, { env: opts.env, log: opts.log, input, timeoutMs });
    if (result.spawnError) {
      throw new RollbackError(ExitCode.commandFailed, `cannot run helm (${opts.bin}): ${result.spawnError}`, {
        hint: 'run the plugin through helm ("helm schema-rollback ..."), or put helm on PATH / set HELM_BIN',
      });
    }
    if (result.exitCode !== 0) throw helmError([opts.bin, ...argv], result.exitCode, result.stderr);
    return result.stdout;
  };
  let major: Promise<number> | undefined;
  const askMajor = async (): Promise<number> => {
    const cached = await opts.majorCache?.get();
    if (cached !== undefined) return cached;
    const asked = parseHelmMajor(await run(['version', '--template', '{{.Version}}']));
    await opts.majorCache?.set(asked);
    return asked;
  };
  const helmMajor = (): Promise<number> => (major ??= askMajor());
  const getRelease = async (name: string): Promise<ReleaseInfo> => {
    if (opts.storage) return opts.storage.getRelease(name);
    let stdout: string;
    try {
      stdout = await run(['get', 'metadata', name, '-o', 'json']);
    } catch (err) {
      if (err instanceof CommandFailedError && /release: not found/.test(err.stderr)) {
        throw new ReleaseNotFoundError(name, opts.namespace);
      }
      throw err;
    }
    return releaseFromMetadata(JSON.parse(stdout) as Record<string, unknown>, opts.namespace);
  };
  /** The hand-off's argv (without --namespace), the same for its check and for the upgrade itself. */
  const handoffArgs = async (request: UpgradeRequest): Promise<string[]> => {
    const major = await helmMajor();
    // Read right before upgrading: a failed upgrade in between is a new latest revision.
    const applyMethod = major >= 4 ? (request.latest ?? (await getRelease(request.release))).applyMethod : undefined;
    const { latest: _read, ...upgrade } = request;
    return upgradeArgs({ ...upgrade, reuseValues: request.reuseValues ?? 'reset-then-reuse', extra: request.extra ?? [], helmMajor: major, applyMethod });
  };
  return {
    namespace: opts.namespace,
    run,
    helmMajor,
    getRelease,
    releaseStorage: releaseStorage(opts.env['HELM_DRIVER']),
    async listReleases() {
      return (await run(['list', '--short'])).split('\n').map((l) => l.trim()).filter(Boolean);
    },
    async manifestObjects(name) {
      if (opts.storage) return opts.storage.manifestObjects(name);
      // The manifest holds the chart's Secrets with their data: only the identity of each object is kept.
      return manifestsFromYaml(await run(['get', 'manifest', name])).map(manifestObject);
    },
    async getValues(name) {
      const stored = await opts.storage?.getValues(name);
      if (stored) return stored;
      const stdout = await run(['get', 'values', name, '--all', '-o', 'json']);
      return (JSON.parse(stdout) ?? {}) as Record<string, unknown>;
    },
    async showChart(ref, version) {
      let stdout: string;
      try {
        stdout = await run(['show', 'chart', ref, '--version', version]);
      } catch (err) {
        throw chartError(err, ref, version);
      }
      const chart = chartFromYaml(stdout);
      // helm ignores --version for a chart directory or .tgz and shows whatever is there.
      if (semver.valid(version) && semver.valid(chart.version) && !semver.eq(version, chart.version)) {
        throw new UsageError(`${ref} is chart ${chart.name} ${chart.version}, not ${version}`, {
          hint: 'a chart directory or .tgz is one version: point at the one you want, or use the chart repository (repo/chart)',
        });
      }
      return chart;
    },
    async renderChart({ release, chart, version, extra = [] }) {
      // The user-supplied values only (no --all): the target chart's own defaults apply under them,
      // as --reset-then-reuse-values does in the upgrade. Given on stdin (-f -): values hold
      // secrets, and neither argv nor a file left behind may show them.
      const values = await run(['get', 'values', release, '-o', 'json']);
      const stdout = await run(['template', release, chart, '--version', version, '--is-upgrade', '-f', '-', ...valuesFlags(extra)], values.trim() === 'null' ? '{}' : values);
      return manifestsFromYaml(stdout);
    },
    async findChartRef(chartName) {
      let found: Array<{ name: string }>;
      try {
        found = JSON.parse(await run(['search', 'repo', chartName, '--devel', '-o', 'json'])) as Array<{ name: string }>;
      } catch (err) {
        if (!(err instanceof CommandFailedError && /no repositories configured/.test(err.stderr))) throw err;
        found = [];
      }
      // search matches names and descriptions by substring: keep charts named exactly so.
      const refs = [...new Set(found.map((c) => c.name).filter((n) => n.slice(n.indexOf('/') + 1) === chartName))].sort();
      if (refs.length === 1) return refs[0]!;
      const pass = 'pass the chart with --chart (repo/chart, oci://..., a directory or a .tgz)';
      if (refs.length === 0) {
        throw new UsageError(`no chart repository of this helm has a chart named ${chartName}`, {
          hint: `add the repository it came from ("helm repo add NAME URL", then "helm repo update"), or ${pass}`,
        });
      }
      throw new UsageError(`several chart repositories have a chart named ${chartName}: ${refs.join(', ')}`, { hint: pass });
    },
    async chartVersions(ref) {
      if (chartRefKind(ref) !== 'repo') {
        throw new UsageError(`cannot list the versions of ${ref}: only charts from a repository (helm repo add) can be listed`, {
          hint: 'give the version to roll back to explicitly',
        });
      }
      const found = JSON.parse(await run(['search', 'repo', ref, '--versions', '--devel', '-o', 'json'])) as Array<{ name: string; version: string }>;
      // search matches by substring (repo/chart also finds repo/chart-extra): keep exact names.
      const versions = found.filter((c) => c.name === ref).map((c) => c.version);
      return versions.sort((a, b) => (semver.valid(a) && semver.valid(b) ? semver.rcompare(a, b) : 0));
    },
    async checkUpgrade(request) {
      // Last, so that it wins over a --dry-run among the user's flags (pflag: the last one counts).
      // "server": templates' lookup calls read the cluster, as in the real upgrade; Helm 3.13+ and 4
      // accept it, and neither writes anything in any dry-run mode. Stdout (the rendered manifests,
      // Secrets included) is dropped here and never logged.
      try {
        await run([...(await handoffArgs(request)), '--dry-run=server']);
      } catch (err) {
        throw maskValuesInError(err, request.extra ?? []);
      }
    },
    async upgrade(request, onOutput = () => undefined) {
      const argv = [...(await handoffArgs(request)), '--namespace', opts.namespace];
      const result = await streamCommand(opts.bin, argv, { env: opts.env, log: opts.log, from: 'all', onLine: onOutput });
      if (result.spawnError) throw new RollbackError(ExitCode.commandFailed, `cannot run helm (${opts.bin}): ${result.spawnError}`);
      if (result.exitCode !== 0) throw maskValuesInError(helmError([opts.bin, ...argv], result.exitCode, result.stderr), request.extra ?? []);
    },
    async deployedRelease(name) {
      if (opts.storage) return opts.storage.deployedRelease(name);
      const history = JSON.parse(await run(['history', name, '-o', 'json'])) as Array<{ revision: number; status: string }>;
      const deployed = history.filter((h) => h.status === 'deployed').map((h) => h.revision).sort((a, b) => b - a)[0];
      if (deployed === undefined) return undefined;
      return releaseFromMetadata(JSON.parse(await run(['get', 'metadata', name, '--revision', String(deployed), '-o', 'json'])) as Record<string, unknown>, opts.namespace);
    },
  };
}

/**
 * helm echoes some values back in its errors ("failed parsing --set-json data {...}"): the values
 * of the user's --set-style flags are masked in the error's text as they are in argv.
 */
function maskValuesInError(err: unknown, extra: readonly string[]): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  const masked = maskArgv(['helm', ...extra]).slice(1);
  const valueOf = (arg: string) => (arg.startsWith('--') ? arg.slice(arg.indexOf('=') + 1) : arg);
  let stderr = err.stderr;
  extra.forEach((arg, i) => {
    if (masked[i] === arg) return;
    const [value, hidden] = [valueOf(arg), valueOf(masked[i]!)];
    // The whole value first, then each of its assignments: helm quotes either.
    const pairs: Array<[string, string]> = [[value, hidden], ...value.split(',').map((kv, k): [string, string] => [kv, hidden.split(',')[k] ?? '***'])];
    for (const [plain, shown] of pairs) if (plain && plain !== shown) stderr = stderr.split(plain).join(shown);
  });
  return new CommandFailedError(err.argv, err.exitCode, stderr);
}

export interface UpgradeArgsOptions {
  release: string;
  chart: string;
  version: string;
  helmMajor: number;
  reuseValues: ValuesMode;
  /** The user's own flags, after ours so that they win (pflag: the last occurrence counts). */
  extra: string[];
  wait?: boolean;
  timeout?: string;
  /**
   * Helm 4: the latest revision's applyMethod (helm get metadata). Helm 4's default --server-side=auto
   * applies server-side only when it is "ssa"; releases Helm 3 made have none and stay client-side.
   */
  applyMethod?: string;
}

/** `helm upgrade` argv (without --namespace, which run() adds) for Helm 3.17+ and 4.x. */
export function upgradeArgs(o: UpgradeArgsOptions): string[] {
  const args = ['upgrade', o.release, o.chart, '--version', o.version];
  // 'reset-then-reuse' = the target chart's own defaults + the values the user gave the release.
  // '--reuse-values' would instead take the current release's merged values as the defaults, so
  // the NEWER chart's defaults (image tags, new keys) would leak into the older chart.
  // Both flags exist in Helm 3.14+ and 4.x.
  args.push(o.reuseValues === 'reuse' ? '--reuse-values' : '--reset-then-reuse-values');
  if (o.helmMajor >= 4 && o.applyMethod === 'ssa') {
    // A server-side apply (force=false) after `kubectl scale` (ours, when we stopped the workloads)
    // fails: the scale subresource owns .spec.replicas, 'conflict with "kubectl" with subresource
    // "scale" ... .spec.replicas'. The chart is the source of truth here, as Helm 3's 3-way merge
    // treats it. Only with server-side apply: on a client-side release Helm 4 rejects the flag
    // ("forceConflicts enabled when serverSideApply disabled"), and Helm 3 does not know it.
    args.push('--force-conflicts');
  }
  // A bare --wait means "watcher" in Helm 4 and true in Helm 3; spell it out for Helm 4.
  if (o.wait) args.push(o.helmMajor >= 4 ? '--wait=watcher' : '--wait');
  if (o.timeout) args.push('--timeout', o.timeout);
  return [...args, ...o.extra];
}

/** The flags among the user's helm flags that set values (--set, -f, ...), with their arguments: they shape a render as they will shape the upgrade. */
export function valuesFlags(extra: readonly string[]): string[] {
  const withValue = new Set(['--set', '--set-string', '--set-file', '--set-json', '--set-literal', '--values', '-f']);
  const out: string[] = [];
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i]!;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0 && withValue.has(arg.slice(0, eq))) out.push(arg);
    else if (withValue.has(arg) && i + 1 < extra.length) out.push(arg, extra[++i]!);
  }
  return out;
}

/** `helm template` output: YAML documents, some empty (a template that rendered nothing). */
export function manifestsFromYaml(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS({ maxAliasCount: -1 }) as unknown)
    .filter((o): o is KubeObject => typeof o === 'object' && o !== null && typeof (o as KubeObject).metadata?.name === 'string');
}

/** Where Helm keeps release revisions for $HELM_DRIVER, as Helm's own switch reads it; undefined for memory and sql. */
export function releaseStorage(driver: string | undefined): 'secrets' | 'configmaps' | undefined {
  const d = (driver ?? '').toLowerCase();
  if (d === '' || d === 'secret' || d === 'secrets') return 'secrets';
  if (d === 'configmap' || d === 'configmaps') return 'configmaps';
  return undefined;
}

export function manifestObject(o: KubeObject): ManifestObject {
  return { apiVersion: o.apiVersion ?? 'v1', kind: o.kind ?? '', name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) };
}

/** "v3.17.3" → 3. */
export function parseHelmMajor(version: string): number {
  const m = /^v?(\d+)\./.exec(version.trim());
  if (!m) throw new RollbackError(ExitCode.commandFailed, `cannot tell the helm version from "${version.trim()}"`);
  return Number(m[1]);
}

/** How helm finds a chart reference. Syntax only: helm also tries a repo/chart ref as a local path first. */
export function chartRefKind(ref: string): 'repo' | 'oci' | 'url' | 'local' {
  if (ref.startsWith('oci://')) return 'oci';
  if (/^https?:\/\//.test(ref)) return 'url';
  if (ref.startsWith('/') || ref.startsWith('.') || ref.endsWith('.tgz') || ref.split('/').length !== 2) return 'local';
  return 'repo';
}

/** `helm show chart` prints Chart.yaml as YAML (no -o json, in 3.17 and 4.1). */
export function chartFromYaml(text: string): ChartInfo {
  const c = (parseYaml(text) ?? {}) as Record<string, unknown>;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries((c['annotations'] as Record<string, unknown> | undefined) ?? {})) annotations[k] = String(v);
  return {
    name: String(c['name'] ?? ''),
    version: String(c['version'] ?? ''),
    appVersion: c['appVersion'] === undefined ? undefined : String(c['appVersion']),
    annotations,
  };
}

/** A chart or version that does not exist is the user's input, not a helm failure. */
function chartError(err: unknown, ref: string, version: string): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  const repo = ref.split('/')[0];
  const listing = chartRefKind(ref) === 'repo' ? `helm search repo ${ref} --versions` : `helm show chart ${ref}`;
  if (/no chart version found/.test(err.stderr)) {
    return new UsageError(`chart ${ref} has no version ${version}`, { hint: `list its versions with "${listing}"; if it was published recently, run "helm repo update"`, cause: err });
  }
  if (/no chart name found/.test(err.stderr)) {
    return new UsageError(`repository ${repo} has no chart ${ref.split('/')[1]}`, { hint: `check the name with "helm search repo ${repo}/", or run "helm repo update"`, cause: err });
  }
  if (/repo .* not found/.test(err.stderr)) {
    return new UsageError(`no chart repository named ${repo}`, { hint: `add it with "helm repo add ${repo} URL" (see "helm repo list")`, cause: err });
  }
  if (/path ".*" not found|not found/.test(err.stderr)) {
    return new UsageError(`chart ${ref} ${version} not found: ${lastLine(err.stderr)}`, { hint: `check the chart reference with "${listing}"`, cause: err });
  }
  return err;
}

function helmError(argv: string[], exitCode: number | undefined, stderr: string): RollbackError {
  if (/Kubernetes cluster unreachable|connection refused|no such host|i\/o timeout/i.test(stderr)) {
    return new ClusterError(`helm cannot reach the cluster: ${lastLine(stderr)}`, {
      hint: 'check the kube context (helm --kube-context CTX) and that the cluster is up: kubectl cluster-info',
    });
  }
  return new CommandFailedError(maskArgv(argv), exitCode, stderr);
}

/** `helm get metadata -o json`: same keys in 3.17 and 4.1 (4.1 adds labels and applyMethod). */
export function releaseFromMetadata(m: Record<string, unknown>, namespace: string): ReleaseInfo {
  return {
    name: String(m['name']),
    namespace: typeof m['namespace'] === 'string' ? m['namespace'] : namespace,
    revision: Number(m['revision']),
    status: String(m['status'] ?? ''),
    chart: String(m['chart']),
    version: String(m['version']),
    appVersion: typeof m['appVersion'] === 'string' ? m['appVersion'] : undefined,
    annotations: (m['annotations'] as Record<string, string> | undefined) ?? {},
    ...(typeof m['applyMethod'] === 'string' && m['applyMethod'] ? { applyMethod: m['applyMethod'] } : {}),
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.replace(/^Error:\s*/, '') ?? '';
}
