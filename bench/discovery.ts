/**
 * What discovering an unannotated chart version's revision costs, measured with hyperfine (median
 * of RUNS runs after WARMUP warm-ups, all in one run): the plan of `helm schema-rollback llamacloud
 * --to 0.1.47` (the LlamaCloud-like fixture: unannotated chart, alembic in the images) through Helm
 * 4.1 against the Kubernetes API double and embedded PostgreSQL, three ways:
 *   1. --target-revision f43d21f9cdb8 (baseline: the revision known, nothing discovered)
 *   2. discovered, cached (a repeat: the answer from $HELM_CACHE_HOME, no Job)
 *   3. discovered, cold (cache emptied before each run: helm template + a Job running alembic heads)
 * Each command stops after printing the plan (no --yes and no terminal: exit 15, nothing changed),
 * so only planning is timed. Beside them, in the same run: one `helm get metadata llamacloud` (the
 * floor a plan is measured against, issue 12: a plan within 3x of it) and the --dry-run plan
 * (exit 0) with the revision given. Writes bench/results/discovery.md and the raw JSON beside it.
 * Run with `npm run bench:discovery` (bench/discovery.sh checks the tools first).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { alembicOk } from '../test/harness/alembic.js';
import { helm4, repoRoot } from '../test/harness/plugin.js';
import { startWorld } from '../test/harness/world.js';
import { runBench } from './lib.js';

const RUNS = Number(process.env['RUNS'] ?? 10);
const WARMUP = Number(process.env['WARMUP'] ?? 1);
const IMAGES = join(repoRoot, 'test', 'fixtures', 'images');
const results = join(repoRoot, 'bench', 'results');

/** hyperfine must run beside this process's event loop: the API double serves from it. */
function hyperfine(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('hyperfine', args, { env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`hyperfine exited ${code}`))));
  });
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function main(): Promise<void> {
  const world = await startWorld(helm4, 'hsr-bench-discovery-', {
    images: { 'example/llamacloud-backend:0.1.48': join(IMAGES, 'llamacloud-0.1.48'), 'example/llamacloud-backend:0.1.47': join(IMAGES, 'llamacloud-0.1.47') },
    charts: ['llamacloud'],
  });
  try {
    const { db, plugin } = world;
    await world.helmOk(['install', 'llamacloud', 'fixtures/llamacloud', '--version', '0.1.48', '-n', 'llama', '--create-namespace', '--set', `database.url=${db.url}`]);
    alembicOk(join(IMAGES, 'llamacloud-0.1.48'), db.url, ['upgrade', 'head']);
    const plan = [
      plugin.helmBin, '-n', 'llama', 'schema-rollback', 'llamacloud', '--to', '0.1.47', '--tool', 'alembic',
      '--workload', 'deployment/llamacloud-backend', '--container', 'backend', '--stop', 'deployment/llamacloud-backend',
    ].map(quote).join(' ');
    const cache = join(plugin.env['HELM_CACHE_HOME']!, 'schema-rollback', 'discovered');
    const json = join(results, 'discovery.json');
    await hyperfine([
      '--runs', String(RUNS), '--warmup', String(WARMUP), '--ignore-failure', '--export-json', json, '--export-markdown', join(results, 'discovery-hyperfine.md'),
      // One --prepare per command, in order: only the cold one starts with an empty cache.
      '--prepare', 'true', '--prepare', 'true', '--prepare', `rm -rf ${quote(cache)}`, '--prepare', 'true', '--prepare', 'true',
      '-n', 'plan with --target-revision (baseline)', `${plan} --target-revision f43d21f9cdb8 </dev/null`,
      '-n', 'plan, revision discovered, cached', `${plan} </dev/null`,
      '-n', 'plan, revision discovered, cold (helm template + alembic heads Job)', `${plan} </dev/null`,
      '-n', 'plan with --target-revision --dry-run', `${plan} --target-revision f43d21f9cdb8 --dry-run </dev/null`,
      '-n', 'helm get metadata llamacloud (the floor)', `${[plugin.helmBin, '-n', 'llama', 'get', 'metadata', 'llamacloud'].map(quote).join(' ')} >/dev/null`,
    ], { ...process.env, ...plugin.env });
    const { results: rows } = JSON.parse(readFileSync(json, 'utf8')) as { results: Array<{ command: string; median: number; min: number; max: number; exit_codes: number[] }> };
    // Every run must have planned and stopped at the question (15): a failing discovery (20) would time an error.
    const plans = rows.slice(0, 3);
    for (const r of plans) if (r.exit_codes.some((c) => c !== 15)) throw new Error(`${r.command}: exit codes ${r.exit_codes.join(',')}, not all 15 (the plan, then no confirmation)`);
    for (const r of rows.slice(3)) if (r.exit_codes.some((c) => c !== 0)) throw new Error(`${r.command}: exit codes ${r.exit_codes.join(',')}, not all 0`);
    const base = rows[0]!.median;
    const floor = rows[4]!.median;
    const ms = (s: number) => Math.round(s * 1000);
    const helmVersion = (await world.helmOk(['version', '--template', '{{.Version}}'])).stdout.trim();
    writeFileSync(join(results, 'discovery.md'), [
      '# Planning with a discovered target revision',
      '',
      `${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} CPUs, Helm ${helmVersion}, the Kubernetes API double, PostgreSQL 17; ${RUNS} runs after ${WARMUP} warm-up(s). Each run prints the plan and stops (exit 15).`,
      '',
      '| command | median [ms] | min [ms] | max [ms] | vs. baseline | vs. helm get metadata |',
      '|:---|---:|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.command} | **${ms(r.median)}** | ${ms(r.min)} | ${ms(r.max)} | ${r === rows[0] ? '1.0×' : r === rows[4] ? '' : `${r.median >= base ? '+' : ''}${ms(r.median - base)} ms`} | ${(r.median / floor).toFixed(1)}× |`),
      '',
      '## hyperfine output',
      '',
      readFileSync(join(results, 'discovery-hyperfine.md'), 'utf8').trim(),
      '',
    ].join('\n'));
    process.stdout.write(readFileSync(join(results, 'discovery.md'), 'utf8'));
  } finally {
    await world.close();
  }
}

runBench(main);
