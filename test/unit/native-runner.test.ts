import assert from 'node:assert/strict';
import { RefusedError } from '../../src/core/errors.js';
import type { DatabaseConnector, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { parseMigrationFiles } from '../../src/tools/golang-migrate-files.js';

const files = parseMigrationFiles(
  ['1_a', '2_b', '3_c'].flatMap((n) => [`${n}.up.sql`, `${n}.down.sql`]).map((name) => ({ name, body: 'SELECT 1;' })),
  'test/',
);
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
  const runner = createNativeRunner({ connector, loadSource: async () => files });

  it('is named native', () => assert.equal(runner.name, 'native'));

  it('runs golang-migrate tracks only: it never writes alembic_version itself, not even to preview', async () => {
    const alembicStep = step({ tool: 'alembic', table: { table: 'alembic_version' }, current: ['0010'], target: '0008', revisions: [] });
    const notAlembic = (err: unknown) => err instanceof RefusedError && /not alembic/.test(err.message) && /never writes alembic's version table/.test(err.message);
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

  it('reads the source once per run, before anything else', async () => {
    let loads = 0;
    const counting = createNativeRunner({ connector, loadSource: async (track) => (loads++, assert.equal(track, 'core'), files) });
    await assert.rejects(counting.run(step({ revisions: [] }), ctx), RefusedError);
    assert.equal(loads, 1);
  });
});
