/**
 * One end-to-end rollback scenario for mocha: a world (test/harness/world.ts) whose fake kubelet
 * plays the given images, a release of a fixture chart installed in its namespace, its database
 * prepared as the release's app would leave it; stopped after the describe block. Each e2e file
 * says what its release is; this module says once how such a world is set up and looked at.
 */
import assert from 'node:assert/strict';
import type { KubeObject } from '../kube/index.js';
import { requireDouble } from './cluster.js';
import { kubectl, run, type helmVersions, type InstalledPlugin, type RunResult } from './plugin.js';
import type { FreshDatabase, PgMajor } from './postgres.js';
import { startWorld, type World } from './world.js';

const JOB = { apiVersion: 'batch/v1', kind: 'Job' };
const OURS = 'app.kubernetes.io/managed-by=helm-schema-rollback';

export interface ScenarioOptions {
  helm: (typeof helmVersions)[number];
  /** The temp directory's prefix. */
  prefix: string;
  namespace: string;
  release: string;
  /** Fixture chart name (published as fixtures/NAME) and the version installed. */
  chart: string;
  version: string;
  /** Extra flags for helm install (values); database.url is always set. */
  installArgs: string[];
  /** The fake kubelet's image map, read when the world starts (so a scenario can hand in a broken copy). */
  images(): Record<string, string>;
  /** Why the scenario needs the double's fake kubelet (skipped against a real cluster). */
  needsDouble: string;
  /** The Deployment replicas() reads when given no name. */
  deployment: string;
  /** The world database's PostgreSQL major; default the world's (17). */
  pgMajor?: PgMajor;
  /** Skips the scenario when a tool its images run is missing. */
  skipUnless?(ctx: Mocha.Context): void;
  /** Brings the database where the installed version's app leaves it (migrated, with user data). */
  prepare(url: string): Promise<void>;
}

export interface Scenario {
  world: World;
  db: FreshDatabase;
  plugin: InstalledPlugin;
  /** The fake kubelet's image map, live: a change applies to the next pod or exec. */
  images: Record<string, string>;
  /** `helm -n NS schema-rollback ARGS`. */
  sr(args: string[]): Promise<RunResult>;
  /** The Jobs the plugin made (and kept) in the namespace. */
  ourJobs(): KubeObject[];
  /** spec.replicas of a Deployment of the release (default: the options' deployment). */
  replicas(deployment?: string): Promise<string>;
  /** The release history's charts, oldest first. */
  history(): Promise<string[]>;
}

export function scenario(o: ScenarioOptions): Scenario {
  const s = {} as Scenario;
  before(async function () {
    o.skipUnless?.(this);
    s.world = await startWorld(o.helm.bin, o.prefix, { images: o.images(), charts: [o.chart], ...(o.pgMajor ? { pgMajor: o.pgMajor } : {}) });
    s.images = requireDouble(this, s.world.cluster, o.needsDouble).images;
    s.db = s.world.db;
    s.plugin = s.world.plugin;
    s.sr = (args) => s.plugin.helm(['-n', o.namespace, 'schema-rollback', ...args], { timeoutMs: 120_000 });
    s.ourJobs = () => s.world.cluster.double!.list(JOB, { namespace: o.namespace, labelSelector: OURS });
    s.replicas = async (deployment = o.deployment) =>
      (await run(kubectl, ['get', 'deployment', deployment, '-n', o.namespace, '-o', 'jsonpath={.spec.replicas}'], { env: s.plugin.env })).stdout;
    s.history = async () =>
      JSON.parse((await s.plugin.helm(['history', o.release, '-n', o.namespace, '-o', 'json'])).stdout).map((h: { chart: string }) => h.chart);
    await s.world.helmOk([
      'install', o.release, `fixtures/${o.chart}`, '--version', o.version, '-n', o.namespace, '--create-namespace', '--set', `database.url=${s.db.url}`, ...o.installArgs,
    ]);
    await o.prepare(s.db.url);
  });
  after(async () => {
    await s.world?.close();
  });
  return s;
}

/** Asserts that `needles` (strings or patterns) occur in `text` in this order. */
export function assertInOrder(text: string, needles: Array<string | RegExp>): void {
  let from = 0;
  for (const n of needles) {
    const rest = text.slice(from);
    const m = typeof n === 'string' ? { index: rest.indexOf(n), len: n.length } : ((x) => ({ index: x?.index ?? -1, len: x?.[0].length ?? 0 }))(n.exec(rest));
    assert.ok(m.index >= 0, `expected ${String(n)} after offset ${from} in:\n${text}`);
    from += m.index + m.len;
  }
}
