/**
 * Argo CD Applications and Flux HelmReleases, read through kubectl in their own namespace (GitOps
 * mode, src/core/gitops.ts): an Application lives in Argo CD's namespace, not the release's. And
 * the charts an Application names by repository URL, read and rendered through helm.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { chartRefText, ociChartRef } from '../core/argocd-release.js';
import { ClusterError, CommandFailedError, UsageError } from '../core/errors.js';
import type { GitOpsObjectsPort } from '../core/gitops.js';
import type { ChartPort, Log, RepoChartRef, RepoChartsPort } from '../core/ports.js';
import { helmSettings } from './helm-cache.js';
import { chartFromYaml, manifestsFromYaml, valuesFlags } from './helm.js';
import type { Kubectl } from './kubectl.js';

export function createGitOpsObjects(kube: Pick<Kubectl, 'getIn'>): GitOpsObjectsPort {
  return {
    async get(resource, namespace, name) {
      try {
        return await kube.getIn(resource, namespace, name);
      } catch (err) {
        if (err instanceof CommandFailedError && /doesn't have a resource type/.test(err.stderr)) {
          throw new ClusterError(`the cluster serves no ${resource}: its controller's CRD is not installed`, {
            hint: '--gitops none rolls back with helm upgrade when no controller manages the release',
          });
        }
        throw err;
      }
    },
  };
}

/**
 * Charts named by repository URL (an Argo CD Application's source, src/core/argocd-release.ts),
 * through helm. A repository helm has under a name (`helm repo add`, same URL) is used by that name:
 * its credentials and TLS settings apply, and `helm show chart` is answered from the chart cache
 * (cached-chart-reads.ts); if its index lacks the version (not updated since), or helm has no such
 * repository, `CHART --repo URL`. An OCI registry is its oci:// reference. Values go on stdin,
 * never in argv.
 */
export function createRepoCharts(helm: { run(args: string[], input?: string): Promise<string>; showChart: ChartPort['showChart'] }, env: NodeJS.ProcessEnv, log: Log): RepoChartsPort {
  const setting = helmSettings(env, (args) => helm.run(args));
  let named: Promise<Map<string, string>> | undefined;
  /** NAME/CHART when helm has the repository under a name. */
  const namedRef = async (ref: RepoChartRef): Promise<string | undefined> => {
    if (ociChartRef(ref)) return undefined;
    named ??= repositoryNames(setting);
    const name = (await named).get(sameUrl(ref.repoURL));
    return name === undefined ? undefined : `${name}/${ref.chart}`;
  };
  /** `work` with the named ref, then (none, or the version not in its index) with CHART --repo URL. */
  const either = async <T>(ref: RepoChartRef, version: string, work: (chartArgs: string[], byName?: string) => Promise<T>): Promise<T> => {
    const byName = await namedRef(ref);
    if (byName) {
      try {
        return await work([byName], byName);
      } catch (err) {
        const mapped = repoChartError(err, ref, version);
        if (!(mapped instanceof UsageError)) throw mapped;
        log.debug(`repo charts: ${byName} ${version}: ${mapped.message}; asking ${ref.repoURL} itself`);
      }
    }
    try {
      return await work(repoChartArgs(ref));
    } catch (err) {
      throw repoChartError(err, ref, version);
    }
  };
  return {
    showChart: (ref, version) => either(ref, version, async (args, byName) => (byName ? helm.showChart(byName, version) : chartFromYaml(await helm.run(['show', 'chart', ...args, '--version', version])))),
    showValues: (ref, version) => either(ref, version, async (args) => (parseYaml(await helm.run(['show', 'values', ...args, '--version', version])) ?? {}) as Record<string, unknown>),
    renderChart: (ref, { release, version, values, extra = [] }) =>
      either(ref, version, async (args) => manifestsFromYaml(await helm.run(['template', release, ...args, '--version', version, '-f', '-', ...valuesFlags(extra)], JSON.stringify(values)))),
  };
}

/** The repositories of $HELM_REPOSITORY_CONFIG by URL; none when it cannot be read. */
async function repositoryNames(setting: (name: string) => Promise<string>): Promise<Map<string, string>> {
  try {
    const doc = parseYaml(await readFile(await setting('HELM_REPOSITORY_CONFIG'), 'utf8')) as { repositories?: Array<{ name?: unknown; url?: unknown }> } | null;
    return new Map((doc?.repositories ?? []).flatMap((r) => (typeof r.name === 'string' && typeof r.url === 'string' ? [[sameUrl(r.url), r.name] as [string, string]] : [])));
  } catch {
    return new Map();
  }
}

function sameUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** helm's arguments naming the chart: the oci:// reference, or CHART --repo URL. */
export function repoChartArgs(ref: RepoChartRef): string[] {
  const oci = ociChartRef(ref);
  return oci ? [oci] : [ref.chart, '--repo', ref.repoURL];
}

/** A chart or version the repository does not have is the Application's (or --to's) problem, not helm's. */
function repoChartError(err: unknown, ref: RepoChartRef, version: string): unknown {
  if (!(err instanceof CommandFailedError)) return err;
  const chart = chartRefText(ref);
  // --repo: chart "C" version "V" not found in URL repository; by name: ... not found in NAME index ... no chart version found; OCI: ...: not found.
  if (/no chart version found|version "[^"]*" not found|not found in \S+ (index|repository)|\b404\b|manifest unknown|: not found\s*$/im.test(err.stderr)) {
    return new UsageError(`chart ${chart} has no version ${version} (helm: ${lastLine(err.stderr)})`, {
      hint: `check the version (--to), and the Application's repoURL and chart; the repository's index.yaml${ociChartRef(ref) ? ' (or the registry\'s tags)' : ''} lists its versions`,
      cause: err,
    });
  }
  if (/401|403|unauthorized|forbidden|authentication/i.test(err.stderr)) {
    return new UsageError(`chart repository ${ref.repoURL} refused helm (helm: ${lastLine(err.stderr)})`, {
      hint: `Argo CD's repository credentials are its own: log helm in (${ociChartRef(ref) ? `helm registry login ${ref.repoURL.replace(/^oci:\/\//, '').split('/')[0]}` : 'a repository helm can read without credentials, or a proxy'}), then run again`,
      cause: err,
    });
  }
  return err;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.replace(/^Error:\s*/, '') ?? '';
}
