/**
 * Where `status` and the kagent `--dry-run` plan spend their wall time: each run once through the
 * plugin's bundle with bench/profile-hooks.cjs, printing every child process (start, end) and the
 * plugin's own totals. A diagnostic for issue 12 (no ratio, no target): `npx tsx bench/profile-plan.ts`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { startKagentWorld } from '../test/harness/world.js';
import { KAGENT_SOURCE } from '../test/harness/golang-migrate-up.js';
import { type BundleRun, pluginEnvironment, runBench, runBundle } from './lib.js';

const NS = 'ai';

function show(title: string, run: BundleRun): void {
  console.log(`\n${title}: ${run.wallMs.toFixed(0)} ms wall, ${run.userMs.toFixed(0)} ms user, ${run.children.length} children`);
  for (const c of run.children) console.log(`  ${c.start.toFixed(0).padStart(6)} ${c.end?.toFixed(0).padStart(6)} ${(c.end - c.start).toFixed(0).padStart(5)}  ${c.command}`);
}

async function main(): Promise<void> {
  const world = await startKagentWorld(helm4, 'hsr-bench-profile-', NS);
  const dir = makeTempDir('hsr-bench-profile-work-');
  try {
    const env = await pluginEnvironment(world.plugin.helmBin, { ...process.env, ...world.plugin.env }, NS);
    const runs = Number(process.env['RUNS'] ?? 2);
    for (let i = 0; i < runs; i++) {
      show('status kagent', await runBundle(['status', 'kagent'], env, dir));
      show('kagent --to 0.8.0 --dry-run', await runBundle(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', ...(process.env['TIMINGS'] ? ['--timings'] : [])], env, dir));
    }
    if (process.env['TIMINGS']) console.log(readFileSync(join(dir, 'stderr.txt'), 'utf8'));
  } finally {
    await world.close();
  }
}

runBench(main);
