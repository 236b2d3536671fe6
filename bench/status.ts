/**
 * `status` against one `helm get metadata` (issue 12, item 6), measured with hyperfine in one
 * invocation (median of RUNS runs after WARMUP warm-ups) through real Helm 4.1 against the
 * Kubernetes API double and PostgreSQL 17: the kagent-like release (chart 0.9.0, core 13 and
 * vector 3, both in step), read by
 *   1. helm get metadata kagent (baseline: the cheapest question helm answers about a release)
 *   2. helm schema-rollback status kagent (the release, its chart's contract, the database's
 *      version tables, the run record)
 *   3. the same with HSR_KUBE_CLIENT=kubectl (kubectl and helm processes, as before the in-process client)
 * Target: status ≤ 3× the baseline. Writes bench/results/status.md, status.json and
 * ratios/status-vs-get-metadata.json.
 */
import { join } from 'node:path';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { startKagentWorld } from '../test/harness/world.js';
import { assertExitCodes, hyperfine, machine, quote, ratio, RESULTS, runBench, RUNS, WARMUP, writeResults } from './lib.js';

const NS = 'ai';
const TARGET = 3;

async function main(): Promise<boolean> {
  const world = await startKagentWorld(helm4, 'hsr-bench-status-', NS);
  const work = makeTempDir('hsr-bench-status-work-');
  let pass = false;
  try {
    const helm = quote(world.plugin.helmBin);
    const status = await world.helmOk(['-n', NS, 'schema-rollback', 'status', 'kagent']);
    if (!/core/.test(status.stdout)) throw new Error(`status does not show track core:\n${status.stdout}`);
    const json = join(RESULTS, 'status.json');
    const md = join(work, 'hyperfine.md');
    const baseline = 'helm get metadata kagent (baseline)';
    const ours = 'helm schema-rollback status kagent';
    await hyperfine([
      '-N', '--export-json', json, '--export-markdown', md,
      '-n', baseline, `${helm} -n ${NS} get metadata kagent`,
      '-n', ours, `${helm} -n ${NS} schema-rollback status kagent`,
      // Every Kubernetes read through kubectl and helm, as before the in-process client.
      '-n', `${ours} (HSR_KUBE_CLIENT=kubectl)`, `env HSR_KUBE_CLIENT=kubectl ${helm} -n ${NS} schema-rollback status kagent`,
    ], { ...process.env, ...world.plugin.env });
    assertExitCodes(json, {});
    pass = ratio({ name: 'status-vs-get-metadata', json, plugin: ours, baseline, target: TARGET });
    writeResults(join(RESULTS, 'status.md'), '`status` against one `helm get metadata`', [
      `${machine()}; Helm ${(await world.helmOk(['version', '--template', '{{.Version}}'])).stdout.trim()}, the Kubernetes API double, PostgreSQL 17;`
        + ` ${RUNS} runs after ${WARMUP} warm-up(s), no shell (\`-N\`). Release kagent 0.9.0, tracks core 13 and vector 3 in step.`,
    ], md);
  } finally {
    await world.close();
  }
  return pass;
}

runBench(main);
