/**
 * Turns a release's chart annotations plus the user's flags into the tracks and run settings one
 * command works with. Flags win over annotations, so charts that are not annotated yet can still be
 * handled (LlamaCloud, OpenKAT today) and a wrong annotation can be corrected on the spot.
 */
import { BASE, DEFAULT_TRACK, parseContract, type RunSpec, type Track } from './contract.js';
import { ContractInvalidError, ContractMissingError, ForwardOnlyError, UsageError } from './errors.js';
import type { HelmPort, ReleaseInfo, ToolRegistry } from './ports.js';
import { chartFullname, renderTemplate } from './template.js';

/** Contract settings given on the command line. */
export interface ContractOverrides {
  /** Which track the track-level flags apply to, when the chart has several. */
  track?: string;
  tool?: string;
  revision?: string;
  table?: string;
  schema?: string;
  /** The track's down command (argv with placeholders), already parsed. */
  command?: string[];
  workload?: string;
  container?: string;
  databaseUrlEnv?: string;
  /** Workloads (KIND/NAME templates) to scale to 0 before the downs; replaces the contract's list. */
  stop?: string[];
}

/** A track whose expected revision may be unknown (a chart without annotations, no --revision). */
export type TrackSpec = Omit<Track, 'revision'> & { revision?: string };

export interface ResolvedContract {
  source: 'annotations' | 'flags' | 'annotations and flags';
  tracks: TrackSpec[];
  run: RunSpec;
}

const TRACK_FLAGS = ['tool', 'revision', 'table', 'schema', 'command'] as const;
const RUN_FLAGS = ['workload', 'container', 'databaseUrlEnv', 'stop'] as const;

export function resolveContract(release: ReleaseInfo, overrides: ContractOverrides, tools: ToolRegistry): ResolvedContract {
  const where = `chart ${release.chart} ${release.version} (release ${release.name})`;
  const parsed = parseContract(release.annotations, where);
  // No version table to read, no downs to run: the forward-only path (src/core/forward-only.ts) takes it.
  if (parsed?.forwardOnly) throw new ForwardOnlyError(where, parsed.forwardOnly.engine);
  const trackFlags = TRACK_FLAGS.filter((k) => overrides[k] !== undefined);
  const runFlags = RUN_FLAGS.filter((k) => overrides[k] !== undefined);
  if (!parsed && !overrides.tool) throw new ContractMissingError(where);

  let tracks: TrackSpec[] = parsed ? parsed.tracks : [];
  if (!parsed) {
    tracks = [{ name: overrides.track ?? DEFAULT_TRACK, ...definedOnly(overrides, TRACK_FLAGS), tool: overrides.tool! }];
  } else if (trackFlags.length > 0) {
    const target = pickTrack(tracks, overrides.track);
    tracks = tracks.map((t) => (t === target ? { ...t, ...definedOnly(overrides, TRACK_FLAGS) } : t));
  }
  // A revision from --revision is a bad flag (exit 2); one from the annotations a broken contract (exit 5).
  const flagged = overrides.revision === undefined ? undefined : (parsed ? pickTrack(tracks, overrides.track) : tracks[0]);
  if (flagged) {
    const [problem] = revisionProblems([flagged], tools);
    if (problem) throw new UsageError(`--revision ${problem}`, { hint: `give the revision as ${flagged.tool} stores it in its version table` });
  }
  const problems = revisionProblems(tracks.filter((t) => t !== flagged), tools);
  if (problems.length > 0) throw new ContractInvalidError(where, problems);
  const run: RunSpec = { ...(parsed?.run ?? { stop: [] }), ...definedOnly(overrides, RUN_FLAGS) };
  for (const ref of overrides.stop ?? []) {
    if (!/^[A-Za-z]+\/\S+$/.test(ref)) throw new UsageError(`--stop "${ref}" is not KIND/NAME`, { hint: 'e.g. --stop deployment/my-app (repeat the flag for several workloads)' });
  }
  const anyFlag = trackFlags.length + runFlags.length > 0;
  return { source: !parsed ? 'flags' : anyFlag ? 'annotations and flags' : 'annotations', tracks, run };
}

/**
 * Each track's revision checked with its tool's rules ("008" is not a golang-migrate revision: the
 * tool stores 8): one line per problem, naming the track. A revision in another form would never
 * equal what the version table holds, so a plan built on it could not be verified.
 */
export function revisionProblems(tracks: ReadonlyArray<Pick<TrackSpec, 'name' | 'tool' | 'revision'>>, tools: ToolRegistry): string[] {
  return tracks.flatMap((track) => {
    const tool = tools.get(track.tool);
    const problem = track.revision === undefined || track.revision === BASE ? undefined : tool.checkRevision(track.revision);
    return problem ? [`track ${track.name}: revision "${track.revision}" is not a ${tool.name} revision: ${problem}`] : [];
  });
}

function pickTrack(tracks: TrackSpec[], name: string | undefined): TrackSpec {
  if (name !== undefined) {
    const found = tracks.find((t) => t.name === name);
    if (!found) throw new UsageError(`no track "${name}" in the chart`, { hint: `tracks: ${tracks.map((t) => t.name).join(', ')}` });
    return found;
  }
  if (tracks.length !== 1) {
    throw new UsageError('the chart has several tracks: say which one --tool/--revision/--table/--schema/--command apply to', {
      hint: `add --track NAME (one of ${tracks.map((t) => t.name).join(', ')})`,
    });
  }
  return tracks[0]!;
}

function definedOnly<K extends keyof ContractOverrides>(o: ContractOverrides, keys: readonly K[]): Partial<Pick<ContractOverrides, K>> {
  const out: Partial<Pick<ContractOverrides, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * Renders a name template for this release. The release's computed values are fetched only when
 * the template needs {{ .Fullname }} (it honours fullnameOverride / nameOverride).
 */
export async function renderName(
  template: string,
  release: ReleaseInfo,
  helm: HelmPort,
  extra: Readonly<Record<string, string>> = {},
): Promise<string> {
  const values = template.includes('.Fullname') ? await helm.getValues(release.name) : undefined;
  return renderTemplate(template, { ...extra, ...nameVars(release, values) });
}

/**
 * The release's name placeholders ({{ .Release.Name }}, ...), with {{ .Fullname }} when the
 * release's computed values are given: what a plan renders its names and commands with, purely.
 */
export function nameVars(release: ReleaseInfo, values?: Record<string, unknown>): Record<string, string> {
  return {
    'Release.Name': release.name,
    'Release.Namespace': release.namespace,
    'Chart.Name': release.chart,
    ...(values ? { Fullname: chartFullname(release.name, release.chart, values) } : {}),
  };
}
