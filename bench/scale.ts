/**
 * Scale (issue 12, item 5): plan time and peak RSS as the inputs grow, through real Helm 4.1
 * against the Kubernetes API double and PostgreSQL 17. Each case is a `--dry-run` plan (the whole
 * plan: release, both charts' contracts, the version table, the down files, the data at risk, the
 * trust checks; nothing changed), all cases in one hyperfine invocation (median of RUNS runs after
 * WARMUP warm-ups, so the plugin's caches are warm):
 *   - a source of S migrations, all S reverted (SIZES, default 1000,5000,10000): golang-migrate
 *     files, each version one small table, the database migrated up to it;
 *   - a repository index of M chart versions (INDEX_SIZES, default 1000,5000) holding the release's
 *     chart (10 reverts), every other entry a full copy of the real one under another version.
 * Growth is held to linear: the median at the largest size over the smallest must not exceed the
 * sizes' ratio (scale-migrations-time, scale-index-time). Peak RSS is the plugin process's own
 * (its bundle run once per case by the same Node with bench/profile-hooks.cjs: the SEA binary
 * takes no --require), held under 200 MB (scale-peak-rss: the largest over 200 MB ≤ 1).
 * Writes bench/results/scale.md, scale.json and the ratios.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startChartRepo, type ChartRepo } from '../test/harness/chart-repo.js';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { freshDatabase, type FreshDatabase } from '../test/harness/postgres.js';
import { startWorld, type World } from '../test/harness/world.js';
import { golangMigrate } from './sql-file-tools.js';
import { assertExitCodes, childrenWall, hyperfine, machine, pluginEnvironment, quote, reportedSteps, RESULTS, runBench, runBundle, RUNS, shell, valueRatio, WARMUP, writeResults } from './lib.js';

const sizes = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').map(Number).sort((a, b) => a - b);
const SIZES = sizes('SIZES', '1000,5000,10000');
const INDEX_SIZES = sizes('INDEX_SIZES', '1000,5000');
const NS = 'scale';
const RSS_LIMIT_MB = 200;
const INDEX_REVERTS = 10;

interface Case {
  /** hyperfine's -n name. */
  name: string;
  release: string;
  source: string;
  size: number;
}

/** A chart directory NAME-VERSION (the kagent fixture's templates) with one golang-migrate track at `revision`. */
function chartDir(world: World, work: string, name: string, version: string, revision: number): string {
  const dir = join(work, 'charts', `${name}-${version}`);
  const fixture = join(world.repo.dir, '..', 'charts', 'kagent-0.9.0');
  mkdirSync(dir, { recursive: true });
  cpSync(join(fixture, 'templates'), join(dir, 'templates'), { recursive: true });
  cpSync(join(fixture, 'values.yaml'), join(dir, 'values.yaml'));
  writeFileSync(join(dir, 'Chart.yaml'), [
    'apiVersion: v2', `name: ${name}`, `version: ${version}`, `appVersion: "${version}"`, 'annotations:',
    '  schema-rollback.io/tracks: |',
    '    - name: core', '      tool: golang-migrate', `      revision: "${revision}"`,
    '  schema-rollback.io/workload: deployment/{{ .Fullname }}-controller',
    '  schema-rollback.io/container: controller',
    '  schema-rollback.io/database-url-env: POSTGRES_DATABASE_URL',
    '  schema-rollback.io/stop: deployment/{{ .Fullname }}-controller',
    '',
  ].join('\n'));
  return dir;
}

/** The migrations directory of versions 1..last, and a database migrated up to `last`. */
async function migrated(work: string, last: number): Promise<{ source: string; db: FreshDatabase }> {
  const source = join(work, `migrations-${last}`);
  mkdirSync(join(source, 'core'), { recursive: true });
  for (const f of golangMigrate.files(last)) writeFileSync(join(source, 'core', f.name), f.body);
  const db = await freshDatabase(17);
  writeFileSync(join(work, `up-${last}.sql`), golangMigrate.migrateUp(last));
  await shell(`psql -X -q -v ON_ERROR_STOP=1 -f ${quote(join(work, `up-${last}.sql`))} "$DATABASE_URL" >/dev/null`, { ...process.env, DATABASE_URL: db.url });
  return { source, db };
}

/** Rewrites `repo`'s index with `total` versions of `chart`: the real ones, and copies of the newest under other versions. */
function inflateIndex(repo: ChartRepo, chart: string, total: number): void {
  const file = join(repo.dir, 'index.yaml');
  const index = parse(readFileSync(file, 'utf8')) as { entries: Record<string, Array<Record<string, unknown>>> };
  const real = index.entries[chart]!;
  const model = real[0]!;
  for (let k = 0; real.length < total; k++) {
    const version = `0.${Math.floor(k / 100)}.${k % 100}`;
    real.push({ ...model, version, appVersion: version, digest: k.toString(16).padStart(64, '0'), urls: [`${repo.url}/${chart}-${version}.tgz`] });
  }
  writeFileSync(file, stringify(index));
}

async function main(): Promise<boolean> {
  const world = await startWorld(helm4, 'hsr-bench-scale-');
  const work = makeTempDir('hsr-bench-scale-work-');
  const dbs: FreshDatabase[] = [];
  const repos: ChartRepo[] = [];
  let pass = true;
  try {
    const cases: Case[] = [];
    const helm = (args: string[]) => world.helmOk(args);
    // A source of S migrations: chart versions 1.0.0 (revision 1) and 2.S.0 (revision S+1) of chart kagent.
    await world.repo.publish([chartDir(world, work, 'kagent', '1.0.0', 1), ...SIZES.map((s) => chartDir(world, work, 'kagent', `2.${s}.0`, s + 1))].map((path) => ({ path })));
    await helm(['repo', 'update', 'fixtures']);
    for (const s of SIZES) {
      console.log(`bench: a source of ${s} migrations: migrating a database up`);
      const { source, db } = await migrated(work, s + 1);
      dbs.push(db);
      await helm(['install', `mig-${s}`, 'fixtures/kagent', '--version', `2.${s}.0`, '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`]);
      cases.push({ name: `plan, a source of ${s} migrations (${s} reverted)`, release: `mig-${s}`, source, size: s });
    }
    // An index of M versions: chart bulkM in its own repository bigM, the release 10 reverts ahead.
    const small = await migrated(work, INDEX_REVERTS + 1);
    dbs.push(small.db);
    for (const m of INDEX_SIZES) {
      const chart = `bulk${m}`;
      const repo = await startChartRepo(join(work, `repo-${m}`), [
        { path: chartDir(world, work, chart, '1.0.0', 1) }, { path: chartDir(world, work, chart, '2.0.0', INDEX_REVERTS + 1) },
      ]);
      repos.push(repo);
      inflateIndex(repo, chart, m);
      await helm(['repo', 'add', `big${m}`, repo.url]);
      await helm(['install', `idx-${m}`, `big${m}/${chart}`, '--version', '2.0.0', '-n', NS, '--create-namespace', '--set', `database.url=${small.db.url}`]);
      cases.push({ name: `plan, a repository index of ${m} versions`, release: `idx-${m}`, source: small.source, size: m });
    }

    const planArgs = (c: Case) => [c.release, '--to', '1.0.0', '--source', c.source, '--dry-run'];
    const json = join(RESULTS, 'scale.json');
    const md = join(work, 'hyperfine.md');
    await hyperfine([
      '-N', '--export-json', json, '--export-markdown', md,
      ...cases.flatMap((c) => ['-n', c.name, [world.plugin.helmBin, '-n', NS, 'schema-rollback', ...planArgs(c)].map(quote).join(' ')]),
    ], { ...process.env, ...world.plugin.env });
    assertExitCodes(json, {});
    const medians = new Map((JSON.parse(readFileSync(json, 'utf8')) as { results: Array<{ command: string; median: number }> }).results.map((r) => [r.command, r.median]));

    // Peak RSS: the plugin's own, one run per case (caches warm, as in the timed runs).
    const env = await pluginEnvironment(world.plugin.helmBin, { ...process.env, ...world.plugin.env }, NS);
    const rss = new Map<string, number>();
    const where: string[] = [];
    for (const c of cases) {
      const dir = join(work, `rss-${c.release}`);
      mkdirSync(dir, { recursive: true });
      const run = await runBundle(planArgs(c), env, dir, process.env['HEAP_PROF_DIR'] ? ['--heap-prof', `--heap-prof-dir=${join(process.env['HEAP_PROF_DIR'], c.release)}`] : []);
      rss.set(c.name, run.maxRssKb / 1024);
      where.push(`- ${c.name}: ${Math.round(run.wallMs)} ms in all, ${Math.round(childrenWall(run))} ms of it waiting for ${run.children.length} helm/kubectl processes; steps: ${reportedSteps(dir).join('; ')}`);
    }

    const growth = (label: string, name: string, of: Case[]) => {
      const [first, last] = [of[0]!, of.at(-1)!];
      pass = valueRatio({
        name, plugin: last.name, baseline: first.name, pluginValue: medians.get(last.name)!, baselineValue: medians.get(first.name)!,
        target: last.size / first.size, unit: 's', runs: RUNS,
      }) && pass;
      return `${label}: ${first.size} -> ${last.size} (${last.size / first.size}×) took ${(medians.get(last.name)! / medians.get(first.name)!).toFixed(2)}× the time`;
    };
    const lines = [
      growth('migrations', 'scale-migrations-time', cases.filter((c) => c.release.startsWith('mig-'))),
      growth('index', 'scale-index-time', cases.filter((c) => c.release.startsWith('idx-'))),
    ];
    const peak = [...rss].reduce((a, b) => (b[1] > a[1] ? b : a));
    pass = valueRatio({ name: 'scale-peak-rss', plugin: `peak RSS, ${peak[0]}`, baseline: 'the limit (issue 12)', pluginValue: peak[1], baselineValue: RSS_LIMIT_MB, target: 1, unit: 'MB', runs: 1 }) && pass;
    writeResults(join(RESULTS, 'scale.md'), 'Plan time and peak RSS as the inputs grow', [
      `${machine()}; Helm ${(await helm(['version', '--template', '{{.Version}}'])).stdout.trim()}, the Kubernetes API double, PostgreSQL 17;`
        + ` ${RUNS} runs after ${WARMUP} warm-up(s), no shell (\`-N\`). Each case a \`--dry-run\` plan.`,
      '',
      '| case | median plan time | peak RSS of the plugin |', '|:---|---:|---:|',
      ...cases.map((c) => `| ${c.name} | ${(medians.get(c.name)! * 1000).toFixed(0)} ms | ${rss.get(c.name)!.toFixed(0)} MB |`),
      '',
      ...lines.map((l) => `- ${l}`),
      '',
      'Where the time goes, from the peak-RSS run of each case (the bundle with bench/profile-hooks.cjs):',
      '',
      ...where,
    ], md);
  } finally {
    for (const r of repos) await r.close();
    await world.close();
    for (const d of dbs) await d.drop().catch(() => undefined);
  }
  return pass;
}

runBench(main);
