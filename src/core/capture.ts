/**
 * Down files kept in the cluster (issue 13, item 4): the migration files of the chart version a
 * release runs, captured beside the release when it is deployed (`helm schema-rollback capture`),
 * so that a later rollback finds the newer version's downs without a `--source` (the kagent case:
 * its migrations are embedded in a binary the older image lacks).
 *
 * A capture is keyed by the chart version it was taken at and carries a checksum of its content;
 * that content names the release and the chart version too, so a copy renamed or relabelled for
 * another version is refused like a damaged one. The checksum finds damage, mixed-up chunks and
 * hand edits, not a deliberate forgery: whoever may write the objects could recompute it (and could
 * as well edit the release's Deployment).
 *
 * How the files are packed and where they are kept is the adapter's (src/adapters/captured-sources.ts);
 * here: what is captured, when a capture is refused, and when a rollback may use one.
 */
import { RefusedError } from './errors.js';
import type { HelmPort, ReleaseInfo, ToolRegistry } from './ports.js';
import { resolveContract, type ContractOverrides } from './resolve.js';
import { inStep, type StepListener } from './steps.js';

/** One migration file, as the migration source reads it (top level of a track's directory). */
export interface CapturedFile {
  name: string;
  body: string;
}

/** What is captured and checksummed: every file of every track, for one release at one chart version. */
export interface CapturedContent {
  release: string;
  chartVersion: string;
  /** Track name → its files, sorted by name. */
  tracks: Record<string, CapturedFile[]>;
}

/** What is said about a capture, kept on its objects (labels and annotations; never a file's text). */
export interface CaptureRecord {
  release: string;
  chartVersion: string;
  tracks: string[];
  /** sha256 (hex) of the content as packed. */
  sha256: string;
  capturedAt: string;
  /** USER@HOST (pid N) of the capture. */
  capturedBy: string;
  /** Where the files were read from (URLs without credentials or query). */
  origin: string;
  files: number;
  /** Uncompressed size of the packed content, and what it takes in the cluster once compressed. */
  bytes: number;
  storedBytes: number;
  /** The objects holding it, in order. */
  objects: string[];
}

/** A capture as found in the cluster, before it is trusted. */
export interface FoundCapture {
  record: CaptureRecord;
  /** sha256 of the content as read back (undefined when it could not be read back whole). */
  actualSha256?: string;
  content?: CapturedContent;
  /** Why the objects do not make one capture: a chunk missing, from another capture, not gzip, not the format. */
  damage?: string;
}

/** The captures of a release, in its namespace. */
export interface CapturedSourcePort {
  /** The capture of this chart version, as found; undefined when there is none. */
  read(release: string, chartVersion: string): Promise<FoundCapture | undefined>;
  /** The checksum write() would record for this content. */
  checksum(content: CapturedContent): string;
  /**
   * Stores the content (replacing a capture of the same version: `previous` names its objects, the
   * ones the new capture does not reuse are deleted once it is whole). Returns its record.
   */
  write(content: CapturedContent, meta: Pick<CaptureRecord, 'capturedAt' | 'capturedBy' | 'origin'>, previous?: CaptureRecord): Promise<CaptureRecord>;
}

/** The files of one track from a migration source, read as the native runner reads them (src/adapters/migration-source.ts). */
export interface TrackFilesReader {
  readonly origin: string;
  files(track: string): Promise<{ origin: string; files: CapturedFile[] }>;
}

export interface CaptureDeps {
  helm: HelmPort;
  tools: ToolRegistry;
  captured: CapturedSourcePort;
  /** Opens --source for these tracks (the same reader, and the same refusals, as the native runner's). */
  openSource(tracks: readonly string[]): TrackFilesReader;
}

export interface CaptureOptions {
  release: string;
  /** --track/--tool, for a chart without annotations. */
  overrides: ContractOverrides;
  /** Overwrite a capture of the same chart version that holds other files. */
  replace: boolean;
  holder: string;
  now: () => Date;
  progress?: StepListener;
}

export interface CaptureOutcome {
  record: CaptureRecord;
  /** 'unchanged': the same files were already captured for this version (nothing written). */
  result: 'captured' | 'replaced' | 'unchanged';
}

/** The fix for a capture a rollback cannot use, named in every refusal. */
export function captureFix(release: string, chartVersion: string): string {
  return `capture the files of chart ${chartVersion} again (helm upgrade's pipeline: helm schema-rollback capture ${release} --source DIR --replace), ` +
    'or give the rollback the files itself with --source DIR|FILE.tar.gz|URL';
}

/**
 * Release states a capture is taken in: deployed, and the pending states a chart's own
 * post-install/post-upgrade hook runs in (Helm marks the revision deployed only after its hooks).
 */
const CAPTURABLE = ['deployed', 'pending-install', 'pending-upgrade'];

/** Captures the migration files of the chart version the release runs now (or is deploying, from a hook). */
export async function captureSource(deps: CaptureDeps, opts: CaptureOptions): Promise<CaptureOutcome> {
  const release = await inStep(opts.progress, `reading release ${opts.release}`, () => deps.helm.getRelease(opts.release), (r) => ({ detail: `chart ${r.chart} ${r.version}` }));
  if (!CAPTURABLE.includes(release.status)) {
    throw new RefusedError([`release ${release.name} revision ${release.revision} (chart ${release.version}) is ${release.status}, not deployed or being deployed: its chart version is not what runs`],
      `capture once the upgrade succeeded (helm upgrade ... && helm schema-rollback capture ${release.name} --source DIR)`);
  }
  const tracks = resolveContract(release, opts.overrides, deps.tools).tracks.map((t) => t.name).sort();
  const source = deps.openSource(tracks);
  const content = await inStep(opts.progress, `reading the migration files of ${tracks.length === 1 ? `track ${tracks[0]}` : `tracks ${tracks.join(', ')}`}`, () => readContent(source, release, tracks),
    (c) => ({ detail: `${countFiles(c)} files` }));
  const sha256 = deps.captured.checksum(content);
  const existing = await deps.captured.read(release.name, release.version);
  const intact = existing && !existing.damage && existing.actualSha256 === existing.record.sha256;
  if (existing && intact && existing.record.sha256 === sha256) return { record: existing.record, result: 'unchanged' };
  if (existing && !opts.replace) {
    const what = intact ? `other files (sha256 ${existing.record.sha256.slice(0, 12)}…, captured ${existing.record.capturedAt} by ${existing.record.capturedBy})` : `a damaged copy (${existing.damage ?? 'its checksum does not match its content'})`;
    throw new RefusedError([`release ${release.name} already has down files captured for chart ${release.version}: ${what}; these are sha256 ${sha256.slice(0, 12)}…`],
      `check that ${source.origin} holds chart ${release.version}'s migrations, then pass --replace to overwrite the capture; nothing was changed`);
  }
  const record = await inStep(opts.progress, `storing the files in namespace ${release.namespace}`,
    () => deps.captured.write(content, { capturedAt: opts.now().toISOString(), capturedBy: opts.holder, origin: source.origin }, existing?.record),
    (r) => ({ detail: `${r.objects.length} object${r.objects.length === 1 ? '' : 's'}` }));
  return { record, result: existing ? 'replaced' : 'captured' };
}

async function readContent(source: TrackFilesReader, release: ReleaseInfo, tracks: string[]): Promise<CapturedContent> {
  const content: CapturedContent = { release: release.name, chartVersion: release.version, tracks: {} };
  const empty: string[] = [];
  for (const track of tracks) {
    const { origin, files } = await source.files(track);
    if (files.length === 0) empty.push(`track ${track}: no migration files in ${origin}`);
    content.tracks[track] = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => ({ name: f.name, body: f.body }));
  }
  if (empty.length > 0) {
    throw new RefusedError(empty, `give --source the migrations of chart ${release.version} (one subdirectory per track when there are several); nothing was changed`);
  }
  return content;
}

export const countFiles = (c: CapturedContent): number => Object.values(c.tracks).reduce((n, files) => n + files.length, 0);

/**
 * The captured files a rollback of `release` (the deployed revision it plans from) may run: the
 * capture of its chart version, whole, its checksum matching its content, the content naming this
 * release and version, and holding every track. Undefined when there is no capture of that version;
 * RefusedError (every problem, and the fix) when there is one it cannot trust.
 */
export function trustedCapture(found: FoundCapture | undefined, release: Pick<ReleaseInfo, 'name' | 'version'>, tracks: readonly string[]): { record: CaptureRecord; content: CapturedContent } | undefined {
  if (!found) return undefined;
  const { record, content } = found;
  const where = `the down files captured for chart ${release.version} of release ${release.name} (${record.objects.join(', ')})`;
  const problems: string[] = [];
  if (found.damage) problems.push(`${where} cannot be read whole: ${found.damage}`);
  else if (found.actualSha256 !== record.sha256) {
    problems.push(`${where} do not match their checksum: sha256 ${found.actualSha256} of the content, ${record.sha256} recorded at capture: changed or damaged since`);
  }
  if (record.chartVersion !== release.version) problems.push(`${where} say they are chart ${record.chartVersion}'s, and the release runs ${release.version}`);
  if (content && (content.chartVersion !== release.version || content.release !== release.name)) {
    problems.push(`${where} hold the files of release ${content.release} chart ${content.chartVersion}, and the rollback is of release ${release.name} chart ${release.version}`);
  }
  const missing = content ? tracks.filter((t) => !(t in content.tracks)) : [];
  if (missing.length > 0) problems.push(`${where} have no files for track${missing.length === 1 ? '' : 's'} ${missing.join(', ')} (captured: ${Object.keys(content!.tracks).join(', ')})`);
  if (problems.length > 0 || !content) throw new RefusedError(problems, `${captureFix(release.name, release.version)}; nothing was changed`);
  return { record, content };
}

/** One line for the plan: where the down files come from. */
export function describeCapture(record: CaptureRecord): string {
  return `captured in-cluster for ${record.chartVersion} at ${record.capturedAt} by ${record.capturedBy}, sha256 ${record.sha256.slice(0, 12)}… (${record.files} files from ${record.origin}; ${record.objects.length === 1 ? `Secret ${record.objects[0]}` : `Secrets ${record.objects[0]} .. ${record.objects.at(-1)}`})`;
}
