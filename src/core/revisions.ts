/**
 * `revisions`: the runbook's lookup. For every published version of a chart (optionally a semver
 * range of them), the revision each migration track expects, read from that version's contract.
 */
import semver from 'semver';
import { parseContract } from './contract.js';
import { ContractInvalidError, UsageError } from './errors.js';
import type { Log, PublishedChartsPort } from './ports.js';

export interface RevisionsOptions {
  /** repo/chart or oci://... */
  chart: string;
  /** A semver range ("0.8.x", ">=0.5.0 <1.0.0"); pre-releases included. */
  versions?: string;
}

export interface VersionRevisions {
  version: string;
  appVersion?: string;
  /** Track name → its tool and revision; empty when the version has no (valid) contract. */
  tracks: Record<string, { tool: string; revision: string }>;
  /** 'none': no schema-rollback annotations; 'invalid': they do not parse; 'unreadable': the package could not be read. */
  contract: 'ok' | 'none' | 'invalid' | 'unreadable';
  problem?: string;
  digest?: string;
  cached?: boolean;
}

export interface RevisionsReport {
  chart: string;
  /** Every track name seen, in order of first appearance from the newest version down. */
  tracks: string[];
  /** Newest first. */
  versions: VersionRevisions[];
}

export async function revisions(deps: { published: PublishedChartsPort; log: Log }, opts: RevisionsOptions): Promise<RevisionsReport> {
  let wanted: ((v: string) => boolean) | undefined;
  if (opts.versions !== undefined) {
    const range = semver.validRange(opts.versions);
    if (range === null) throw new UsageError(`--versions "${opts.versions}" is not a semver range`, { hint: 'e.g. --versions 0.8.x, or --versions ">=0.5.0 <1.0.0"' });
    wanted = (v) => semver.satisfies(v, range, { includePrerelease: true });
  }
  const charts = await deps.published.publishedCharts(opts.chart, wanted);
  const names: string[] = [];
  const versions = charts.map((chart): VersionRevisions => {
    const row: VersionRevisions = { version: chart.version, ...(chart.appVersion ? { appVersion: chart.appVersion } : {}), tracks: {}, contract: 'ok', digest: chart.digest, cached: chart.cached };
    if (chart.error !== undefined) return { ...row, contract: 'unreadable', problem: chart.error };
    try {
      const contract = parseContract(chart.annotations, `${opts.chart} ${chart.version}`);
      if (contract === undefined) return { ...row, contract: 'none' };
      for (const t of contract.tracks) {
        row.tracks[t.name] = { tool: t.tool, revision: t.revision };
        if (!names.includes(t.name)) names.push(t.name);
      }
      return row;
    } catch (err) {
      if (!(err instanceof ContractInvalidError)) throw err;
      return { ...row, contract: 'invalid', problem: err.problems.join('; ') };
    }
  });
  deps.log.debug(`revisions: ${versions.length} versions, ${versions.filter((v) => v.cached).length} from the cache`);
  return { chart: opts.chart, tracks: names, versions };
}
