/**
 * Plans the files or the charts cannot keep, refused through the built binary before anything
 * changes (the kagent case, native runner): a down file missing from the source, a down file that
 * is a symlink entry of a tarball, a version missing from the files altogether, and a target chart
 * whose revision is not in golang-migrate's form. Each run must leave the version tables, the
 * schema, the controller's replicas and the release history exactly as they were.
 *
 * One Helm version only: every refusal here comes from the plan, before the plugin scales, writes
 * the database or calls helm upgrade; the Helm 3/4 differences are in the hand-off (rollback.test.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_CHARTS, materializeChartVersions } from '../harness/charts.js';
import { kagentVersionRows as versionRows, KAGENT_SOURCE as SOURCE } from '../harness/golang-migrate-up.js';
import { helmVersions, kubectl, makeTempDir, run, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import { query, type FreshDatabase } from '../harness/postgres.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const helm = helmVersions.at(-1)!;
const DOWN_11 = '000011_agent_instance_tasks.down.sql';

/** A copy of the 0.9.0 migrations (core/, vector/) to spoil. */
function sourceCopy(prefix: string): string {
  const dir = join(makeTempDir(prefix), 'kagent');
  cpSync(SOURCE, dir, { recursive: true });
  return dir;
}

describe(`e2e rollback refusals at plan time (native runner) through ${helm.label}`, function () {
  this.timeout(300_000);
  let world: World;
  let db: FreshDatabase;
  let plugin: InstalledPlugin;
  const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });

  before(async () => {
    world = await startKagentWorld(helm.bin, 'hsr-refusals-', NS);
    ({ db, plugin } = world);
  });

  after(async () => {
    await world?.close();
  });

  /** Version tables, the tables 9..13 created, the controller's replicas and the history: as installed. */
  async function assertNothingChanged(): Promise<void> {
    assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    const tables = await query<{ t: string }>(db.url, "SELECT tablename AS t FROM pg_tables WHERE tablename IN ('agent_instances', 'agent_instance_tasks', 'runtime_revisions') ORDER BY 1");
    assert.deepEqual(tables.map((r) => r.t), ['agent_instance_tasks', 'agent_instances', 'runtime_revisions']);
    const replicas = await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: plugin.env });
    assert.equal(replicas.stdout, '2');
    const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
    assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0']);
  }

  it('the plan lists every down with its file, in the table and in -o json', async () => {
    const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^TRACK\s+STEP\s+DOWN FILE$/m);
    assert.match(r.stdout, /^vector\s+2 -> 1\s+000002_add_memory_hnsw_index\.down\.sql$/m);
    assert.match(r.stdout, /^core\s+13 -> 12\s+000013_runtime_revision_agent_card\.down\.sql$/m);
    assert.match(r.stdout, /^core\s+9 -> 8\s+000009_agent_instances\.down\.sql$/m);
    const json = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '-o', 'json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const core = JSON.parse(json.stdout).tracks.find((t: { step?: { track: string } }) => t.step?.track === 'core');
    assert.deepEqual(core.step.downs.at(-1), { revision: '9', to: '8', file: '000009_agent_instances.down.sql' });
  });

  it('a missing down file: refused before any change, naming the file (exit 12); --allow-missing-downs plans golang-migrate\'s own step', async () => {
    const source = sourceCopy('hsr-no-down-');
    rmSync(join(source, 'core', DOWN_11));
    for (const args of [['--dry-run'], ['--yes']]) {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', source, ...args]);
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`track core: 11 -> 10: no down file ${DOWN_11.replace(/\./g, '\\.')} in .*core/; golang-migrate would move the table past 11 running nothing`));
      assert.match(r.stderr, /--allow-missing-downs/);
      assert.doesNotMatch(r.stderr, /scaled|helm upgrade/);
      await assertNothingChanged();
    }
    const allowed = await sr(['kagent', '--to', '0.8.0', '--source', source, '--allow-missing-downs', '--dry-run']);
    assert.equal(allowed.exitCode, 0, allowed.stderr);
    assert.match(allowed.stdout, /^core\s+11 -> 10\s+no down file: the version moves, nothing runs$/m);
    await assertNothingChanged();
  });

  it('a down file that is a symlink entry of the tarball: refused naming the entry, not dropped (exit 12)', async () => {
    const source = sourceCopy('hsr-tar-link-');
    rmSync(join(source, 'core', DOWN_11));
    symlinkSync('../../elsewhere.sql', join(source, 'core', DOWN_11));
    const archive = join(source, '..', 'kagent.tgz');
    execFileSync('tar', ['czf', archive, '-C', source, 'core', 'vector']);
    const r = await sr(['kagent', '--to', '0.8.0', '--source', archive, '--yes']);
    assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`kagent\\.tgz:core/: ${DOWN_11.replace(/\./g, '\\.')} is a symbolic link \\(to \\.\\./\\.\\./elsewhere\\.sql\\)`));
    assert.doesNotMatch(r.stdout, /Rolled back/);
    await assertNothingChanged();
  });

  it('a version missing from the files altogether: the target (golang-migrate refuses too) and one stepped over (exit 12)', async () => {
    const source = sourceCopy('hsr-no-8-');
    for (const f of ['000008_runtime_revisions.up.sql', '000008_runtime_revisions.down.sql']) rmSync(join(source, 'core', f));
    const target = await sr(['kagent', '--to', '0.8.0', '--source', source, '--yes']);
    assert.equal(target.exitCode, 12, target.stderr);
    assert.match(target.stderr, /target revision 8 is not among this version's migrations/);
    const over = await sr(['kagent', '--to', '0.8.0', '--source', source, '--track', 'core', '--target-revision', '7', '--yes']);
    assert.equal(over.exitCode, 12, over.stderr);
    assert.match(over.stderr, /track core: 9 -> 7: no file at all for version 8 in .*core\/ \(the files are numbered one by one/);
    await assertNothingChanged();
  });

  it('a target chart whose revision is not in the tool\'s form ("008"): invalid contract before anything runs (exit 5)', async () => {
    const [chart] = materializeChartVersions(join(FIXTURE_CHARTS, 'kagent'), makeTempDir('hsr-chart-008-')).filter((d) => d.endsWith('kagent-0.8.0'));
    const chartYaml = join(chart!, 'Chart.yaml');
    writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace('revision: "8"', 'revision: "008"'));
    const r = await sr(['kagent', '--to', '0.8.0', '--chart', chart!, '--source', SOURCE, '--yes']);
    assert.equal(r.exitCode, 5, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /target chart kagent 0\.8\.0: invalid schema-rollback annotations:/);
    assert.match(r.stderr, /track core: revision "008" is not a golang-migrate revision: write golang-migrate version "008" without leading zeros, as "8"/);
    await assertNothingChanged();
  });
});
