/**
 * `helm schema-rollback annotate` end to end: the built binary installed as a plugin into real
 * Helm 3.17 and 4.1, run on chart directories the way a chart maintainer (or CI) runs it.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary } from '../harness/build.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { helmVersions, installPlugin, makeTempDir, repoRoot, stagePluginDir, type InstalledPlugin } from '../harness/plugin.js';

const fixtures = join(repoRoot, 'test', 'fixtures');

/** kagent's Chart.yaml as a maintainer writes it: comments, a block literal, flow lists, other annotations. */
export const KAGENT_CHART = `# kagent: a kagent-like chart
apiVersion: v2
name: kagent
description: A controller that migrates two golang-migrate tracks on start
version: 0.9.0
appVersion: "0.9.0"   # the image tag
annotations:
  artifacthub.io/license: Apache-2.0
  # Written by "helm schema-rollback annotate": the revisions this version's image migrates to.
  schema-rollback.io/tracks: |
    - name: core
      tool: golang-migrate
      revision: "8"      # go/core/pkg/migrations/core
      command: ["kagent", "migrate", "goto", "{{ .Revision }}", "--track", "{{ .Track }}"]
    - name: vector
      tool: golang-migrate
      revision: "1"
      table: vector_schema_migrations
  schema-rollback.io/workload: deployment/{{ .Fullname }}-controller
  schema-rollback.io/stop: deployment/{{ .Fullname }}-controller
`;

export function writeChart(dir: string, chartYaml: string): string {
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'Chart.yaml'), chartYaml);
  return dir;
}

for (const helm of helmVersions) {
  describe(`e2e annotate through ${helm.label}`, function () {
    this.timeout(120_000);
    let plugin: InstalledPlugin;
    let dir: string;
    const sr = (args: string[]) => plugin.helm(['schema-rollback', ...args]);

    before(async () => {
      plugin = await installPlugin(helm.bin, stagePluginDir(ensureBinary()));
      dir = makeTempDir('hsr-annotate-');
    });
    after(async () => {
      await plugin?.cleanup();
    });

    it('writes each track\'s head into Chart.yaml and changes nothing else; --check then passes', async () => {
      const chart = writeChart(join(dir, 'kagent'), KAGENT_CHART);
      const r = await sr(['annotate', chart, '--migrations', join(fixtures, 'migrations', 'kagent')]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^core\s+golang-migrate\s+8\s+13\s+\S+\/core$/m);
      assert.match(r.stdout, /updated \S+Chart\.yaml: core 8 -> 13, vector 1 -> 3/);
      const after = readFileSync(join(chart, 'Chart.yaml'), 'utf8');
      assert.equal(after, KAGENT_CHART.replace('revision: "8"', 'revision: "13"').replace('revision: "1"', 'revision: "3"'));
      const check = await sr(['annotate', chart, '--migrations', join(fixtures, 'migrations', 'kagent'), '--check']);
      assert.equal(check.exitCode, 0, check.stderr);
      assert.match(check.stdout, /already carries the heads/);
    });

    it('--check fails with exit 18 and leaves the file alone when it is stale', async () => {
      const chart = writeChart(join(dir, 'stale'), KAGENT_CHART);
      const r = await sr(['annotate', chart, '--migrations', join(fixtures, 'migrations', 'kagent'), '--check']);
      assert.equal(r.exitCode, 18, r.stderr);
      assert.match(r.stderr, /track core: Chart\.yaml has 8, the migrations' head is 13/);
      assert.match(r.stderr, /track vector: Chart\.yaml has 1, the migrations' head is 3/);
      assert.equal(readFileSync(join(chart, 'Chart.yaml'), 'utf8'), KAGENT_CHART);
    });

    it('annotates one track with --track and TRACK=DIR', async () => {
      const chart = writeChart(join(dir, 'one-track'), KAGENT_CHART);
      const r = await sr(['annotate', chart, '--track', 'vector', '--migrations', `vector=${join(fixtures, 'migrations', 'kagent', 'vector')}`, '-o', 'json']);
      assert.equal(r.exitCode, 0, r.stderr);
      const [report] = assertOutputDocuments(r.stdout, 'json', ['Annotation']);
      assert.deepEqual((report!['tracks'] as Array<{ track: string; from: string; to: string }>).map((t) => [t.track, t.from, t.to]), [['vector', '1', '3']]);
      assert.match(readFileSync(join(chart, 'Chart.yaml'), 'utf8'), /revision: "8" {6}# go/);
    });

    it('adds the contract to an alembic chart without one; several heads need --branch (exit 16)', async () => {
      const chart = writeChart(join(dir, 'llamacloud'), '# LlamaCloud-like\napiVersion: v2\nname: llamacloud\nversion: 0.1.52\n');
      const alembicDir = join(fixtures, 'alembic');
      const noBranch = await sr(['annotate', chart, '--tool', 'alembic', '--migrations', alembicDir]);
      assert.equal(noBranch.exitCode, 16, noBranch.stderr);
      assert.match(noBranch.stderr, /has 2 heads: 0003, 0102/);
      assert.match(noBranch.stderr, /fix: merge them \("alembic merge heads"\), or name the branch .* --branch LABEL \(labels: feat \(0101\)\)/);
      const r = await sr(['annotate', chart, '--tool', 'alembic', '--migrations', alembicDir, '--branch', 'feat']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(
        readFileSync(join(chart, 'Chart.yaml'), 'utf8'),
        '# LlamaCloud-like\napiVersion: v2\nname: llamacloud\nversion: 0.1.52\nannotations:\n  schema-rollback.io/tool: "alembic"\n  schema-rollback.io/revision: "0102"\n',
      );
    });

    it('refuses without --tool on a chart without a contract, and names a missing directory (exit 2)', async () => {
      const chart = writeChart(join(dir, 'bare'), 'apiVersion: v2\nname: bare\nversion: 1.0.0\n');
      const noTool = await sr(['annotate', chart, '--migrations', join(fixtures, 'migrations', 'kagent', 'core')]);
      assert.equal(noTool.exitCode, 2, noTool.stderr);
      assert.match(noTool.stderr, /carries no schema-rollback contract yet[\s\S]*--tool TOOL/);
      const missing = await sr(['annotate', chart, '--tool', 'goose', '--migrations', join(dir, 'nope')]);
      assert.equal(missing.exitCode, 2);
      assert.match(missing.stderr, /nope: no such directory/);
    });

    it('works on a copy of the fixture migrations for every tool it knows', async () => {
      const gm = join(dir, 'gm');
      cpSync(join(fixtures, 'migrations', 'kagent', 'core'), gm, { recursive: true });
      const chart = writeChart(join(dir, 'gm-chart'), 'apiVersion: v2\nname: gm\nversion: 1.0.0\n');
      const r = await sr(['annotate', chart, '--tool', 'golang-migrate', '--migrations', gm, '-o', 'yaml']);
      assert.equal(r.exitCode, 0, r.stderr);
      const [report] = assertOutputDocuments(r.stdout, 'yaml', ['Annotation']);
      assert.deepEqual((report!['tracks'] as Array<{ to: string }>).map((t) => t.to), ['13']);
    });
  });
}
