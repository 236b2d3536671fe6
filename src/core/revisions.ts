/**
 * `revisions`: the runbook's lookup. For every published version of a chart (optionally a semver
 * range of them), the revision each migration track expects, read from that version's contract.
 *
 * A repository index entry carries its package's Chart.yaml annotations (`helm repo index` copies
 * them), so a contract is read from the index where it parses there, and from the package where the
 * entry has none or one that does not parse (a hand-edited or stripped index, or a version without
 * a contract: the package decides). `fromPackages` reads every package. The index is what `helm
 * upgrade --version V` resolves from too; the rollback itself reads the target's Chart.yaml anew.
 */
import semver from 'semver';
import { parseContract, PREFIX, type Contract } from './contract.js';
import { ContractInvalidError, UsageError } from './errors.js';
import type { Log, PublishedChart, PublishedChartsPort } from './ports.js';

export interface RevisionsOptions {
  /** repo/chart or oci://... */
  chart: string;
  /** A semver range ("0.8.x", ">=0.5.0 <1.0.0"); pre-releases included. */
  versions?: string;
  /** Read every version's contract from its package, never from the repository index. */
  fromPackages?: boolean;
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
  /** Where the contract was read: the repository index's entry, or the version's own Chart.yaml. */
  source?: 'index' | 'package';
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
  // Parsed once per distinct set of contract annotations: a chart's versions mostly repeat their
  // contract (a revision moves only when migrations are added), and YAML-parsing each of hundreds
  // was most of a warm run. The result depends on the annotations alone (problems never name the
  // version), so a repeat shares it.
  const parsed = new Map<string, Contract | ContractInvalidError | undefined>();
  const parse = (chart: Pick<PublishedChart, 'version' | 'annotations'>): Contract | ContractInvalidError | undefined => {
    const key = contractKey(chart.annotations);
    if (!parsed.has(key)) parsed.set(key, parseOrProblems(chart.annotations, `${opts.chart} ${chart.version}`));
    return parsed.get(key);
  };
  const acceptIndexEntry = opts.fromPackages
    ? undefined
    : (entry: Pick<PublishedChart, 'version' | 'annotations'>) => {
        const contract = parse(entry);
        return contract !== undefined && !(contract instanceof ContractInvalidError);
      };
  const charts = await deps.published.publishedCharts(opts.chart, wanted, { acceptIndexEntry });
  const names: string[] = [];
  const versions = charts.map((chart): VersionRevisions => {
    const row: VersionRevisions = {
      version: chart.version,
      ...(chart.appVersion ? { appVersion: chart.appVersion } : {}),
      tracks: {},
      contract: 'ok',
      digest: chart.digest,
      cached: chart.cached,
      ...(chart.source ? { source: chart.source } : {}),
    };
    if (chart.error !== undefined) return { ...row, contract: 'unreadable', problem: chart.error };
    const contract = parse(chart);
    if (contract === undefined) return { ...row, contract: 'none' };
    if (contract instanceof ContractInvalidError) return { ...row, contract: 'invalid', problem: contract.problems.join('; ') };
    for (const t of contract.tracks) {
      row.tracks[t.name] = { tool: t.tool, revision: t.revision };
      if (!names.includes(t.name)) names.push(t.name);
    }
    return row;
  });
  const fromIndex = versions.filter((v) => v.source === 'index').length;
  deps.log.debug(`revisions: ${versions.length} versions, ${fromIndex} from the repository index, ${versions.filter((v) => v.cached && v.source !== 'index').length} from the cache`);
  return { chart: opts.chart, tracks: names, versions };
}

/** The annotations parseContract reads (ours, by key), as one string. */
function contractKey(annotations: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(annotations).filter(([k]) => k.startsWith(PREFIX)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parseOrProblems(annotations: Readonly<Record<string, string>>, where: string): Contract | ContractInvalidError | undefined {
  try {
    return parseContract(annotations, where);
  } catch (err) {
    if (err instanceof ContractInvalidError) return err;
    throw err;
  }
}
