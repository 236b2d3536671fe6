/**
 * `annotate`: writes the head revision of each track's migrations into Chart.yaml, so that a chart
 * version carries the revision its image migrates to. `check` changes nothing and fails (exit 18)
 * when the file would change: the CI form.
 */
import { DEFAULT_TRACK, parseContract, type Contract } from './contract.js';
import { readChartYaml, setRevisions, type RevisionEdit } from './chart-yaml.js';
import { StaleAnnotationError, UsageError } from './errors.js';
import { findHead, historyReader, readHistory, type TrackMigrations } from './migrations.js';
import type { ChartFilesPort, Log, MigrationFilesPort, ToolRegistry } from './ports.js';

/** --migrations: one directory (DIR/TRACK per track when there are several), and/or TRACK=DIR pairs. */
export interface MigrationDirs {
  dir?: string;
  byTrack: Record<string, string>;
}

export interface AnnotateDeps {
  charts: ChartFilesPort;
  migrations: MigrationFilesPort;
  tools: ToolRegistry;
  log: Log;
}

export interface AnnotateOptions {
  chartDir: string;
  migrations: MigrationDirs;
  /** The tool, for a chart without a contract yet; must match the contract otherwise. */
  tool?: string;
  /** Only this track (default: every track). */
  track?: string;
  /** alembic: the branch label (or revision) whose head the chart carries, when the history has several heads. */
  branch?: string;
  check: boolean;
}

export interface AnnotatedTrack {
  track: string;
  tool: string;
  /** The revision Chart.yaml had; undefined when the track is new. */
  from?: string;
  to: string;
  /** Where the migrations were read. */
  migrations: string;
  changed: boolean;
}

export interface AnnotateReport {
  chartFile: string;
  chart: { name: string; version: string };
  tracks: AnnotatedTrack[];
  changed: boolean;
  /** true when the file was rewritten (never with check). */
  written: boolean;
}

/** The tracks to work on: from the contract, or the one the flags describe for a chart without one. */
export function selectTracks(contract: Contract | undefined, opts: { tool?: string; track?: string }, where: string): Array<{ name: string; tool: string; revision?: string }> {
  if (contract === undefined) {
    if (opts.tool === undefined) {
      throw new UsageError(`${where} carries no schema-rollback contract yet`, { hint: 'say which tool the migrations are for with --tool TOOL; annotate then adds the contract' });
    }
    return [{ name: opts.track ?? DEFAULT_TRACK, tool: opts.tool }];
  }
  let tracks = contract.tracks;
  if (opts.track !== undefined) {
    tracks = tracks.filter((t) => t.name === opts.track);
    if (tracks.length === 0) {
      throw new UsageError(`${where} has no track "${opts.track}"`, { hint: `its tracks: ${contract.tracks.map((t) => t.name).join(', ')}` });
    }
  }
  if (opts.tool !== undefined) {
    const other = tracks.find((t) => t.tool !== opts.tool);
    if (other) throw new UsageError(`track ${other.name} of ${where} is a ${other.tool} track, not ${opts.tool}`, { hint: 'drop --tool: the contract names the tool' });
  }
  return tracks;
}

/** Reads one track's migrations: --migrations TRACK=DIR, else the shared DIR (DIR/TRACK with several tracks). */
export async function trackMigrations(
  deps: { migrations: MigrationFilesPort; tools: ToolRegistry },
  dirs: MigrationDirs,
  track: { name: string; tool: string },
  several: boolean,
): Promise<TrackMigrations | undefined> {
  const own = dirs.byTrack[track.name];
  const dir = own ?? dirs.dir;
  if (dir === undefined) return undefined;
  const reader = historyReader(deps.tools.get(track.tool));
  const { origin, files } = await deps.migrations.read(dir, { track: track.name, several: own === undefined && several, filesIn: reader.filesIn });
  return readHistory(reader, files, origin);
}

export async function annotate(deps: AnnotateDeps, opts: AnnotateOptions): Promise<AnnotateReport> {
  const { path, text } = await deps.charts.readChartYaml(opts.chartDir);
  const chart = readChartYaml(text, path);
  const contract = parseContract(chart.annotations, path);
  const tracks = selectTracks(contract, opts, path);
  if (opts.branch !== undefined && tracks.length > 1) {
    throw new UsageError('--branch names the branch of one track: say which with --track', { hint: `tracks: ${tracks.map((t) => t.name).join(', ')}` });
  }
  const unknownDirs = Object.keys(opts.migrations.byTrack).filter((name) => !tracks.some((t) => t.name === name));
  if (unknownDirs.length > 0) throw new UsageError(`--migrations names track(s) ${unknownDirs.join(', ')} that ${path} does not have (or --track left out)`);

  const results: AnnotatedTrack[] = [];
  const edits: RevisionEdit[] = [];
  for (const track of tracks) {
    const tool = deps.tools.get(track.tool);
    const migrations = await trackMigrations(deps, opts.migrations, track, tracks.length > 1);
    if (migrations === undefined) {
      throw new UsageError(`no migrations directory for track ${track.name}`, { hint: 'give --migrations DIR (or --migrations TRACK=DIR per track)' });
    }
    const head = findHead(tool, migrations, opts.branch);
    const problem = head === 'base' ? undefined : tool.checkRevision(head);
    if (problem) throw new UsageError(`${migrations.origin}: the head ${head} cannot be written as a ${tool.name} revision: ${problem}`);
    deps.log.debug(`annotate: track ${track.name}: ${migrations.history.revisions.length} revisions in ${migrations.origin}, head ${head}`);
    const changed = track.revision !== head;
    results.push({ track: track.name, tool: tool.name, from: track.revision, to: head, migrations: migrations.origin, changed });
    if (changed) edits.push({ track: track.name, revision: head, tool: tool.name });
  }
  const report: AnnotateReport = { chartFile: path, chart: { name: chart.name, version: chart.version }, tracks: results, changed: edits.length > 0, written: false };
  if (edits.length === 0) return report;
  const updated = setRevisions(text, edits, path);
  if (opts.check) {
    const lines = results.filter((r) => r.changed).map((r) => `track ${r.track}: Chart.yaml has ${r.from ?? '(none)'}, the migrations' head is ${r.to}`);
    throw new StaleAnnotationError(`${path} is not annotated with the migrations' head${lines.length > 1 ? 's' : ''}:\n  - ${lines.join('\n  - ')}`, {
      hint: `run "helm schema-rollback annotate ${opts.chartDir} ..." without --check and commit Chart.yaml`,
    });
  }
  await deps.charts.writeChartYaml(path, updated);
  report.written = true;
  return report;
}
