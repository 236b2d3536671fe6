import assert from 'node:assert/strict';
import { RefusedError } from '../../src/core/errors.js';
import type { DatabaseConnector, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { golangMigrateNative } from '../../src/tools/golang-migrate-native.js';

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
});
