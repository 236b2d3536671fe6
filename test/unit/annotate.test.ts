import assert from 'node:assert/strict';
import { parseMigrationDirs } from '../../src/cli/commands/annotate.js';
import { annotate, type AnnotateOptions } from '../../src/core/annotate.js';
import { ExitCode, MigrationsError, RollbackError, UsageError } from '../../src/core/errors.js';
import type { ChartFilesPort, MigrationFile, MigrationFilesPort } from '../../src/core/ports.js';
import { getTool } from '../../src/tools/index.js';

/** Chart.yaml and migration directories in memory. */
function world(chartYaml: string, dirs: Record<string, string[]>) {
  const written: string[] = [];
  const charts: ChartFilesPort = {
    async readChartYaml(dir) {
      return { path: `${dir}/Chart.yaml`, text: written.at(-1) ?? chartYaml };
    },
    async writeChartYaml(_path, text) {
      written.push(text);
    },
  };
  const migrations: MigrationFilesPort = {
    async read(dir, { track, several }) {
      const sub = `${dir}/${track}`;
      const where = dirs[sub] ? sub : several ? undefined : dir;
      if (where === undefined || !dirs[where]) throw new UsageError(`no directory ${sub}`);
      return { origin: where, files: dirs[where]!.map((name): MigrationFile => ({ name, body: '' })) };
    },
  };
  const run = (opts: Partial<AnnotateOptions>) =>
    annotate({ charts, migrations, tools: { get: getTool }, log: { debug: () => undefined } }, { chartDir: 'chart', migrations: { dir: 'm', byTrack: {} }, check: false, ...opts });
  return { run, written };
}

const TWO = 'name: k\nversion: 1.0.0\nannotations:\n  schema-rollback.io/tracks: |\n    - name: core\n      tool: goose\n      revision: "1"\n    - name: extra\n      tool: dbmate\n      revision: "001"\n';

describe('core/annotate', () => {
  it('annotates every track from DIR/TRACK, and reports what changed', async () => {
    const w = world(TWO, { 'm/core': ['1_a.sql', '2_b.go'], 'm/extra': ['001_a.sql', '002_b.sql'] });
    const report = await w.run({});
    assert.deepEqual(report.tracks.map((t) => [t.track, t.from, t.to, t.changed]), [['core', '1', '2', true], ['extra', '001', '002', true]]);
    assert.equal(report.written, true);
    assert.equal(w.written[0], TWO.replace('"1"', '"2"').replace('"001"', '"002"'));
    const again = await w.run({ check: true });
    assert.deepEqual([again.changed, again.written], [false, false]);
  });

  it('--check reports every stale track with exit 18 and writes nothing', async () => {
    const w = world(TWO, { 'm/core': ['1_a.sql', '2_b.go'], 'm/extra': ['001_a.sql'] });
    await assert.rejects(w.run({ check: true }), (e) => e instanceof RollbackError && e.code === ExitCode.revisionStale && /track core: Chart\.yaml has 1, the migrations' head is 2/.test(e.message));
    assert.equal(w.written.length, 0);
  });

  it('refuses --branch for several tracks, an unknown track, a TRACK=DIR for no track, a tool that contradicts the contract', async () => {
    const w = world(TWO, { 'm/core': ['1_a.sql'], 'm/extra': ['001_a.sql'] });
    await assert.rejects(w.run({ branch: 'x' }), /--branch names the branch of one track/);
    await assert.rejects(w.run({ track: 'nope' }), /has no track "nope"/);
    await assert.rejects(w.run({ migrations: { byTrack: { other: 'd' } } }), /names track\(s\) other/);
    await assert.rejects(w.run({ track: 'core', tool: 'alembic' }), /is a goose track, not alembic/);
  });

  it('a broken directory is exit 16 with the directory named', async () => {
    const w = world(TWO, { 'm/core': ['1_a.sql', '01_b.sql'], 'm/extra': ['001_a.sql'] });
    await assert.rejects(w.run({}), (e) => e instanceof MigrationsError && e.code === 16 && /^m\/core: two goose migrations for version 1/.test(e.message));
  });

  it('parseMigrationDirs: one DIR and TRACK=DIR pairs', () => {
    assert.deepEqual(parseMigrationDirs(['m', 'core=x/y', 'vector=/a=b']), { dir: 'm', byTrack: { core: 'x/y', vector: '/a=b' } });
    assert.deepEqual(parseMigrationDirs('only'), { dir: 'only', byTrack: {} });
    assert.throws(() => parseMigrationDirs(['a', 'b']), /two directories/);
    assert.throws(() => parseMigrationDirs(['c=a', 'c=b']), /track c twice/);
  });
});
