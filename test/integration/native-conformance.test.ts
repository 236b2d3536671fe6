/**
 * The native conformance suite: every native driver (test/integration/native-cases/index.ts), driven
 * by the one native runner, on every tested PostgreSQL major (one server per major, a fresh
 * database per test). Each case gives four or more versions, each creating table t_<n> in its up
 * and dropping it in its down, in the tool's own file format, and migrates up as the tool does.
 * What every driver must show: its plan, downs to a middle target and to base leaving exactly the
 * tool's rows, a failure mid-way leaving the table as the tool leaves it, the re-run after the
 * repair, its locks excluding a concurrent migration, and the tool's table read back.
 */
import assert from 'node:assert/strict';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { BASE } from '../../src/core/contract.js';
import { LockedError, StepFailedError } from '../../src/core/errors.js';
import type { MigrationFile, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { getTool } from '../../src/tools/index.js';
import { diffShapes, readSchemaShape } from '../../src/core/schema-shape.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { conformanceCases } from './native-cases/index.js';
import type { ConformanceCase } from './native-cases/types.js';

const connector = createPostgresConnector();
/** Short, so that the lock test gives up fast: nothing else holds the locks in the other tests. */
const LOCK_TIMEOUT_MS = 300;

/** The runner over one set of files for one case. */
function runnerFor(c: ConformanceCase, files: MigrationFile[]) {
  return createNativeRunner({
    connector,
    loadSource: async () => ({ origin: `${c.tool} case/`, files }),
    driverFor: (tool) => (tool === c.tool ? c.driver : undefined),
    lockTimeoutMs: LOCK_TIMEOUT_MS,
  });
}

/** The plan's step from `from` down to `to` (null: base): what the core hands the runner. */
function stepFor(c: ConformanceCase, from: string, to: string | null): TrackStep {
  const [i, j] = [c.versions.indexOf(from), to === null ? -1 : c.versions.indexOf(to)];
  return {
    track: 'main',
    tool: c.tool,
    table: { table: c.table },
    current: [from],
    target: to ?? BASE,
    revisions: c.versions.slice(j + 1, i + 1).reverse(),
  };
}

const context = (url: string): RunnerContext => ({ databaseUrl: url, log: { debug: () => undefined }, onOutput: () => undefined });

/** Which of t_1..t_n exist. */
async function tablesLeft(url: string, c: ConformanceCase): Promise<string[]> {
  const names = c.versions.map((_, i) => `t_${i + 1}`);
  const rows = await query<{ name: string }>(url, `SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relname IN (${names.map((n) => `'${n}'`).join(', ')}) ORDER BY relname`);
  return rows.map((r) => r.name).sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
}
/** The tables of the versions up to and including `version` (null: none). */
const tablesUpTo = (c: ConformanceCase, version: string | null) => c.versions.slice(0, version === null ? 0 : c.versions.indexOf(version) + 1).map((_, i) => `t_${i + 1}`);

/** TrackState.applied, sorted (each tool reads its rows in its own order); undefined for a tool keeping one row (golang-migrate). */
async function appliedRows(c: ConformanceCase, url: string): Promise<string[] | undefined> {
  const session = await connector.connect(url);
  try {
    const { applied } = await getTool(c.tool).readState(session, { table: c.table });
    return applied === undefined ? undefined : [...applied].sort();
  } finally {
    await session.close();
  }
}

/** The case's versions up to and including `version`, sorted like appliedRows. */
const upTo = (c: ConformanceCase, version: string) => c.versions.slice(0, c.versions.indexOf(version) + 1).sort();

async function readState(c: ConformanceCase, url: string) {
  const session = await connector.connect(url);
  try {
    // Where the track stands; the list of applied rows (tools keeping one each) is checked on its own.
    const { applied: _applied, ...state } = await getTool(c.tool).readState(session, { table: c.table });
    return state;
  } finally {
    await session.close();
  }
}

describe('native conformance: every native driver through the native runner', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(testedMajors());
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      beforeEach(async () => {
        db = await freshDatabase(major);
      });
      afterEach(async () => {
        await db.drop();
      });

      for (const c of conformanceCases) {
        const newest = c.versions[c.versions.length - 1]!;
        const second = c.versions[c.versions.length - 2]!;
        const middle = c.versions[Math.floor((c.versions.length - 1) / 2)]!;

        describe(c.tool, () => {
          it('plans the downs newest first: one to the second version, every version to base', () => {
            const files = c.files();
            const one = c.driver.planDowns(files, newest, second).downs;
            assert.deepEqual(one.map((d) => [d.from, d.to]), [[newest, second]]);
            const all = c.driver.planDowns(files, newest, null).downs;
            assert.deepEqual(all.map((d) => d.from), [...c.versions].reverse());
            assert.deepEqual(all.map((d) => d.to), [...c.versions.slice(0, -1).reverse(), null]);
            assert.ok(all.every((d) => d.file !== undefined && d.sql.includes('DROP TABLE') && d.missing === undefined), 'each down with its file and SQL, no hole');
          });

          it('the driver\'s ups leave the tool\'s own rows, and up then down leaves the table and the schema as before', async () => {
            const { planUps, runUp } = c.driver;
            assert.ok(planUps && runUp, `${c.tool}'s driver runs ups (--verify-downs)`);
            const session = await connector.connect(db.url);
            try {
              const table = await c.driver.open(session, { table: c.table });
              for (const up of planUps(c.files(), null, middle)) await runUp(session, table, up);
              assert.deepEqual(await c.readRows(db.url), c.rowsAt(middle));
              const before = await readSchemaShape(session);
              for (const up of planUps(c.files(), middle, newest)) await runUp(session, table, up);
              assert.deepEqual(await c.readRows(db.url), c.rowsAt(newest), 'the ups write what the tool writes');
              assert.deepEqual(await tablesLeft(db.url, c), tablesUpTo(c, newest));
              await runnerFor(c, c.files()).run(stepFor(c, newest, middle), context(db.url));
              assert.deepEqual(await c.readRows(db.url), c.rowsAt(middle));
              assert.deepEqual(diffShapes(before, await readSchemaShape(session)), []);
            } finally {
              await session.close();
            }
          });

          it('downs to a middle target: the tool\'s rows at the target, the tables above it gone, those below kept', async () => {
            await c.migrateUp(db.url, c.files(), newest);
            await runnerFor(c, c.files()).run(stepFor(c, newest, middle), context(db.url));
            assert.deepEqual(await c.readRows(db.url), c.rowsAt(middle));
            assert.deepEqual(await tablesLeft(db.url, c), tablesUpTo(c, middle));
          });

          it('downs to base: the tool\'s rows at base, every table gone', async () => {
            await c.migrateUp(db.url, c.files(), newest);
            await runnerFor(c, c.files()).run(stepFor(c, newest, null), context(db.url));
            assert.deepEqual(await c.readRows(db.url), c.rowsAt(null));
            assert.deepEqual(await tablesLeft(db.url, c), []);
          });

          it('a down failing mid-way: StepFailedError, the table as the tool leaves it, the downs before it kept; the re-run after the repair the hint names finishes', async () => {
            const failing = second;
            const below = c.versions[c.versions.indexOf(failing) - 1] ?? null;
            const broken = c.files({ failingDownOf: failing });
            await c.migrateUp(db.url, c.files(), newest);
            const err = await runnerFor(c, broken).run(stepFor(c, newest, null), context(db.url)).then(
              () => assert.fail('the run went through a failing down'),
              (e: unknown) => e,
            );
            assert.ok(err instanceof StepFailedError, String(err));
            assert.equal(err.revision, failing);
            const failingDown = c.driver.planDowns(broken, newest, null).downs.find((d) => d.from === failing)!;
            if (c.marksDirty) {
              // golang-migrate: (previous, dirty), written before the file ran.
              assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: below === null ? [] : [below], dirty: true });
            } else {
              assert.deepEqual(await c.readRows(db.url), c.rowsAt(failing));
            }
            const left = await tablesLeft(db.url, c);
            assert.ok(!left.includes(`t_${c.versions.length}`), 'the down before the failing one stays done');
            if (failingDown.transactional) assert.deepEqual(left, tablesUpTo(c, failing), 'the failing down\'s transaction rolled its DROP back');

            // The repair, as the hint says it: a dirty table is marked clean at the version the schema is at.
            let from = failing;
            if (c.marksDirty) {
              const at = /while the schema is at (\S+)\. /.exec(err.hint ?? '')?.[1];
              assert.equal(at, failing, `the hint names the version the schema is at: ${err.hint}`);
              assert.ok(c.force, 'a case whose tool marks tables dirty gives its force');
              await c.force(db.url, at);
              from = at;
            } else {
              assert.match(err.hint ?? '', /re-run the rollback/);
            }
            await runnerFor(c, c.files()).run(stepFor(c, from, null), context(db.url));
            assert.deepEqual(await c.readRows(db.url), c.rowsAt(null));
            assert.deepEqual(await tablesLeft(db.url, c), []);
          });

          it('lock contention: each advisory lock the driver names, held by another session, makes the run give up with LockedError, nothing changed (a driver naming none says so here: the plugin\'s run lock excludes a second operator)', async function () {
            await c.migrateUp(db.url, c.files(), newest);
            const probe = await connector.connect(db.url);
            const { locks } = await c.driver.open(probe, { table: c.table }).finally(() => probe.close());
            if (locks.length === 0) {
              this.test!.title += ` — ${c.tool} names none`;
              return;
            }
            for (const lock of locks) {
              const other = await connector.connect(db.url);
              try {
                await other.query('SELECT pg_advisory_lock($1::bigint)', [lock.key]);
                await assert.rejects(
                  runnerFor(c, c.files()).run(stepFor(c, newest, middle), context(db.url)),
                  (e: unknown) => e instanceof LockedError && e.message.includes(`pg_advisory_lock(${lock.key})`) && /held by session pid \d+/.test(e.message),
                );
              } finally {
                await other.close();
              }
              assert.deepEqual(await c.readRows(db.url), c.rowsAt(newest));
              assert.deepEqual(await tablesLeft(db.url, c), tablesUpTo(c, newest));
            }
          });

          it('the version table as the tool creates it is read back: the newest version before, the target after, and every applied row where the tool keeps one each', async () => {
            await c.migrateUp(db.url, c.files(), newest);
            assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: [newest], dirty: false });
            // golang-migrate, the one tool here that marks its table dirty, keeps a single row: no list.
            assert.deepEqual(await appliedRows(c, db.url), c.marksDirty ? undefined : upTo(c, newest));
            await runnerFor(c, c.files()).run(stepFor(c, newest, middle), context(db.url));
            assert.deepEqual(await readState(c, db.url), { tableExists: true, revisions: [middle], dirty: false });
            assert.deepEqual(await appliedRows(c, db.url), c.marksDirty ? undefined : upTo(c, middle));
          });
        });
      }
    });
  }
});
