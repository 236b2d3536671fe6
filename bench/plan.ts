/**
 * The kagent `--dry-run` plan against one `helm get metadata` (issue 12, item 1), measured with
 * hyperfine in one invocation (median of RUNS runs after WARMUP warm-ups) through real Helm 4.1
 * against the Kubernetes API double and PostgreSQL 17: the kagent-like release (chart 0.9.0, core
 * 13 and vector 3), planned back to 0.8.0 with the native runner and every check, by
 *   1. helm get metadata kagent (baseline)
 *   2. helm schema-rollback kagent --to 0.8.0 --dry-run (the in-process Kubernetes client)
 *   3. the same with HSR_KUBE_CLIENT=kubectl (every Kubernetes read through kubectl and helm, as before)
 *   4. the floor of any plan that checks the hand-off: helm starting the plugin (`helm schema-rollback
 *      --version`), then the hand-off's own `helm upgrade --dry-run=server` (the command the plan
 *      runs), one after the other, and nothing else: no release read, no database
 * Target: the plan ≤ 3× the baseline. Writes bench/results/plan.md, plan.json and
 * ratios/plan-vs-get-metadata.json.
 */
import { join } from 'node:path';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { startKagentWorld } from '../test/harness/world.js';
import { KAGENT_SOURCE } from '../test/harness/golang-migrate-up.js';
import { assertExitCodes, hyperfine, machine, quote, ratio, RESULTS, runBench, RUNS, WARMUP, writeResults } from './lib.js';
import { hyperfineMedian } from './ratios.mjs';

const NS = 'ai';
const TARGET = 3;

async function main(): Promise<boolean> {
  const world = await startKagentWorld(helm4, 'hsr-bench-plan-', NS);
  const work = makeTempDir('hsr-bench-plan-work-');
  let pass = false;
  try {
    const helm = quote(world.plugin.helmBin);
    const planArgs = `${helm} -n ${NS} schema-rollback kagent --to 0.8.0 --source ${quote(KAGENT_SOURCE)} --dry-run`;
    const plan = await world.helmOk(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run']);
    if (!/core/.test(plan.stdout)) throw new Error(`the plan does not show track core:\n${plan.stdout}`);
    const json = join(RESULTS, 'plan.json');
    const md = join(work, 'hyperfine.md');
    const baseline = 'helm get metadata kagent (baseline)';
    const ours = 'helm schema-rollback kagent --to 0.8.0 --dry-run';
    const before = `${ours} (HSR_KUBE_CLIENT=kubectl)`;
    // The hand-off check exactly as the plan runs it (--debug shows the argv).
    const check = /exec: \S*helm (upgrade kagent .*--dry-run=server.*)$/m.exec((await world.helmOk(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', '--debug'])).stderr)?.[1];
    if (!check) throw new Error('the plan ran no helm upgrade --dry-run=server');
    const floor = 'floor: helm starting the plugin, then the hand-off check (helm upgrade --dry-run=server)';
    await hyperfine([
      '-N', '--export-json', json, '--export-markdown', md,
      '-n', baseline, `${helm} -n ${NS} get metadata kagent`,
      '-n', ours, planArgs,
      '-n', before, `env HSR_KUBE_CLIENT=kubectl ${planArgs}`,
      '-n', floor, `bash -c ${quote(`${helm} schema-rollback --version >/dev/null && ${helm} ${check} >/dev/null`)}`,
    ], { ...process.env, ...world.plugin.env });
    assertExitCodes(json, {});
    pass = ratio({ name: 'plan-vs-get-metadata', json, plugin: ours, baseline, target: TARGET });
    const [b, p, f] = [baseline, ours, floor].map((name) => hyperfineMedian(json, name).median * 1000);
    writeResults(join(RESULTS, 'plan.md'), 'the kagent `--dry-run` plan against one `helm get metadata`', [
      `${machine()}; Helm ${(await world.helmOk(['version', '--template', '{{.Version}}'])).stdout.trim()}, the Kubernetes API double, PostgreSQL 17;`
        + ` ${RUNS} runs after ${WARMUP} warm-up(s), no shell (\`-N\`). Release kagent 0.9.0 planned back to 0.8.0 (native runner, every check).`,
      '',
      `The floor of a plan that checks the hand-off (helm starting the plugin, then \`helm ${check.replace(/ --namespace \S+/, '')}\`, one after the other) is`
        + ` ${f!.toFixed(0)} ms, ${(f! / b!).toFixed(2)}× the baseline: the target (${TARGET}×) is below it. The plan is ${(p! / f!).toFixed(2)}× that floor.`,
    ], md);
  } finally {
    await world.close();
  }
  return pass;
}

runBench(main);
