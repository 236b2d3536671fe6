/**
 * `revisions` and `verify` end to end: the plugin in real Helm 3.17 and 4.1, a chart repository on
 * loopback publishing the kagent fixture's versions, helm's own repository index and cache homes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ensureBinary } from '../harness/build.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { startChartRepo, type ChartRepo } from '../harness/chart-repo.js';
import { FIXTURE_CHARTS, materializeChartVersions } from '../harness/charts.js';
import { startOciRegistry, type OciRegistry } from '../harness/oci-registry.js';
import { helmVersions, installPlugin, makeTempDir, repoRoot, run, stagePluginDir, type InstalledPlugin } from '../harness/plugin.js';
import { KAGENT_CHART, writeChart } from './annotate.test.js';

const migrations = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');

for (const helm of helmVersions) {
  describe(`e2e revisions and verify through ${helm.label}`, function () {
    this.timeout(180_000);
    let plugin: InstalledPlugin;
    let repo: ChartRepo;
    let dir: string;
    let charts: string[];
    const sr = (args: string[], env?: NodeJS.ProcessEnv) => plugin.helm(['schema-rollback', ...args], env ? { env: { ...plugin.env, ...env } } : {});
    const cacheFiles = () => {
      const cache = join(plugin.env['HELM_CACHE_HOME']!, 'schema-rollback', 'charts');
      return existsSync(cache) ? readdirSync(cache) : [];
    };

    before(async () => {
      dir = makeTempDir('hsr-revisions-');
      charts = materializeChartVersions(join(FIXTURE_CHARTS, 'kagent'), join(dir, 'charts'));
      // Two more versions from the 0.8.0 directory: a pre-release and a patch.
      const base = charts.find((c) => c.endsWith('0.8.0'))!;
      repo = await startChartRepo(join(dir, 'repo'), [...charts.map((path) => ({ path })), { path: base, version: '0.8.1' }, { path: base, version: '0.9.1-rc.1' }]);
      plugin = await installPlugin(helm.bin, stagePluginDir(ensureBinary()));
      const add = await plugin.helm(['repo', 'add', 'fixtures', repo.url]);
      assert.equal(add.exitCode, 0, add.stderr);
    });
    after(async () => {
      await plugin?.cleanup();
      await repo?.close();
    });

    it('lists every version with each track\'s revision, newest first, from the index where it carries the contract', async () => {
      const r = await sr(['revisions', 'fixtures/kagent']);
      assert.equal(r.exitCode, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
      assert.deepEqual(rows.slice(0, 6), [
        ['VERSION', 'APP VERSION', 'CORE', 'VECTOR', 'NOTE'],
        ['0.9.1-rc.1', '0.8.0', '8', '1'],
        ['0.9.0', '0.9.0', '13', '3'],
        ['0.8.1', '0.8.0', '8', '1'],
        ['0.8.0', '0.8.0', '8', '1'],
        ['0.1.0', '0.1.0', '-', '-', 'no contract'],
      ]);
      assert.match(r.stdout, /fixtures\/kagent: 5 versions; tracks: core \(golang-migrate\), vector \(golang-migrate\)/);
      // helm repo index copied each package's annotations into the index: only 0.1.0, whose entry
      // has none, is read from its package (and kept by digest).
      assert.equal(cacheFiles().length, 1);
      const [again] = assertOutputDocuments((await sr(['revisions', 'fixtures/kagent', '-o', 'json'])).stdout, 'json', ['Revisions']) as any[];
      assert.deepEqual(again.versions.map((v: { source: string }) => v.source), ['index', 'index', 'index', 'index', 'package']);
      assert.deepEqual(again.versions.map((v: { cached: boolean }) => v.cached), [true, true, true, true, true]);
      assert.deepEqual(again.versions[1].tracks, { core: { tool: 'golang-migrate', revision: '13' }, vector: { tool: 'golang-migrate', revision: '3' } });
    });

    it('--versions takes a semver range, pre-releases included', async () => {
      const r = await sr(['revisions', 'fixtures/kagent', '--versions', '>=0.8.1', '-o', 'json']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).versions.map((v: { version: string }) => v.version), ['0.9.1-rc.1', '0.9.0', '0.8.1']);
      const bad = await sr(['revisions', 'fixtures/kagent', '--versions', 'not a range']);
      assert.equal(bad.exitCode, 2);
      const unknown = await sr(['revisions', 'nope/kagent']);
      assert.equal(unknown.exitCode, 2);
      assert.match(unknown.stderr, /no index for chart repository nope[\s\S]*helm repo add nope URL/);
    });

    it('stays correct when a version is republished: the refreshed index says what it now holds', async () => {
      const changed = join(dir, 'republished');
      writeChart(changed, KAGENT_CHART.replace('version: 0.9.0', 'version: 0.8.1').replace('revision: "8"', 'revision: "9"'));
      writeFileSync(join(changed, 'values.yaml'), '{}\n');
      await repo.publish([{ path: changed }]);
      assert.equal((await plugin.helm(['repo', 'update', 'fixtures'])).exitCode, 0);
      const r = JSON.parse((await sr(['revisions', 'fixtures/kagent', '--versions', '0.8.1', '-o', 'json'])).stdout);
      assert.deepEqual([r.versions[0].tracks.core.revision, r.versions[0].source], ['9', 'index']);
    });

    it('--from-packages reads every package; an index entry whose contract does not parse is read from its package', async () => {
      const all = JSON.parse((await sr(['revisions', 'fixtures/kagent', '--from-packages', '-o', 'json'])).stdout);
      assert.deepEqual(new Set(all.versions.map((v: { source: string }) => v.source)), new Set(['package']));
      assert.equal(cacheFiles().length, all.versions.length);
      // Hand-edit helm's copy of the index: 0.9.0's tracks no longer parse there.
      const indexFile = join(plugin.env['HELM_CACHE_HOME']!, 'repository', 'fixtures-index.yaml');
      const original = readFileSync(indexFile, 'utf8');
      try {
        const index = parseYaml(original);
        const entry = index.entries.kagent.find((e: { version: string }) => e.version === '0.9.0');
        entry.annotations['schema-rollback.io/tracks'] = '- name: core\n  tool: flyway\n';
        writeFileSync(indexFile, JSON.stringify(index));
        const r = JSON.parse((await sr(['revisions', 'fixtures/kagent', '--versions', '0.9.0', '-o', 'json'])).stdout);
        assert.deepEqual([r.versions[0].contract, r.versions[0].tracks.core?.revision, r.versions[0].source], ['ok', '13', 'package']);
      } finally {
        writeFileSync(indexFile, original);
      }
    });

    it('reads an OCI registry: tags, then each version\'s Chart.yaml from its config blob, cached by manifest digest', async () => {
      let registry: OciRegistry | undefined;
      try {
        registry = await startOciRegistry({ token: 'hsr-test-token' });
        const packages = makeTempDir('hsr-oci-');
        for (const chart of charts) {
          const pkg = await plugin.helm(['package', chart, '--destination', packages]);
          assert.equal(pkg.exitCode, 0, pkg.stderr);
        }
        for (const tgz of readdirSync(packages)) {
          const push = await plugin.helm(['push', join(packages, tgz), `oci://${registry.host}/charts`, '--plain-http']);
          assert.equal(push.exitCode, 0, push.stdout + push.stderr);
        }
        const ref = `oci://${registry.host}/charts/kagent`;
        const r = await sr(['revisions', ref, '--plain-http', '-o', 'json']);
        assert.equal(r.exitCode, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.deepEqual(report.versions.map((v: { version: string; tracks: Record<string, { revision: string }> }) => [v.version, v.tracks.core?.revision]), [['0.9.0', '13'], ['0.8.0', '8'], ['0.1.0', undefined]]);
        assert.deepEqual(report.versions.map((v: { cached: boolean }) => v.cached), [false, false, false]);
        const blobReads = registry.requests.filter((q) => q.startsWith('GET') && q.includes('/blobs/')).length;
        const again = JSON.parse((await sr(['revisions', ref, '--plain-http', '-o', 'json'])).stdout);
        assert.deepEqual(again.versions.map((v: { cached: boolean }) => v.cached), [true, true, true]);
        assert.equal(registry.requests.filter((q) => q.startsWith('GET') && q.includes('/blobs/')).length, blobReads, 'a repeat reads no blob');
        const https = await sr(['revisions', ref]);
        assert.equal(https.exitCode, 2, https.stderr);
        assert.match(https.stderr, /cannot list the tags of oci:\/\/127\.0\.0\.1:\d+\/charts\/kagent: [\s\S]*--plain-http/);
      } finally {
        await registry?.close();
      }
    });

    it('verify: a chart whose revisions are its migrations\' heads passes, in GitHub Actions too', async () => {
      const chart = writeChart(join(dir, 'ok'), KAGENT_CHART.replace('revision: "8"', 'revision: "13"').replace('revision: "1"', 'revision: "3"').replace('version: 0.9.0', 'version: 0.10.0'));
      const r = await sr(['verify', chart, '--migrations', migrations, '--against', 'fixtures/kagent'], { GITHUB_ACTIONS: 'true' });
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok: checked the contract \(2 tracks\) against the JSON Schema; 2 tracks against their migrations; revisions across 4 published versions of fixtures\/kagent$/m);
      assert.doesNotMatch(r.stdout, /^::error/m);
    });

    it('verify: stale, unknown and backwards revisions each have their code; Actions gets ::error lines', async () => {
      const stale = writeChart(join(dir, 'stale'), KAGENT_CHART);
      const r = await sr(['verify', stale, '--migrations', migrations], { GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: dir });
      assert.equal(r.exitCode, 18, r.stdout + r.stderr);
      assert.match(r.stdout, /stale\/Chart\.yaml:13: error: track core: revision 8 is not the head of \S+\/core \(13\); run "helm schema-rollback annotate" \[exit 18\]/);
      assert.match(r.stdout, /^::error file=stale\/Chart\.yaml,line=13,title=schema-rollback verify \(exit 18\)::track core: revision 8 is not the head/m);
      assert.match(r.stderr, /Error: verify: 2 problems in \S+Chart\.yaml/);

      const unknown = writeChart(join(dir, 'unknown'), KAGENT_CHART.replace('revision: "8"', 'revision: "14"').replace('revision: "1"', 'revision: "3"'));
      const u = await sr(['verify', unknown, '--migrations', migrations], { GITHUB_ACTIONS: '' });
      assert.equal(u.exitCode, 17, u.stdout);
      assert.match(u.stdout, /track core: revision 14 is not among the migrations/);
      assert.doesNotMatch(u.stdout, /^::/m);

      const backwards = writeChart(join(dir, 'backwards'), KAGENT_CHART.replace('version: 0.9.0', 'version: 0.9.2').replace('revision: "8"', 'revision: "12"').replace('revision: "1"', 'revision: "3"'));
      const b = await sr(['verify', backwards, '--against', 'fixtures/kagent']);
      assert.equal(b.exitCode, 19, b.stdout);
      assert.match(b.stdout, /error: track core: revision goes backwards from 13 \(chart 0\.9\.0\) to 12 \(chart 0\.9\.2\) \[exit 19\]/);
      // 0.9.1-rc.1 (published, core 8) sits between 0.9.0 and 0.9.2: a warning about published versions.
      assert.match(b.stdout, /warning: track core: revision goes backwards from 13 \(chart 0\.9\.0\) to 8 \(chart 0\.9\.1-rc\.1\) \(both published\)/);
      // -o json: the same findings for programs, as schemas/verify.v1.json says.
      const bJson = await sr(['verify', backwards, '--against', 'fixtures/kagent', '-o', 'json']);
      assert.equal(bJson.exitCode, 19, bJson.stderr);
      const [report] = assertOutputDocuments(bJson.stdout, 'json', ['Verification']);
      assert.deepEqual((report!['findings'] as Array<{ level: string; code: number }>).map((f) => [f.level, f.code]), [['error', 19], ['warning', 19], ['warning', 19]]);
      assert.equal(report!['exitCode'], 19);
    });

    it('the example GitHub Actions workflow\'s verify step passes on a good chart and fails on a stale one', async () => {
      const workflow = parseYaml(readFileSync(join(repoRoot, 'examples', 'github-actions', 'verify-chart.yaml'), 'utf8'));
      const job = workflow.jobs['schema-rollback'];
      const step = job.steps.find((s: { name?: string }) => s.name === 'Verify the contract');
      assert.equal((await plugin.helm(['repo', 'add', 'published', repo.url])).exitCode, 0);
      const workspace = makeTempDir('hsr-workspace-');
      mkdirSync(join(workspace, 'charts'));
      const good = writeChart(join(workspace, 'charts', 'kagent'), KAGENT_CHART.replace('revision: "8"', 'revision: "13"').replace('revision: "1"', 'revision: "3"').replace('version: 0.9.0', 'version: 0.10.0'));
      const env = { ...plugin.env, ...job.env, CHART_DIR: 'charts/kagent', MIGRATIONS: migrations, PUBLISHED: repo.url, GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: workspace };
      const passed = await run('bash', ['-e', '-c', step.run], { env, cwd: workspace });
      assert.equal(passed.exitCode, 0, passed.stdout + passed.stderr);
      assert.match(passed.stdout, /revisions across \d+ published versions of published\/kagent/);
      writeFileSync(join(good, 'Chart.yaml'), KAGENT_CHART.replace('version: 0.9.0', 'version: 0.10.0'));
      const failed = await run('bash', ['-e', '-c', step.run], { env, cwd: workspace });
      assert.equal(failed.exitCode, 18, failed.stdout + failed.stderr);
      assert.match(failed.stdout, /^::error file=charts\/kagent\/Chart\.yaml,line=13,title=schema-rollback verify \(exit 18\)::track core/m);
      const hooks = parseYaml(readFileSync(join(repoRoot, '.pre-commit-hooks.yaml'), 'utf8')) as Array<{ id: string; entry: string }>;
      assert.deepEqual(hooks.map((h) => [h.id, h.entry]), [['schema-rollback-verify', 'helm schema-rollback verify'], ['schema-rollback-annotate', 'helm schema-rollback annotate']]);
    });

    it('verify: a malformed contract is exit 5 with every problem; no contract is exit 4', async () => {
      const bad = writeChart(join(dir, 'bad'), KAGENT_CHART.replace('tool: golang-migrate\n      revision: "1"', 'tool: flyway\n      revision: "1"').replace('revision: "8"', 'revision: "008"'));
      const r = await sr(['verify', bad]);
      assert.equal(r.exitCode, 5, r.stdout);
      assert.match(r.stdout, /Chart\.yaml:10: error: invalid schema-rollback annotations: tracks\[1\]\.tool: "flyway" is not one of/);
      const typo = writeChart(join(dir, 'typo'), KAGENT_CHART.replace('schema-rollback.io/stop', 'schema-rollback.io/stopp'));
      const t = await sr(['verify', typo]);
      assert.equal(t.exitCode, 5, t.stdout);
      assert.match(t.stdout, /schema-rollback\.io\/stopp: unknown annotation/);
      const leading = writeChart(join(dir, 'leading'), KAGENT_CHART.replace('revision: "8"', 'revision: "008"'));
      const l = await sr(['verify', leading]);
      assert.equal(l.exitCode, 5, l.stdout);
      assert.match(l.stdout, /Chart\.yaml:13: error: track core: revision "008" is not a golang-migrate revision: write golang-migrate version "008" without leading zeros/);
      const none = writeChart(join(dir, 'none'), 'apiVersion: v2\nname: x\nversion: 1.0.0\n');
      assert.equal((await sr(['verify', none])).exitCode, 4);
    });

    it('an unreadable package is reported, not fatal', async () => {
      const tgz = readdirSync(repo.dir).find((f) => f.endsWith('0.1.0.tgz'))!;
      rmSync(join(repo.dir, tgz));
      const r = JSON.parse((await sr(['revisions', 'fixtures/kagent', '--versions', '0.1.0', '-o', 'json'])).stdout);
      // 0.1.0 was cached by the first test: the digest still names the same bytes.
      assert.equal(r.versions[0].cached, true);
      rmSync(join(plugin.env['HELM_CACHE_HOME']!, 'schema-rollback'), { recursive: true });
      const cold = await sr(['revisions', 'fixtures/kagent', '--versions', '0.1.0']);
      assert.equal(cold.exitCode, 0, cold.stderr);
      assert.match(cold.stdout, /^0\.1\.0\s+unreadable contract: .*404 Not Found/m);
    });
  });
}
