/**
 * Native downs against the psql floor (issue 12, item 3), measured with hyperfine in one invocation
 * (median of RUNS runs after WARMUP warm-ups) on real Helm 4.1, the Kubernetes API double and
 * PostgreSQL 17: a release whose current chart is DOWNS (default 1,000) versions ahead of its
 * target, each version one small table, rolled back by
 *   1. one psql session running every down body with the tool's own bookkeeping statements
 *      around it, and its lock around the whole (baseline: the floor; nothing planned, nothing
 *      checked, no hand-off)
 *   2. helm schema-rollback RELEASE --to 1.0.0 --source DIR --yes: the whole run, plan, trust
 *      checks, the native runner and the hand-off (helm upgrade) included
 * Before each run (--prepare, untimed) the database is recreated from a template taken after the
 * set-up and the release is upgraded back to the newer chart. Each way is first run once and
 * checked to leave the version table at the target. Target: plugin ≤ 1.2× the floor, per tool.
 *
 * One entry of TOOLS (bench/sql-file-tools.ts) per SQL-file tool: golang-migrate, goose, dbmate,
 * sql-migrate and node-pg-migrate (`TOOLS=goose npx tsx bench/native-downs.ts`, or
 * TOOLS=dbmate,sql-migrate,node-pg-migrate).
 *
 * PROFILE=1 also runs the plugin once more, profiled (see profile()), and writes
 * bench/results/native-downs-profile.md.
 * Writes bench/results/native-downs-TOOL.md, .json and ratios/native-downs-TOOL.json.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { query } from '../test/harness/postgres.js';
import { startWorld } from '../test/harness/world.js';
import { TOOLS, type SqlFileTool } from './sql-file-tools.js';
import { hyperfineMedian } from './ratios.mjs';
import { assertExitCodes, childrenWall, dropSnapshot, hyperfine, machine, pluginEnvironment, quote, ratio, reportedSteps, RESULTS, runBench, runBundle, RUNS, shell, snapshotDatabase, WARMUP, writeResults, type BundleRun } from './lib.js';

const DOWNS = Number(process.env['DOWNS'] ?? 1000);
const TARGET = 1.2;
const NS = 'bench';
const RELEASE = 'bench';
/** The chart versions: NEWER ships DOWNS versions more than OLDER. */
const OLDER = '1.0.0';
const NEWER = '2.0.0';

async function benchTool(t: SqlFileTool): Promise<boolean> {
  const last = DOWNS + 1;
  const target = 1;
  const world = await startWorld(helm4, `hsr-bench-native-${t.tool}-`);
  const work = makeTempDir('hsr-bench-native-work-');
  try {
    const { db, plugin } = world;
    // The charts: the kagent fixture's templates, one track of this tool at revision `target` (older) and `last` (newer).
    const charts = [OLDER, NEWER].map((version) => {
      const dir = join(work, `chart-${version}`);
      mkdirSync(dir, { recursive: true });
      return { dir, version };
    });
    await shell(charts.map(({ dir }) => `cp -r ${quote(join(world.repo.dir, '..', 'charts', 'kagent-0.9.0', 'templates'))} ${quote(join(world.repo.dir, '..', 'charts', 'kagent-0.9.0', 'values.yaml'))} ${quote(dir)}/`).join(' && '), process.env);
    for (const { dir, version } of charts) {
      writeFileSync(join(dir, 'Chart.yaml'), [
        'apiVersion: v2', 'name: kagent', `version: ${version}`, `appVersion: "${version}"`, 'annotations:',
        '  schema-rollback.io/tracks: |',
        `    - name: core`, `      tool: ${t.tool}`, `      revision: "${t.revision(version === NEWER ? last : target)}"`,
        '  schema-rollback.io/workload: deployment/{{ .Fullname }}-controller',
        '  schema-rollback.io/container: controller',
        '  schema-rollback.io/database-url-env: POSTGRES_DATABASE_URL',
        '  schema-rollback.io/stop: deployment/{{ .Fullname }}-controller',
        '',
      ].join('\n'));
    }
    await world.repo.publish(charts.map(({ dir }) => ({ path: dir })));
    await world.helmOk(['repo', 'update']);
    await world.helmOk(['install', RELEASE, 'fixtures/kagent', '--version', NEWER, '-n', NS, '--create-namespace', '--set', `database.url=${db.url}`]);
    const source = join(work, 'migrations');
    mkdirSync(join(source, 'core'), { recursive: true });
    for (const f of t.files(last)) writeFileSync(join(source, 'core', f.name), f.body);
    writeFileSync(join(work, 'up.sql'), t.migrateUp(last));
    const floorSql = join(work, 'floor.sql');
    writeFileSync(floorSql, t.floor(last, target, db.name));
    const env = { ...process.env, ...plugin.env, DATABASE_URL: db.url };
    await shell(`psql -X -q -v ON_ERROR_STOP=1 -f ${quote(join(work, 'up.sql'))} "$DATABASE_URL" >/dev/null`, env);

    const resetDb = await snapshotDatabase(db, work);
    const prepare = join(work, 'prepare.sh');
    writeFileSync(prepare, [
      '#!/usr/bin/env bash', 'set -euo pipefail', `bash ${quote(resetDb)}`,
      `helm -n ${NS} upgrade ${RELEASE} fixtures/kagent --version ${NEWER} --reset-then-reuse-values --force-conflicts >/dev/null`, '',
    ].join('\n'), { mode: 0o700 });
    const floorCmd = `psql -X -q -v ON_ERROR_STOP=1 -f ${quote(floorSql)} "$DATABASE_URL" >/dev/null`;
    const pluginCmd = `${quote(plugin.helmBin)} -n ${NS} schema-rollback ${RELEASE} --to ${OLDER} --source ${quote(source)} --yes >/dev/null 2>&1`;
    const check = async (name: string, cmd: string) => {
      await shell(`bash ${quote(prepare)} && ${cmd}`, env);
      const rows = await query(db.url, t.state);
      if (JSON.stringify(rows) !== JSON.stringify(t.expected(target))) throw new Error(`${name} left ${JSON.stringify(rows)} in ${t.versionTable}`);
      const [left] = await query<{ n: string }>(db.url, `SELECT count(*)::text AS n FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'bench\\_%'`);
      if (left!.n !== String(target)) throw new Error(`${name} left ${left!.n} bench tables, not ${target}`);
    };
    await check('the floor', floorCmd);
    await check('the plugin', pluginCmd);

    const json = join(RESULTS, `native-downs-${t.tool}.json`);
    const md = join(work, 'hyperfine.md');
    const floorName = `psql floor: ${DOWNS} downs with ${t.tool}'s bookkeeping (baseline)`;
    const ours = `helm schema-rollback --yes (${DOWNS} native downs)`;
    // Not in the ratio: what the copy of the data at risk (here DOWNS empty tables) costs.
    const noArchive = `helm schema-rollback --yes --no-archive (${DOWNS} native downs, no copy)`;
    // The least any run that checks its hand-off can take (issue 9: helm upgrade --dry-run=server
    // before the first down): the floor's downs, then helm starting the plugin, the check and the
    // hand-off, one after the other, with no plan, no stop and no copy at all.
    const upgrade = `${quote(plugin.helmBin)} -n ${NS} upgrade ${RELEASE} fixtures/kagent --version ${OLDER} --reset-then-reuse-values --force-conflicts`;
    const leastName = 'least of a checked run: the psql floor, helm starting the plugin, the hand-off check, the hand-off';
    const leastCmd = `bash -c ${quote(`${floorCmd} && ${quote(plugin.helmBin)} schema-rollback --version >/dev/null && ${upgrade} --dry-run=server >/dev/null && ${upgrade} >/dev/null`)}`;
    await hyperfine([
      '--export-json', json, '--export-markdown', md, '--prepare', `bash ${quote(prepare)}`,
      '-n', floorName, floorCmd, '-n', ours, pluginCmd, '-n', noArchive, pluginCmd.replace(' --yes ', ' --yes --no-archive '),
      '-n', leastName, leastCmd,
    ], env);
    assertExitCodes(json, {});
    const pass = ratio({ name: `native-downs-${t.tool}`, json, plugin: ours, baseline: floorName, target: TARGET });
    const [f, p, l] = [floorName, ours, leastName].map((name) => hyperfineMedian(json, name).median * 1000);
    if (process.env['PROFILE'] === '1') await profile(prepare, env, { ...plugin, source, target: OLDER });
    writeResults(join(RESULTS, `native-downs-${t.tool}.md`), `${DOWNS} native downs (${t.tool}) against the psql floor`, [
      `${machine()}; Helm ${(await world.helmOk(['version', '--template', '{{.Version}}'])).stdout.trim()}, the Kubernetes API double, PostgreSQL 17 (psql 15 client);`
        + ` ${RUNS} runs after ${WARMUP} warm-up(s), each after the database is recreated from its template and the release is back on ${NEWER}.`,
      '',
      `Chart ${NEWER} -> ${OLDER}, one track (${t.tool}) ${last} -> ${target}: ${DOWNS} down files, each dropping a small table.`,
      '',
      `The least a run that checks its hand-off can take (the floor, then helm starting the plugin, \`helm upgrade --dry-run=server\` and \`helm upgrade\`, nothing else)`
        + ` is ${l!.toFixed(0)} ms, ${(l! / f!).toFixed(2)}× the floor (target ${TARGET}×); the plugin is ${(p! / f!).toFixed(2)}× the floor, ${(p! / l!).toFixed(2)}× that least.`,
    ], md);
    return pass;
  } finally {
    await dropSnapshot(world.db).catch(() => undefined);
    await world.close();
  }
}

/**
 * The plugin once more, its bundle (build/cli.cjs, what the binary embeds) run by the same Node 24
 * with the environment helm gives a plugin, under `node --cpu-prof` and bench/profile-hooks.cjs
 * (every child process with its start and end). Writes bench/results/native-downs-profile.md:
 * where the wall time goes (children one after another, the CPU of the plugin's own code, the
 * rest: waiting on PostgreSQL) and the functions with the most CPU.
 */
async function profile(prepare: string, env: NodeJS.ProcessEnv, o: { helmBin: string; home: string; source: string; target: string }): Promise<void> {
  const dir = join(o.home, 'cpu-prof');
  mkdirSync(dir, { recursive: true });
  await shell(`bash ${quote(prepare)}`, env);
  const run = await runBundle([RELEASE, '--to', o.target, '--source', o.source, '--yes'], await pluginEnvironment(o.helmBin, env, NS), dir, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const prof = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  const steps = reportedSteps(dir);
  const lines = [
    `One run of ${DOWNS} native downs, the bundle under node --cpu-prof and bench/profile-hooks.cjs (${machine()}).`,
    '',
    ...profileSummary(run, prof === undefined ? undefined : JSON.parse(readFileSync(join(dir, prof), 'utf8'))),
    '', 'The steps as the plugin reports them (stderr):', '', '```', ...steps, '```',
  ];
  writeResults(join(RESULTS, 'native-downs-profile.md'), `Where the time of ${DOWNS} native downs goes`, lines);
}

interface CpuProfile { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] }

/** Wall time by what it waited for, and the CPU profile's heaviest functions (self time). */
function profileSummary(run: BundleRun, cpu?: CpuProfile): string[] {
  const ms = (n: number) => `${Math.round(n)} ms`;
  const kids = run.children.filter((c) => c.end !== undefined);
  const covered = childrenWall(run);
  const byCommand = new Map<string, { n: number; total: number }>();
  for (const c of kids) {
    const key = c.command.split(' ').slice(0, 2).join(' ');
    const e = byCommand.get(key) ?? { n: 0, total: 0 };
    byCommand.set(key, { n: e.n + 1, total: e.total + c.end - c.start });
  }
  const out = [
    `| where | wall |`, `|:---|---:|`,
    `| the whole run (process start to exit; the bundle, so without the binary's ~10 ms extra start-up) | ${ms(run.wallMs)} |`,
    `| waiting for ${kids.length} child processes (helm, kubectl), one after another: their union | ${ms(covered)} |`,
    `| the rest: the plugin's own CPU (user ${ms(run.userMs)} + system ${ms(run.systemMs)}, some of it overlapping children) and PostgreSQL round trips | ${ms(run.wallMs - covered)} |`,
    '', `Peak RSS of the plugin process: ${(run.maxRssKb / 1024).toFixed(0)} MB.`, '',
    '| child process | calls | total |', '|:---|---:|---:|',
    ...[...byCommand].sort((a, b) => b[1].total - a[1].total).map(([k, v]) => `| \`${k}\` | ${v.n} | ${ms(v.total)} |`),
  ];
  if (cpu !== undefined) {
    const self = new Map<number, number>();
    cpu.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (cpu.timeDeltas[i] ?? 0) / 1000));
    const byFunction = new Map<string, number>();
    for (const n of cpu.nodes) {
      const f = n.callFrame;
      const key = f.url === '' ? f.functionName || '(anonymous)' : `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + (self.get(n.id) ?? 0));
    }
    out.push('', 'CPU profile, self time (the bundle: build/cli.cjs lines):', '', '| function | self |', '|:---|---:|',
      ...[...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `| \`${k}\` | ${ms(v)} |`));
  }
  return out;
}

async function main(): Promise<boolean> {
  const names = (process.env['TOOLS'] ?? 'golang-migrate').split(',').map((s) => s.trim());
  let pass = true;
  for (const name of names) {
    const t = TOOLS[name];
    if (t === undefined) throw new Error(`TOOLS names ${name}; the bench knows ${Object.keys(TOOLS).join(', ')}`);
    pass = (await benchTool(t)) && pass;
  }
  return pass;
}

runBench(main);
