import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RefusedError, UsageError } from '../../src/core/errors.js';
import { numberedOneByOne, parseMigrationFiles, planGoto, type MigrationFiles } from '../../src/tools/golang-migrate-files.js';

const kagent = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/migrations/kagent');
const fixture = (track: string): MigrationFiles =>
  parseMigrationFiles(
    readdirSync(path.join(kagent, track)).map((name) => ({ name, body: readFileSync(path.join(kagent, track, name), 'utf8') })),
    `${track}/`,
  );
const named = (...names: string[]) => parseMigrationFiles(names.map((name) => ({ name, body: `-- ${name}` })), 'test/');
const shape = (steps: ReturnType<typeof planGoto>) => steps.map((s) => [s.from, s.to, s.file?.name ?? null]);

describe('tools/golang-migrate-files', () => {
  describe('parseMigrationFiles (source/parse.go, source/migration.go)', () => {
    it("reads kagent's core and vector directories: versions without leading zeros, ascending, up/down paired", () => {
      const core = fixture('core');
      assert.deepEqual(core.migrations.map((m) => m.version), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13']);
      assert.equal(core.migrations[12]!.identifier, 'runtime_revision_agent_card');
      assert.equal(core.migrations[12]!.up?.name, '000013_runtime_revision_agent_card.up.sql');
      assert.equal(core.migrations[12]!.down?.name, '000013_runtime_revision_agent_card.down.sql');
      assert.ok(core.migrations.every((m) => m.up !== undefined && m.down !== undefined));
      assert.deepEqual(core.ignored, []);
      assert.deepEqual(fixture('vector').migrations.map((m) => m.identifier), ['vector_support', 'add_memory_hnsw_index', 'memory_uuid_default']);
    });

    it('orders numerically, not by name (9 before 10, timestamps)', () => {
      const files = named('10_b.up.sql', '9_a.up.sql', '20240101120000_t.up.sql', '100_c.down.sql');
      assert.deepEqual(files.migrations.map((m) => m.version), ['9', '10', '100', '20240101120000']);
    });

    it('skips what the tool skips: other names, a version beyond uint64', () => {
      const files = named('README.md', '1_init.up.sql', '1_init.sql', 'x_1.up.sql', '18446744073709551616_big.up.sql', '18446744073709551615_max.up.sql');
      assert.deepEqual(files.migrations.map((m) => m.version), ['1', '18446744073709551615']);
      assert.deepEqual(files.ignored, ['18446744073709551616_big.up.sql', '1_init.sql', 'README.md', 'x_1.up.sql']);
    });

    it('takes any extension and the greedy name of the regex (1_a.up.sql.down.sql is a down)', () => {
      const files = named('1_a.up.sql.down.sql', '2_b.up.txt');
      assert.equal(files.migrations[0]!.down?.name, '1_a.up.sql.down.sql');
      assert.equal(files.migrations[0]!.identifier, 'a.up.sql');
      assert.equal(files.migrations[1]!.up?.name, '2_b.up.txt');
    });

    it('pairs by version only, and refuses a second file of one version and direction (01_ and 1_ are both 1)', () => {
      assert.equal(named('1_a.up.sql', '1_b.down.sql').migrations.length, 1);
      assert.throws(
        () => named('1_a.up.sql', '01_b.up.sql'),
        (err: unknown) => err instanceof UsageError && /two up files for golang-migrate version 1: 1_a.up.sql and 01_b.up.sql/.test(err.message),
      );
    });
  });

  describe('planGoto (migrate.go read, readDown, newMigration)', () => {
    const core = fixture('core');

    it('13 → 8: five downs, each to the previous version, with their files', () => {
      assert.deepEqual(shape(planGoto(core, '13', '8')), [
        ['13', '12', '000013_runtime_revision_agent_card.down.sql'],
        ['12', '11', '000012_agent_instance_message_idempotency.down.sql'],
        ['11', '10', '000011_agent_instance_tasks.down.sql'],
        ['10', '9', '000010_agent_instance_operation.down.sql'],
        ['9', '8', '000009_agent_instances.down.sql'],
      ]);
    });

    it('to base: the last step sets NilVersion (null), as `down -all` does', () => {
      const steps = planGoto(fixture('vector'), '3', null);
      assert.deepEqual(shape(steps), [
        ['3', '2', '000003_memory_uuid_default.down.sql'],
        ['2', '1', '000002_add_memory_hnsw_index.down.sql'],
        ['1', null, '000001_vector_support.down.sql'],
      ]);
    });

    it("keeps 000004's documented no-op down (SELECT 1;) as a step that runs", () => {
      const [step] = planGoto(core, '4', '3');
      assert.equal(step!.file?.name, '000004_feedback_single_pk.down.sql');
      assert.match(step!.file!.body, /^SELECT 1;$/m);
    });

    it('a version without a down file is a step with no body: the version still moves; the step names the file the tool looked for', () => {
      const files = named('1_a.up.sql', '1_a.down.sql', '000002_b.up.sql', '3_c.up.sql', '3_c.down.sql');
      const steps = planGoto(files, '3', '1');
      assert.deepEqual(shape(steps), [
        ['3', '2', '3_c.down.sql'],
        ['2', '1', null],
      ]);
      assert.equal(steps[1]!.expectedFile, '000002_b.down.sql');
      assert.equal(steps[0]!.expectedFile, undefined);
    });

    it('walks the versions that exist, not every integer (gaps, timestamps), and marks no hole where numbers are not one by one', () => {
      const files = named('5_a.up.sql', '20_b.up.sql', '20_b.down.sql', '300_c.up.sql', '300_c.down.sql');
      const steps = planGoto(files, '300', '5');
      assert.deepEqual(shape(steps).map(([from, to]) => [from, to]), [
        ['300', '20'],
        ['20', '5'],
      ]);
      assert.ok(steps.every((s) => s.missing === undefined));
      const stamps = named('20240101120000_a.up.sql', '20240301090000_b.up.sql', '20240301090000_b.down.sql');
      assert.equal(numberedOneByOne(stamps), false);
      assert.equal(planGoto(stamps, '20240301090000', '20240101120000')[0]!.missing, undefined);
    });

    it('in files numbered one by one, a version with no file at all is a hole the step goes over (kagent core without 000008)', () => {
      const files = parseMigrationFiles(
        fixture('core').migrations.filter((m) => m.version !== '8').flatMap((m) => [m.up!, m.down!]),
        'core/',
      );
      assert.equal(numberedOneByOne(files), true);
      const steps = planGoto(files, '13', '7');
      assert.deepEqual(steps.map((s) => [s.from, s.to, s.missing ?? null]), [
        ['13', '12', null],
        ['12', '11', null],
        ['11', '10', null],
        ['10', '9', null],
        ['9', '7', { first: '8', last: '8' }],
      ]);
      assert.deepEqual(planGoto(named('1_a.up.sql', '2_b.up.sql', '5_e.up.sql'), '5', '1')[0]!.missing, { first: '3', last: '4' });
    });

    it('a version known by its down file alone counts (versionExists tries up, then down)', () => {
      const files = named('1_a.up.sql', '2_b.down.sql');
      assert.deepEqual(shape(planGoto(files, '2', '1')), [['2', '1', '2_b.down.sql']]);
    });

    it('accepts versions with leading zeros as numbers', () => {
      assert.equal(planGoto(core, '000013', '00012').length, 1);
    });

    it('current = target, and nil to base, change nothing (ErrNoChange)', () => {
      assert.deepEqual(planGoto(core, '8', '8'), []);
      assert.deepEqual(planGoto(core, null, null), []);
    });

    it('refuses an unknown current version: the database is ahead of these files', () => {
      assert.throws(
        () => planGoto(core, '14', '8'),
        (err: unknown) =>
          err instanceof RefusedError &&
          /database revision 14 is unknown to this version's migrations in core\/ \(golang-migrate: "no migration found for version 14"\); known: 1\.\.13 \(13 versions\)/.test(err.message),
      );
    });

    it('refuses an unknown target version', () => {
      assert.throws(() => planGoto(named('1_a.up.sql', '3_c.up.sql'), '3', '2'), (err: unknown) => err instanceof RefusedError && /target revision 2 is not among/.test(err.message));
    });

    it('checks current before target, as the tool does', () => {
      assert.throws(() => planGoto(core, '99', '98'), /database revision 99/);
    });

    it('refuses a target above current: that is an up', () => {
      assert.throws(() => planGoto(core, '8', '13'), (err: unknown) => err instanceof RefusedError && /target version 13 is newer than the database's 8/.test(err.message));
      assert.throws(() => planGoto(core, null, '1'), (err: unknown) => err instanceof RefusedError && /nothing is applied/.test(err.message));
    });

    it('refuses anything but digits as a version', () => {
      assert.throws(() => planGoto(core, 'head', '1'), UsageError);
    });
  });
});
