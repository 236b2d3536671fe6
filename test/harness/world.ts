/**
 * Everything an end-to-end scenario stands on, started together: a fresh PostgreSQL 17 database,
 * the Kubernetes API double (or a real cluster), a chart repository on loopback publishing every
 * version of the kagent fixture chart (or the charts asked for; added to helm as "fixtures"), and the built plugin installed
 * into an isolated real Helm. Used by test/e2e and the demo.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureBinary } from './build.js';
import { startChartRepo, type ChartRepo } from './chart-repo.js';
import { FIXTURE_CHARTS, materializeChartVersions } from './charts.js';
import { startCluster, type Cluster } from './cluster.js';
import { installPlugin, makeTempDir, stagePluginDir, type InstalledPlugin, type RunResult } from './plugin.js';
import { migrateKagent09 } from './golang-migrate-up.js';
import { freshDatabase, type FreshDatabase, type PgMajor } from './postgres.js';

export interface World {
  db: FreshDatabase;
  cluster: Cluster;
  repo: ChartRepo;
  plugin: InstalledPlugin;
  /** Runs helm with the plugin's environment; throws with helm's output unless it exits 0. */
  helmOk(args: string[]): Promise<RunResult>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** The fake kubelet's image map (image name → fixture directory), for scenarios that run pods; ignored against a real cluster. */
  images?: Record<string, string>;
  /** The fixture charts (test/fixtures/charts/NAME) the repository publishes, every version of each; default ['kagent']. */
  charts?: string[];
  /** The PostgreSQL major of the world's database; default 17. */
  pgMajor?: PgMajor;
}

export async function startWorld(helmBin: string, prefix = 'hsr-world-', opts: WorldOptions = {}): Promise<World> {
  const dir = makeTempDir(prefix);
  const [db, cluster] = await Promise.all([freshDatabase(opts.pgMajor ?? 17), startCluster({ dir, images: opts.images })]);
  const charts = (opts.charts ?? ['kagent']).flatMap((name) => materializeChartVersions(join(FIXTURE_CHARTS, name), join(dir, 'charts')));
  const repo = await startChartRepo(join(dir, 'repo'), charts.map((path) => ({ path })));
  const staged = stagePluginDir(ensureBinary());
  const plugin = await installPlugin(helmBin, staged, { env: cluster.env });
  const helmOk = async (args: string[]): Promise<RunResult> => {
    const r = await plugin.helm(args);
    if (r.exitCode !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} exited ${r.exitCode}:\n${r.stdout}${r.stderr}`);
    return r;
  };
  await helmOk(['repo', 'add', 'fixtures', repo.url]);
  return {
    db, cluster, repo, plugin, helmOk,
    async close() {
      await plugin.cleanup();
      await repo.close();
      await cluster.close();
      await db.drop();
      // The staged plugin (a 105 MiB copy of the binary) and the world's files, at once: a suite
      // starts dozens of worlds (the root hook removes whatever is left at the end).
      if (process.env.KEEP_E2E_TMP !== '1') for (const d of [dirname(staged), dir]) rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * A world with chart kagent 0.9.0 installed as release kagent in namespace `namespace` (controller at
 * 2 replicas) and its database migrated up by the 0.9.0 controller (core 13, vector 3, user rows):
 * where most rollback scenarios start.
 */
export async function startKagentWorld(helmBin: string, prefix: string, namespace = 'ai', opts: Pick<WorldOptions, 'pgMajor' | 'images'> = {}): Promise<World> {
  const world = await startWorld(helmBin, prefix, opts);
  await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', namespace, '--create-namespace', '--set', `database.url=${world.db.url}`, '--set', 'replicaCount=2']);
  await migrateKagent09(world.db.url);
  return world;
}
