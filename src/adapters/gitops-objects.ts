/**
 * Argo CD Applications and Flux HelmReleases, read through kubectl in their own namespace (GitOps
 * mode, src/core/gitops.ts): an Application lives in Argo CD's namespace, not the release's. And
 * the charts an Application names by repository URL, read and rendered through helm.
 */
import { parse as parseYaml } from 'yaml';
import { chartRefText, ociChartRef } from '../core/argocd-release.js';
import { ClusterError, CommandFailedError, UsageError } from '../core/errors.js';
import type { GitOpsObjectsPort } from '../core/gitops.js';
import type { KubeObject, RepoChartRef, RepoChartsPort } from '../core/ports.js';
import { chartFromYaml, manifestsFromYaml, valuesFlags } from './helm.js';
import type { Kubectl } from './kubectl.js';

export function createGitOpsObjects(kube: Pick<Kubectl, 'run'>): GitOpsObjectsPort {
  return {
    async get(resource, namespace, name) {
      try {
        // The later -n wins over the release's namespace kubectl is given first.
        const out = await kube.run(['get', resource, name, '-n', namespace, '--ignore-not-found', '-o', 'json']);
        return out.trim() === '' ? undefined : (JSON.parse(out) as KubeObject);
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
 * through helm: `--repo URL CHART` for an http(s) chart repository (no `helm repo add` needed),
 * the oci:// reference for a registry. Values go on stdin, never in argv.
 */
export function createRepoCharts(helm: { run(args: string[], input?: string): Promise<string> }): RepoChartsPort {
  const show = async (what: 'chart' | 'values', ref: RepoChartRef, version: string): Promise<string> => {
    try {
      return await helm.run(['show', what, ...repoChartArgs(ref), '--version', version]);
    } catch (err) {
      throw repoChartError(err, ref, version);
    }
  };
  return {
    showChart: async (ref, version) => chartFromYaml(await show('chart', ref, version)),
    showValues: async (ref, version) => (parseYaml(await show('values', ref, version)) ?? {}) as Record<string, unknown>,
    async renderChart(ref, { release, version, values, extra = [] }) {
      try {
        return manifestsFromYaml(await helm.run(['template', release, ...repoChartArgs(ref), '--version', version, '-f', '-', ...valuesFlags(extra)], JSON.stringify(values)));
      } catch (err) {
        throw repoChartError(err, ref, version);
      }
    },
  };
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
  if (/not found|no chart version found|404/i.test(err.stderr)) {
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
