import assert from 'node:assert/strict';
import { RefusedError } from '../../src/core/errors.js';
import type { DatabaseConnector, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { golangMigrateNative } from '../../src/tools/golang-migrate-native.js';
import { findTool } from '../../src/tools/index.js';

/** A track's files as the source reads them: where from, and each name with its text. */
const source = (names: string[], origin: string) => ({ origin, files: names.map((name) => ({ name, body: 'SELECT 1;' })) });
const files = source(['1_a', '2_b', '3_c'].flatMap((n) => [`${n}.up.sql`, `${n}.down.sql`]), 'test/');
const driverFor = (tool: string) => (tool === 'golang-migrate' ? golangMigrateNative : undefined);
const ctx: RunnerContext = { databaseUrl: 'postgres://u:pw@db:5432/app', log: { debug: () => undefined }, onOutput: () => undefined };
const step = (over: Partial<TrackStep> = {}): TrackStep => ({
  track: 'core',
  tool: 'golang-migrate',
  table: { table: 'schema_migrations' },
  current: ['3'],
  target: '1',
  revisions: ['3', '2'],
  ...over,
});

/** Every refusal below must happen before any connection: nothing is changed, nothing is locked. */
const connector: DatabaseConnector = {
  connect: () => assert.fail('the runner connected before refusing'),
};

describe('runners/native: refusals before connecting', () => {
  const runner = createNativeRunner({ connector, loadSource: async () => files, driverFor });

  it('is named native', () => assert.equal(runner.name, 'native'));

  it('refuses a tool without a native driver (alembic), pointing to the job runner: it never writes alembic_version itself, not even to preview', async () => {
    const alembicStep = step({ tool: 'alembic', table: { table: 'alembic_version' }, current: ['0010'], target: '0008', revisions: [] });
    const notAlembic = (err: unknown) =>
      err instanceof RefusedError && /not alembic/.test(err.message) && /never writes alembic's version table/.test(err.message) && /--runner job/.test(err.hint ?? '');
    await assert.rejects(runner.run(alembicStep, ctx), notAlembic);
    await assert.rejects(runner.preview!(alembicStep), notAlembic);
  });

  it('refuses when the files revert other revisions than the plan listed', async () => {
    await assert.rejects(runner.run(step({ revisions: ['3'] }), ctx), (err: unknown) => err instanceof RefusedError && /revert 3, 2, the plan said 3/.test(err.message));
  });

  it('refuses a database version the files do not know, and a target above current', async () => {
    await assert.rejects(runner.run(step({ current: ['4'], revisions: ['4', '3', '2'] }), ctx), /database revision 4 is unknown/);
    await assert.rejects(runner.run(step({ current: ['1'], target: '3', revisions: [] }), ctx), /upgrade, not a rollback/);
  });

  describe('versions the files cannot revert: refused at plan time unless --allow-missing-downs', () => {
    const withoutDown2 = source(['000001_a.up.sql', '000001_a.down.sql', '000002_b.up.sql', '000003_c.up.sql', '000003_c.down.sql'], 'src/core/');
    const without2 = source(['1_a.up.sql', '1_a.down.sql', '3_c.up.sql', '3_c.down.sql', '4_d.up.sql', '4_d.down.sql'], 'src/core/');
    const stamps = source(['20240101120000_a.up.sql', '20240101120000_a.down.sql', '20240301090000_b.up.sql', '20240301090000_b.down.sql'], 'src/core/');
    const runnerOf = (f: typeof files, allowMissingDowns?: boolean) => createNativeRunner({ connector, loadSource: async () => f, driverFor, allowMissingDowns });

    it('shows each step with its file', async () => {
      assert.deepEqual(await runner.preview!(step()), [
        { revision: '3', to: '2', file: '3_c.down.sql' },
        { revision: '2', to: '1', file: '2_b.down.sql' },
      ]);
      assert.deepEqual(await runner.preview!(step({ target: 'base', revisions: [] })).then((d) => d.at(-1)), { revision: '1', to: 'base', file: '1_a.down.sql' });
    });

    it('refuses a missing down file, naming it, in preview and run, before connecting', async () => {
      const noDown = (err: unknown) =>
        err instanceof RefusedError &&
        /track core: 2 -> 1: no down file 000002_b\.down\.sql in src\/core\/; golang-migrate would move the table past 2 running nothing/.test(err.message) &&
        /--allow-missing-downs/.test(err.hint ?? '');
      await assert.rejects(runnerOf(withoutDown2).preview!(step()), noDown);
      await assert.rejects(runnerOf(withoutDown2).run(step(), ctx), noDown);
    });

    it('refuses a hole in one-by-one numbering: the step would go over a version with no file at all', async () => {
      await assert.rejects(
        runnerOf(without2).preview!(step({ current: ['4'], target: '1', revisions: [] })),
        (err: unknown) => err instanceof RefusedError && /track core: 3 -> 1: no file at all for version 2 in src\/core\//.test(err.message),
      );
    });

    it('with --allow-missing-downs, plans golang-migrate\'s own steps and shows what is missing', async () => {
      assert.deepEqual(await runnerOf(withoutDown2, true).preview!(step()), [
        { revision: '3', to: '2', file: '000003_c.down.sql' },
        { revision: '2', to: '1' },
      ]);
      assert.deepEqual((await runnerOf(without2, true).preview!(step({ current: ['4'], target: '1', revisions: [] }))).at(-1), {
        revision: '3', to: '1', file: '3_c.down.sql', missing: '2',
      });
    });

    it('accepts the holes of timestamped versions, which are there by design', async () => {
      const steps = await runnerOf(stamps).preview!(step({ current: ['20240301090000'], target: '20240101120000', revisions: [] }));
      assert.deepEqual(steps, [{ revision: '20240301090000', to: '20240101120000', file: '20240301090000_b.down.sql' }]);
    });
  });

  it('reads the source once per run, before anything else', async () => {
    let loads = 0;
    const counting = createNativeRunner({ connector, loadSource: async (track) => (loads++, assert.equal(track, 'core'), files), driverFor });
    await assert.rejects(counting.run(step({ revisions: [] }), ctx), RefusedError);
    assert.equal(loads, 1);
  });

  it('reads the source once for the plan\'s preview, its data at risk and the run: what was measured is what runs', async () => {
    let loads = 0;
    let served = files;
    const counting = createNativeRunner({ connector, loadSource: async () => (loads++, served), driverFor });
    await counting.preview!(step());
    assert.deepEqual((await counting.downScripts!(step())).map((d) => d.file), ['3_c.down.sql', '2_b.down.sql']);
    // The directory changes after the plan: the run still works from the files the plan read.
    served = source(['1_a.up.sql', '1_a.down.sql'], 'test/');
    await assert.rejects(counting.run(step({ revisions: ['3'] }), ctx), /revert 3, 2, the plan said 3/);
    assert.equal(loads, 1);
  });

  it('reads the source again after a failed read (a download that failed once is not kept)', async () => {
    let loads = 0;
    const flaky = createNativeRunner({ connector, loadSource: async () => (++loads === 1 ? Promise.reject(new Error('connection reset')) : files), driverFor });
    await assert.rejects(flaky.preview!(step()), /connection reset/);
    assert.equal((await flaky.preview!(step())).length, 2);
    assert.equal(loads, 2);
  });
});

describe('runners/native: an applied migration no file defines is refused at plan time', () => {
  const dbmateFile = (version: string, name: string) => ({ name: `${version}_${name}.sql`, body: `-- migrate:up\nCREATE TABLE ${name} (id int);\n-- migrate:down\nDROP TABLE ${name};\n` });
  const dbmateFiles = { origin: 'db/migrations/', files: [dbmateFile('20240101000000', 'a'), dbmateFile('20240103000000', 'c'), dbmateFile('20240104000000', 'd')] };
  const dbmateStep = (applied: string[]): TrackStep => ({
    track: 'main', tool: 'dbmate', table: { table: 'schema_migrations' }, current: ['20240104000000'], applied, target: '20240101000000', revisions: ['20240104000000', '20240103000000'],
  });
  const gooseFile = (v: number) => ({ name: `0000${v}_t${v}.sql`, body: `-- +goose Up\nCREATE TABLE t${v} (id int);\n-- +goose Down\nDROP TABLE t${v};\n` });
  const gooseFiles = { origin: 'migrations/', files: [gooseFile(1), gooseFile(3), gooseFile(4)] };
  const gooseStep = (applied: string[]): TrackStep => ({ track: 'main', tool: 'goose', table: { table: 'goose_db_version' }, current: ['4'], applied, target: '3', revisions: ['4'] });
  const runnerWith = (f: { origin: string; files: Array<{ name: string; body: string }> }) =>
    createNativeRunner({ connector, loadSource: async () => f, driverFor: (tool) => findTool(tool)?.offers.native });

  it('dbmate: a version applied between the target and the current one with no file (dbmate would step over it and leave its row) names it, before connecting', async () => {
    const orphan = dbmateStep(['20240104000000', '20240103000000', '20240102000000', '20240101000000']);
    const refused = (err: unknown) => err instanceof RefusedError && /lists 20240102000000 as applied, and no file in db\/migrations\/ defines it/.test(err.message) && /complete migrations/.test(err.hint ?? '');
    await assert.rejects(runnerWith(dbmateFiles).preview!(orphan), refused);
    await assert.rejects(runnerWith(dbmateFiles).run(orphan, ctx), refused);
  });

  it('dbmate: every applied version defined by a file plans as before', async () => {
    const downs = await runnerWith(dbmateFiles).preview!(dbmateStep(['20240104000000', '20240103000000', '20240101000000']));
    assert.deepEqual(downs.map((d) => d.revision), ['20240104000000', '20240103000000']);
  });

  it('goose: an unknown version below the target does not matter to the downs (goose orders versions by number); one above it is refused', async () => {
    const below = await runnerWith(gooseFiles).preview!(gooseStep(['4', '3', '2', '1']));
    assert.deepEqual(below.map((d) => d.revision), ['4']);
    const missingFile = { origin: 'migrations/', files: [gooseFile(1), gooseFile(3), gooseFile(5)] };
    const step5: TrackStep = { ...gooseStep(['5', '4', '3', '1']), current: ['5'], revisions: ['5'] };
    await assert.rejects(runnerWith(missingFile).preview!(step5), (err: unknown) => err instanceof RefusedError && /lists 4 as applied/.test(err.message));
  });
});
