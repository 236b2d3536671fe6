/**
 * `verify`: the chart-CI check. Every problem is a finding (never the first only), each with the
 * exit code it stands for; the command exits with the lowest code among the errors:
 *   4/5  the contract is missing, or does not parse / match the JSON Schema / the tool's revision form
 *   16   a track's migrations give no single head (or cannot be read as the tool reads them)
 *   17   a revision is not among its migrations
 *   18   a revision is not the head of its migrations (Chart.yaml is stale: run annotate)
 *   19   (--against) a revision goes backwards as chart versions go up
 */
import semver from 'semver';
import { trackMigrations, type MigrationDirs } from './annotate.js';
import { readChartYaml, revisionLine } from './chart-yaml.js';
import { BASE, parseContract, PREFIX, type Contract } from './contract.js';
import { ContractInvalidError, ExitCode, MigrationsError, RollbackError, UsageError } from './errors.js';
import { findHead, hasRevision, type TrackMigrations } from './migrations.js';
import type { ChartFilesPort, Log, MigrationFilesPort, MigrationTool, PublishedChartsPort, ToolRegistry } from './ports.js';

export interface VerifyDeps {
  charts: ChartFilesPort;
  migrations: MigrationFilesPort;
  tools: ToolRegistry;
  /** Needed only with `against`. */
  published?: PublishedChartsPort;
  log: Log;
}

export interface VerifyOptions {
  chartDir: string;
  migrations: MigrationDirs;
  track?: string;
  branch?: string;
  /** repo/chart (or oci://): the published versions this chart version must not go backwards from. */
  against?: string;
}

export interface Finding {
  level: 'error' | 'warning';
  /** The exit code this finding stands for (errors only decide the exit). */
  code: number;
  message: string;
  /** The file it is about (Chart.yaml), with a 1-based line when known. */
  file?: string;
  line?: number;
  track?: string;
}

export interface VerifiedTrack {
  track: string;
  tool: string;
  revision: string;
  /** The migrations' head, when --migrations was given and it has one. */
  head?: string;
  migrations?: string;
}

export interface VerifyReport {
  chartFile: string;
  chart: { name: string; version: string };
  tracks: VerifiedTrack[];
  /** What was checked, in words, for the summary. */
  checked: string[];
  findings: Finding[];
  /** 0, or the lowest code among the error findings. */
  exitCode: number;
}

/** Exits with the report's code once the CLI has printed the findings. */
export class VerifyFailedError extends RollbackError {
  constructor(report: VerifyReport) {
    const errors = report.findings.filter((f) => f.level === 'error').length;
    super(report.exitCode as ExitCode, `verify: ${errors} problem${errors === 1 ? '' : 's'} in ${report.chartFile} (listed above)`, {
      hint: 'README "Checking a chart in CI" explains each finding; "helm schema-rollback annotate" fixes stale revisions',
    });
  }
}

export async function verify(deps: VerifyDeps, opts: VerifyOptions): Promise<VerifyReport> {
  const { path, text } = await deps.charts.readChartYaml(opts.chartDir);
  const chart = readChartYaml(text, path);
  const report: VerifyReport = { chartFile: path, chart: { name: chart.name, version: chart.version }, tracks: [], checked: [], findings: [], exitCode: 0 };
  const error = (code: number, message: string, track?: string) =>
    report.findings.push({ level: 'error', code, message, file: path, line: track === undefined ? revisionLine(text, '') : revisionLine(text, track), ...(track ? { track } : {}) });

  let contract: Contract | undefined;
  try {
    contract = parseContract(chart.annotations, path);
  } catch (err) {
    if (!(err instanceof ContractInvalidError)) throw err;
    for (const problem of err.problems) error(ExitCode.contractInvalid, `invalid schema-rollback annotations: ${problem}`);
    return finish(report);
  }
  if (contract === undefined) {
    error(ExitCode.contractMissing, `no schema-rollback contract (no ${PREFIX}* annotations)`);
    return finish(report);
  }
  report.checked.push(`the contract (${contract.tracks.length} track${contract.tracks.length === 1 ? '' : 's'}) against the JSON Schema`);

  let tracks = contract.tracks;
  if (opts.track !== undefined) {
    tracks = tracks.filter((t) => t.name === opts.track);
    if (tracks.length === 0) throw new UsageError(`${path} has no track "${opts.track}"`, { hint: `its tracks: ${contract.tracks.map((t) => t.name).join(', ')}` });
  }
  if (opts.branch !== undefined && tracks.length > 1) throw new UsageError('--branch names the branch of one track: say which with --track');
  const unknownDirs = Object.keys(opts.migrations.byTrack).filter((name) => !tracks.some((t) => t.name === name));
  if (unknownDirs.length > 0) throw new UsageError(`--migrations names track(s) ${unknownDirs.join(', ')} that ${path} does not have (or --track left out)`);

  const histories = new Map<string, TrackMigrations>();
  for (const track of tracks) {
    const tool = deps.tools.get(track.tool);
    const verified: VerifiedTrack = { track: track.name, tool: tool.name, revision: track.revision };
    report.tracks.push(verified);
    const problem = track.revision === BASE ? undefined : tool.checkRevision(track.revision);
    if (problem) {
      error(ExitCode.contractInvalid, `track ${track.name}: revision "${track.revision}" is not a ${tool.name} revision: ${problem}`, track.name);
      continue;
    }
    let migrations: TrackMigrations | undefined;
    try {
      migrations = await trackMigrations(deps, opts.migrations, track, tracks.length > 1);
    } catch (err) {
      if (!(err instanceof MigrationsError)) throw err;
      error(ExitCode.migrations, `track ${track.name}: ${err.message}`, track.name);
      continue;
    }
    if (migrations === undefined) continue;
    verified.migrations = migrations.origin;
    histories.set(track.name, migrations);
    if (!hasRevision(migrations, track.revision)) {
      error(ExitCode.revisionUnknown, `track ${track.name}: revision ${track.revision} is not among the migrations in ${migrations.origin}`, track.name);
      continue;
    }
    let head: string;
    try {
      head = findHead(tool, migrations, opts.branch);
    } catch (err) {
      if (!(err instanceof MigrationsError)) throw err;
      error(ExitCode.migrations, `track ${track.name}: ${err.message}${err.hint ? ` (${err.hint})` : ''}`, track.name);
      continue;
    }
    verified.head = head;
    if (head !== track.revision) {
      error(ExitCode.revisionStale, `track ${track.name}: revision ${track.revision} is not the head of ${migrations.origin} (${head}); run "helm schema-rollback annotate"`, track.name);
    }
  }
  if (histories.size > 0) report.checked.push(`${histories.size} track${histories.size === 1 ? '' : 's'} against ${histories.size === 1 ? 'its' : 'their'} migrations`);

  if (opts.against !== undefined) await checkAgainst(deps, opts.against, report, contract, histories, text);
  return finish(report);
}

function finish(report: VerifyReport): VerifyReport {
  const codes = report.findings.filter((f) => f.level === 'error').map((f) => f.code);
  report.exitCode = codes.length === 0 ? 0 : Math.min(...codes);
  return report;
}

interface Point {
  version: string;
  local: boolean;
  tracks: Map<string, { tool: string; revision: string }>;
}

/**
 * Revisions must never go backwards as chart versions go up. Pairs that involve this chart version
 * are errors; pairs among versions already published are warnings (they cannot be changed now).
 */
async function checkAgainst(deps: VerifyDeps, ref: string, report: VerifyReport, contract: Contract, histories: Map<string, TrackMigrations>, text: string): Promise<void> {
  if (deps.published === undefined) throw new Error('verify --against needs the published-charts port');
  const published = await deps.published.publishedCharts(ref);
  const local = report.chart.version;
  if (!semver.valid(local)) throw new UsageError(`chart version "${local}" is not semver; --against orders versions by semver`);
  const points: Point[] = [{ version: local, local: true, tracks: new Map(contract.tracks.map((t) => [t.name, { tool: t.tool, revision: t.revision }])) }];
  for (const chart of published) {
    if (!semver.valid(chart.version) || semver.eq(chart.version, local)) continue;
    if (chart.error !== undefined) {
      report.findings.push({ level: 'warning', code: 0, message: `${ref} ${chart.version}: cannot read its Chart.yaml: ${chart.error}` });
      continue;
    }
    let parsed: Contract | undefined;
    try {
      parsed = parseContract(chart.annotations, `${ref} ${chart.version}`);
    } catch (err) {
      if (!(err instanceof ContractInvalidError)) throw err;
      report.findings.push({ level: 'warning', code: 0, message: `${ref} ${chart.version} (published): its contract is invalid, skipped: ${err.problems.join('; ')}` });
      continue;
    }
    if (parsed) points.push({ version: chart.version, local: false, tracks: new Map(parsed.tracks.map((t) => [t.name, { tool: t.tool, revision: t.revision }])) });
  }
  points.sort((a, b) => semver.compare(a.version, b.version));
  report.checked.push(`revisions across ${points.length - 1} published version${points.length === 2 ? '' : 's'} of ${ref}`);
  const unordered = new Set<string>();
  const order = (name: string, older: { tool: string; revision: string }, newer: { tool: string; revision: string }): boolean => {
    if (older.tool !== newer.tool || older.revision === newer.revision) return false;
    const backwards = goesBackwards(deps.tools.get(newer.tool), histories.get(name), older.revision, newer.revision);
    if (backwards === undefined) unordered.add(name);
    return backwards === true;
  };
  const say = (name: string, older: Point, newer: Point) =>
    `track ${name}: revision goes backwards from ${older.tracks.get(name)!.revision} (chart ${older.version}) to ${newer.tracks.get(name)!.revision} (chart ${newer.version})`;
  for (const name of new Set(points.flatMap((p) => [...p.tracks.keys()]))) {
    const line = points.filter((p) => p.tracks.has(name));
    const at = line.findIndex((p) => p.local);
    // This version against every other one: the nearest older version ahead of it, the nearest newer one behind it.
    if (at >= 0) {
      const mine = line[at]!;
      const older = line.slice(0, at).reverse().find((p) => order(name, p.tracks.get(name)!, mine.tracks.get(name)!));
      const newer = line.slice(at + 1).find((p) => order(name, mine.tracks.get(name)!, p.tracks.get(name)!));
      for (const [o, n] of [[older, mine], [mine, newer]] as const) {
        if (o && n) report.findings.push({ level: 'error', code: ExitCode.revisionBackwards, message: say(name, o, n), file: report.chartFile, line: revisionLine(text, name), track: name });
      }
    }
    // Published versions among themselves: warnings, they cannot be changed any more.
    const published = line.filter((p) => !p.local);
    for (let i = 1; i < published.length; i++) {
      const [o, n] = [published[i - 1]!, published[i]!];
      if (order(name, o.tracks.get(name)!, n.tracks.get(name)!)) report.findings.push({ level: 'warning', code: ExitCode.revisionBackwards, message: `${say(name, o, n)} (both published)`, track: name });
    }
  }
  for (const name of unordered) {
    report.findings.push({ level: 'warning', code: 0, track: name, message: `track ${name}: cannot order its revisions without the migrations; give --migrations to check that they never go backwards` });
  }
}

/** true/false when the order is known (from the files, else from the ids); undefined when it is not. */
export function goesBackwards(tool: MigrationTool, migrations: TrackMigrations | undefined, older: string, newer: string): boolean | undefined {
  if (older === newer) return false;
  if (newer === BASE) return true;
  if (older === BASE) return false;
  const history = migrations?.history;
  if (history && history.revisions.includes(older) && history.revisions.includes(newer)) return history.isAncestor(newer, older);
  const compare = tool.order?.compare;
  if (compare && tool.checkRevision(older) === undefined && tool.checkRevision(newer) === undefined) return compare(newer, older) < 0;
  return undefined;
}
