/**
 * The plan's chart lookups answered from Helm's repository caches (issue 12): answered without helm
 * only when the caches give the whole answer; everything else asked of helm, its answer and errors
 * unchanged. Real files in a temporary HELM_* layout; helm is a double that counts its calls.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withCachedChartReads } from '../../src/adapters/cached-chart-reads.js';
import { UsageError } from '../../src/core/errors.js';
import type { ChartInfo } from '../../src/core/ports.js';

const digest = (n: number) => `ab${n.toString(16).padStart(62, '0')}`;
const index = (charts: Record<string, Array<{ version: string; digest?: string }>>) =>
  `apiVersion: v1\nentries:\n${Object.entries(charts).map(([name, list]) => `  ${name}:\n${list.map((e) => `  - name: ${name}\n    version: ${e.version}\n${e.digest ? `    digest: ${e.digest}\n` : ''}    urls: [${name}-${e.version}.tgz]\n`).join('')}`).join('')}`;

describe('chart lookups from the repository caches (findChartRef, showChart)', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let calls: string[];
  const log = { debug: (m: string) => void (process.env['DEBUG_T'] && console.log(m)) };
  const helm = () => ({
    async run(args: string[]) {
      calls.push(args.join(' '));
      return '';
    },
    async findChartRef(name: string) {
      calls.push(`search ${name}`);
      throw new UsageError(`several chart repositories have a chart named ${name}`);
    },
    async showChart(ref: string, version: string): Promise<ChartInfo> {
      calls.push(`show ${ref} ${version}`);
      return { name: ref.split('/')[1]!, version, annotations: { 'schema-rollback.io/from': 'helm' } };
    },
  });
  const repos = (...names: string[]) => writeFileSync(env['HELM_REPOSITORY_CONFIG']!, `repositories:\n${names.map((n) => `- name: ${n}\n  url: http://127.0.0.1/${n}\n`).join('')}`);
  const repoIndex = (repo: string, text: string) => writeFileSync(path.join(env['HELM_REPOSITORY_CACHE']!, `${repo}-index.yaml`), text);

  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'hsr-chart-cache-'));
    env = { HELM_REPOSITORY_CONFIG: path.join(home, 'repositories.yaml'), HELM_REPOSITORY_CACHE: path.join(home, 'repository'), HELM_CACHE_HOME: path.join(home, 'cache') };
    mkdirSync(env['HELM_REPOSITORY_CACHE']!, { recursive: true });
    calls = [];
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('names the one repository holding the chart without helm; several, none or an unreadable index: helm decides', async () => {
    repos('fixtures', 'other');
    repoIndex('fixtures', index({ kagent: [{ version: '0.9.0' }] }));
    repoIndex('other', index({ 'kagent-extra': [{ version: '1.0.0' }] }));
    assert.equal(await withCachedChartReads(helm(), env, log).findChartRef('kagent'), 'fixtures/kagent');
    assert.deepEqual(calls, []);

    repoIndex('other', index({ kagent: [{ version: '1.0.0' }] }));
    await assert.rejects(withCachedChartReads(helm(), env, log).findChartRef('kagent'), /several chart repositories/);
    await assert.rejects(withCachedChartReads(helm(), env, log).findChartRef('nothing-here'), /several/);
    rmSync(path.join(env['HELM_REPOSITORY_CACHE']!, 'other-index.yaml'));
    await assert.rejects(withCachedChartReads(helm(), env, log).findChartRef('kagent'), /several/);
    assert.deepEqual(calls, ['search kagent', 'search nothing-here', 'search kagent']);
  });

  it("a version's Chart.yaml from the digest cache once read; a miss, a range or a version not in the index asks helm", async () => {
    repos('fixtures');
    repoIndex('fixtures', index({ kagent: [{ version: '0.9.0', digest: digest(9) }, { version: '0.8.0', digest: digest(8) }, { version: '0.7.0' }] }));
    const first = withCachedChartReads(helm(), env, log);
    assert.equal((await first.showChart('fixtures/kagent', '0.8.0')).annotations['schema-rollback.io/from'], 'helm');
    assert.deepEqual(calls, ['show fixtures/kagent 0.8.0']);
    // Remembered under the package's digest: the next plan reads it without helm.
    const again = await withCachedChartReads(helm(), env, log).showChart('fixtures/kagent', '0.8.0');
    assert.deepEqual(again, { name: 'kagent', version: '0.8.0', annotations: { 'schema-rollback.io/from': 'helm' } });
    assert.equal(calls.length, 1);

    const reads = withCachedChartReads(helm(), env, log);
    await reads.showChart('fixtures/kagent', '^0.8');
    await reads.showChart('fixtures/kagent', '0.7.0');
    await reads.showChart('fixtures/kagent', '0.7.0');
    await reads.showChart('fixtures/kagent', '1.0.0');
    assert.deepEqual(calls.slice(1), ['show fixtures/kagent ^0.8', 'show fixtures/kagent 0.7.0', 'show fixtures/kagent 0.7.0', 'show fixtures/kagent 1.0.0']);
  });

  it('a cache file for another version under the digest is not taken; a local directory named like repo/chart is helm\'s', async () => {
    repos('fixtures');
    repoIndex('fixtures', index({ kagent: [{ version: '0.8.0', digest: digest(8) }] }));
    mkdirSync(path.join(env['HELM_CACHE_HOME']!, 'schema-rollback', 'charts'), { recursive: true });
    writeFileSync(path.join(env['HELM_CACHE_HOME']!, 'schema-rollback', 'charts', `${digest(8)}.json`), JSON.stringify({ name: 'kagent', version: '0.9.9', annotations: {} }));
    assert.equal((await withCachedChartReads(helm(), env, log).showChart('fixtures/kagent', '0.8.0')).version, '0.8.0');
    assert.deepEqual(calls, ['show fixtures/kagent 0.8.0']);

    const cwd = process.cwd();
    process.chdir(home);
    try {
      mkdirSync(path.join(home, 'fixtures', 'kagent'), { recursive: true });
      await withCachedChartReads(helm(), env, log).showChart('fixtures/kagent', '0.8.0');
      assert.deepEqual(calls, ['show fixtures/kagent 0.8.0', 'show fixtures/kagent 0.8.0']);
    } finally {
      process.chdir(cwd);
    }
  });
});
