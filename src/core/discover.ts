/**
 * Discovering the revision a chart version expects when the chart does not say (no
 * schema-rollback.io annotations yet, LlamaCloud today). The runbook's way is to pull that
 * version's image on a laptop and run `alembic heads` in it, which takes minutes; here the cluster
 * does it: the target version is rendered with the release's values (`helm template`), the
 * migrating workload's pod template (image, env, volumes) is taken from the render, and a short Job
 * from it runs the tool's heads command. The answer is cached per chart version, track, image and
 * command, so the next plan does not run the Job again.
 */
import { ClusterError, DiscoveryError, RollbackError } from './errors.js';
import type { ChartRenderPort, DiscoveryCachePort, KubeObject, Log, ProbePort, ReleaseInfo, ToolRegistry } from './ports.js';
import type { TrackSpec } from './resolve.js';

export interface DiscoveryDeps {
  helm: ChartRenderPort;
  probe: ProbePort;
  discoveryCache: DiscoveryCachePort;
  tools: ToolRegistry;
  log: Log;
}

export interface DiscoveryRequest {
  release: ReleaseInfo;
  /** The target chart: reference (repo/chart, oci://, path), name and version. */
  target: { ref: string; name: string; version: string };
  /** The rendered KIND/NAME of the workload that runs the tool (the same name in the target's render). */
  workload: string | undefined;
  container: string | undefined;
  /** The user's helm flags; their values flags also shape the render, as they will shape the upgrade. */
  extraHelmArgs: string[];
  /** Fills a command argument's placeholders ({{ .Track }}, {{ .Fullname }}, ...) for a track, as down commands are. */
  renderArg(arg: string, track: TrackSpec): Promise<string>;
}

export interface DiscoveredRevision {
  revision: string;
  /** The image the heads command ran in (or would have: a cache hit runs nothing). */
  image: string;
  /** The heads command, rendered. */
  command: string[];
  cached: boolean;
}

/** kubectl's short names and plurals, so that deploy/x and deployments/x find a rendered Deployment. */
const KIND_ALIASES: Record<string, string> = {
  deploy: 'deployment', deployments: 'deployment', sts: 'statefulset', statefulsets: 'statefulset', ds: 'daemonset', daemonsets: 'daemonset',
  rs: 'replicaset', replicasets: 'replicaset', jobs: 'job', cj: 'cronjob', cronjobs: 'cronjob',
};

const canonicalKind = (kind: string): string => KIND_ALIASES[kind.toLowerCase()] ?? kind.toLowerCase();

/**
 * Discovers every track's target revision from one render. Tracks whose tool has no heads command
 * cannot be discovered; the error names them and the flag that gives their revision instead.
 */
export async function discoverTargetRevisions(deps: DiscoveryDeps, request: DiscoveryRequest, tracks: readonly TrackSpec[]): Promise<Map<string, DiscoveredRevision>> {
  const { target } = request;
  const chart = `${target.name} ${target.version}`;
  const giveIt = (track: string) => `give it with --target-revision REV${tracks.length > 1 ? ` --track ${track}` : ''}, or annotate the chart (helm schema-rollback annotate)`;
  const commands = [];
  for (const track of tracks) {
    const tool = deps.tools.get(track.tool);
    const heads = tool.offers.image?.heads;
    const raw = heads?.command(track.command);
    if (!heads || !raw) {
      throw new DiscoveryError(`chart ${chart} does not say which ${track.tool} revision it expects for track ${track.name}, and the plugin cannot discover ${track.tool} heads in an image${heads ? ` from the track's command (${track.command?.join(' ')}: no "downgrade" in it)` : ''}`, { hint: giveIt(track.name) });
    }
    commands.push({ track, tool, headsCommand: heads, command: await Promise.all(raw.map((arg) => request.renderArg(arg, track))) });
  }
  if (!request.workload) {
    throw new DiscoveryError(`chart ${chart} does not say which revision it expects, and no workload is named to discover it from`, {
      hint: `name the workload that runs the migrations with --workload KIND/NAME (its image in ${target.version} is asked for its heads), or ${giveIt(tracks[0]!.name)}`,
    });
  }
  const workload = await renderedWorkload(deps, request, chart);
  const image = containerImage(workload, request.container, request.workload, chart);
  const found = new Map<string, DiscoveredRevision>();
  for (const { track, tool, headsCommand, command } of commands) {
    // The image is part of the key: a release whose values pin another image tag gets its own answer.
    const key = JSON.stringify([target.name, target.version, track.name, image, command]);
    const hit = await deps.discoveryCache.get(key);
    if (hit !== undefined && tool.checkRevision(hit) === undefined) {
      deps.log.debug(`discovery: ${chart} track ${track.name}: ${hit} (cached)`);
      found.set(track.name, { revision: hit, image, command, cached: true });
      continue;
    }
    let lines: string[];
    try {
      lines = await deps.probe.probe(workload, request.container, command, track.name);
    } catch (err) {
      throw new DiscoveryError(`cannot discover the ${track.tool} revision of chart ${chart} (track ${track.name}): ${command.join(' ')} in ${image} failed: ${err instanceof Error ? err.message : String(err)}`, {
        hint: giveIt(track.name),
        cause: err,
      });
    }
    const heads = headsCommand.parse(lines);
    if (heads.length !== 1) {
      const said = heads.length === 0 ? `printed no head${lines.length ? ` (last output: ${lines[lines.length - 1]})` : ''}` : `printed several heads (${heads.join(', ')}): that version's migrations are on several branches, and one track lands on one revision`;
      throw new DiscoveryError(`cannot discover the ${track.tool} revision of chart ${chart} (track ${track.name}): ${command.join(' ')} in ${image} ${said}`, { hint: giveIt(track.name) });
    }
    const revision = heads[0]!;
    const problem = tool.checkRevision(revision);
    if (problem) throw new DiscoveryError(`${command.join(' ')} in ${image} printed "${revision}": ${problem}`, { hint: giveIt(track.name) });
    await deps.discoveryCache.set(key, revision);
    found.set(track.name, { revision, image, command, cached: false });
  }
  return found;
}

async function renderedWorkload(deps: DiscoveryDeps, request: DiscoveryRequest, chart: string): Promise<KubeObject> {
  const [kind, name] = request.workload!.split('/', 2) as [string, string];
  let manifests: KubeObject[];
  try {
    manifests = await deps.helm.renderChart({ release: request.release.name, chart: request.target.ref, version: request.target.version, extra: request.extraHelmArgs });
  } catch (err) {
    if (err instanceof ClusterError || !(err instanceof RollbackError)) throw err;
    throw new DiscoveryError(`cannot render chart ${chart} with the release's values to find its ${request.workload}: ${err.message}`, {
      hint: 'give the target revision with --target-revision REV, or fix what helm template says',
      cause: err,
    });
  }
  const found = manifests.find((o) => o.kind !== undefined && canonicalKind(o.kind) === canonicalKind(kind) && o.metadata?.name === name);
  if (!found) {
    const workloads = manifests.filter((o) => ['deployment', 'statefulset', 'daemonset', 'job', 'cronjob'].includes(canonicalKind(o.kind ?? ''))).map((o) => `${o.kind!.toLowerCase()}/${o.metadata.name}`);
    throw new DiscoveryError(`chart ${chart}, rendered with the release's values, has no ${request.workload}`, {
      hint: `its workloads: ${workloads.join(', ') || 'none'}; name the one that runs the migrations with --workload, or give the revision with --target-revision REV`,
    });
  }
  return found;
}

function containerImage(workload: KubeObject, container: string | undefined, ref: string, chart: string): string {
  const spec = workload.spec as { template?: { spec?: PodSpecLike }; jobTemplate?: { spec?: { template?: { spec?: PodSpecLike } } } } | undefined;
  const pod = spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec;
  const containers = pod?.containers ?? [];
  const chosen = container === undefined ? containers[0] : containers.find((c) => c.name === container);
  if (!chosen?.image) {
    throw new DiscoveryError(`${ref} in chart ${chart} has no container ${container === undefined ? 'with an image' : `named "${container}"`}`, {
      hint: `containers: ${containers.map((c) => c.name).join(', ') || 'none'}; choose one with --container`,
    });
  }
  return chosen.image;
}

interface PodSpecLike {
  containers?: Array<{ name: string; image?: string }>;
}
