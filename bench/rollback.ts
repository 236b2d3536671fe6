/**
 * The whole rollback against the runbook scripted by hand (issue 12, item 2), measured with
 * hyperfine in one invocation (median of RUNS runs after WARMUP warm-ups) on the same Kubernetes
 * API double, the same PostgreSQL 17 database and real Helm 4.1: the kagent-like release (chart
 * 0.9.0, tracks core 13 and vector 3, controller at 2 replicas, user rows) rolled back to 0.8.0
 * (core 8, vector 1) with the 0.9.0 down files,
 *   1. bench/runbook-rollback.sh (baseline: kubectl scale to 0, one psql session per track running
 *      each down with golang-migrate's bookkeeping, helm upgrade --version 0.8.0)
 *   2. helm schema-rollback kagent --to 0.8.0 --source DIR --yes (plan, trust checks, copy of the
 *      data at risk, native downs, verify, hand-off)
 *   3. the floor of a run that checks its hand-off: helm starting the plugin, then the hand-off's
 *      check (helm upgrade --dry-run=server) and the hand-off, nothing else
 * Before each run (--prepare, untimed) the database is recreated from a template taken after the
 * set-up and the release is upgraded back to 0.9.0 (values kept: 2 replicas). Each way is first
 * run once and checked to leave core 8 and vector 1. Target (the issue's): plugin ≤ 0.5× runbook.
 * Writes bench/results/rollback.md, rollback.json and ratios/rollback-vs-runbook.json.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KAGENT_SOURCE, kagentVersionRows } from '../test/harness/golang-migrate-up.js';
import { helm4, makeTempDir } from '../test/harness/plugin.js';
import { startKagentWorld } from '../test/harness/world.js';
import { assertExitCodes, dropSnapshot, hyperfine, machine, quote, ratio, RESULTS, runBench, RUNS, shell, snapshotDatabase, WARMUP, writeResults } from './lib.js';
import { hyperfineMedian } from './ratios.mjs';

const NS = 'ai';
const TARGET = 0.5;

async function main(): Promise<boolean> {
  const world = await startKagentWorld(helm4, 'hsr-bench-rollback-', NS);
  const work = makeTempDir('hsr-bench-rollback-work-');
  let pass = false;
  try {
    const { db, plugin } = world;
    // Nothing may hold a session on the database while the template is taken.
    const resetDb = await snapshotDatabase(db, work);
    const prepare = join(work, 'prepare.sh');
    writeFileSync(prepare, [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      `bash ${quote(resetDb)}`,
      // Back to where the rollback starts; a no-op before the first run but for a new revision.
      `helm -n ${NS} upgrade kagent fixtures/kagent --version 0.9.0 --reset-then-reuse-values --force-conflicts >/dev/null`,
      '',
    ].join('\n'), { mode: 0o700 });
    const pluginCmd = `${quote(plugin.helmBin)} -n ${NS} schema-rollback kagent --to 0.8.0 --source ${quote(KAGENT_SOURCE)} --yes >/dev/null 2>&1`;
    const runbookCmd = [join(import.meta.dirname, 'runbook-rollback.sh'), NS, 'kagent', 'fixtures/kagent', '0.8.0', 'deployment/kagent-controller', KAGENT_SOURCE,
      'vector:vector_schema_migrations:3:1', 'core:schema_migrations:13:8'].map(quote).join(' ');

    // Both ways must leave the same end state before anything is timed.
    const env = { ...process.env, ...plugin.env, DATABASE_URL: db.url };
    for (const [name, cmd] of [['runbook', runbookCmd], ['plugin', pluginCmd]] as const) {
      await shell(`bash ${quote(prepare)} && ${cmd}`, env);
      const rows = await kagentVersionRows(db.url);
      const got = JSON.stringify(rows);
      if (got !== JSON.stringify([[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]])) throw new Error(`${name} left ${got}, not core 8 and vector 1`);
    }

    const json = join(RESULTS, 'rollback.json');
    const md = join(work, 'hyperfine.md');
    const runbook = 'runbook scripted by hand (baseline)';
    const ours = 'helm schema-rollback --yes';
    // The floor of a checked run: helm starting the plugin, the hand-off's check (issue 9: helm
    // upgrade --dry-run=server before the first down) and the hand-off itself, one after the other,
    // with no plan, no stop and no down at all.
    const handoff = 'floor: helm starting the plugin, the hand-off check, the hand-off (no plan, no downs)';
    const upgrade = `${quote(plugin.helmBin)} -n ${NS} upgrade kagent fixtures/kagent --version 0.8.0 --reset-then-reuse-values --force-conflicts`;
    const handoffCmd = `bash -c ${quote(`${quote(plugin.helmBin)} schema-rollback --version >/dev/null && ${upgrade} --dry-run=server >/dev/null && ${upgrade} >/dev/null`)}`;
    await hyperfine([
      '--export-json', json, '--export-markdown', md,
      '--prepare', `bash ${quote(prepare)}`,
      '-n', runbook, runbookCmd,
      '-n', ours, pluginCmd,
      '-n', handoff, handoffCmd,
    ], env);
    assertExitCodes(json, {});
    pass = ratio({ name: 'rollback-vs-runbook', json, plugin: ours, baseline: runbook, target: TARGET });
    const [r, u] = [runbook, handoff].map((name) => hyperfineMedian(json, name).median * 1000);
    writeResults(join(RESULTS, 'rollback.md'), 'The whole rollback against the runbook scripted by hand', [
      `${machine()}; Helm ${(await world.helmOk(['version', '--template', '{{.Version}}'])).stdout.trim()}, the Kubernetes API double, PostgreSQL 17;`
        + ` ${RUNS} runs after ${WARMUP} warm-up(s), each after the database is recreated from its template and the release is back on 0.9.0.`,
      '',
      'kagent 0.9.0 -> 0.8.0: vector 3 -> 1, core 13 -> 8 (7 down files), controller 2 -> 0, then helm upgrade.',
      '',
      `The floor of a run that checks its hand-off (helm starting the plugin, \`helm upgrade --dry-run=server\`, \`helm upgrade\`, one after the other, nothing else)`
        + ` takes ${u!.toFixed(0)} ms, ${(u! / r!).toFixed(2)}× the whole runbook; the target (${TARGET}× the runbook, ${(TARGET * r!).toFixed(0)} ms) is ${u! > TARGET * r! ? 'below' : 'above'} it.`,
    ], md);
  } finally {
    await dropSnapshot(world.db).catch(() => undefined);
    await world.close();
  }
  return pass;
}

runBench(main);
