import assert from 'node:assert/strict';
import { ContractInvalidError, ExitCode, ForwardOnlyError, RefusedError } from '../../src/core/errors.js';
import { parseContract, PREFIX, renderContract } from '../../src/core/contract.js';
import { resolveContract } from '../../src/core/resolve.js';
import { compatibilityBlockers, planLoss, rowsLost, widens, type Catalog, type CatalogColumn, type CatalogTable } from '../../src/core/schema-catalog.js';
import { plan, type ForwardOnlyFacts } from '../../src/core/forward-only.js';
import { snapshotDatabaseName, withDatabase, type SnapshotRecord } from '../../src/core/snapshot.js';
import { getTool } from '../../src/tools/index.js';
import { forwardOnlyPlanData, forwardOnlyResultData } from '../../src/cli/forward-only-rollback.js';
import { renderData } from '../../src/cli/output.js';
import { assertOutputDocuments } from '../harness/output-schema.js';

const col = (name: string, type: string, more: Partial<CatalogColumn> = {}): CatalogColumn => ({ name, type, notNull: false, hasDefault: false, generated: false, ...more });
const table = (name: string, columns: CatalogColumn[], rows?: number): CatalogTable => ({ schema: 'public', name, columns, ...(rows === undefined ? {} : { rows }) });
const id = col('id', 'bigint', { notNull: true, hasDefault: true });

/** GORM's users table at 0.2.0, and after 0.3.0's AutoMigrate. */
const at020: Catalog = {
  tables: [
    table('users', [id, col('name', 'character varying(40)'), col('age', 'integer')], 3),
    table('orders', [id, col('user_id', 'bigint', { notNull: true }), col('total', 'numeric(10,2)')], 5),
  ],
};

describe('forward-only: the contract value', () => {
  it('reads schema-rollback.io/forward-only as a contract with no tracks, and renders it back', () => {
    const annotations = { [`${PREFIX}forward-only`]: 'gorm', [`${PREFIX}workload`]: 'deployment/{{ .Release.Name }}-app', [`${PREFIX}stop`]: 'deployment/{{ .Release.Name }}-app' };
    const c = parseContract(annotations, 'chart app 0.2.0')!;
    assert.deepEqual(c.forwardOnly, { engine: 'gorm' });
    assert.deepEqual(c.tracks, []);
    assert.deepEqual(renderContract(c), annotations);
  });

  it('refuses forward-only combined with a track, and an engine that is not a name', () => {
    for (const [annotations, expected] of [
      [{ [`${PREFIX}forward-only`]: 'gorm', [`${PREFIX}tool`]: 'goose', [`${PREFIX}revision`]: '3' }, /forward-only cannot be combined with schema-rollback.io\/tool, schema-rollback.io\/revision/],
      [{ [`${PREFIX}forward-only`]: 'GORM AutoMigrate' }, /forwardOnly\.engine/],
    ] as const) {
      assert.throws(() => parseContract(annotations, 'chart app 1.0.0'), (err: unknown) => err instanceof ContractInvalidError && err.problems.some((p) => expected.test(p)));
    }
  });

  it('keeps the version-table rollback away from a forward-only chart: resolveContract throws ForwardOnlyError (exit 12)', () => {
    const release = { name: 'shop', namespace: 'apps', revision: 2, status: 'deployed', chart: 'shop', version: '0.3.0', annotations: { [`${PREFIX}forward-only`]: 'gorm' } };
    assert.throws(() => resolveContract(release, {}, { get: getTool }), (err: unknown) => err instanceof ForwardOnlyError && err.code === ExitCode.refused && /forward-only schema \(gorm\)/.test(err.message));
  });
});

describe('forward-only: can the older code write the newer schema (compatibilityBlockers)', () => {
  it('finds nothing when only nullable columns, defaulted columns and new tables were added, and types widened', () => {
    const live: Catalog = {
      tables: [
        table('users', [id, col('name', 'text'), col('age', 'bigint'), col('nickname', 'text'), col('plan', 'text', { notNull: true, hasDefault: true }), col('slug', 'text', { notNull: true, generated: true })]),
        table('orders', [id, col('user_id', 'bigint', { notNull: true }), col('total', 'numeric(12,2)')]),
        table('coupons', [id, col('code', 'text', { notNull: true })]),
      ],
    };
    assert.deepEqual(compatibilityBlockers(at020, live), []);
  });

  it('names each blocker with its table.column, why, and a fix', () => {
    const live: Catalog = {
      tables: [
        table('users', [id, col('full_name', 'text'), col('age', 'smallint'), col('email', 'text', { notNull: true })]),
        table('orders', [id, col('user_id', 'bigint', { notNull: true }), col('total', 'numeric(10,2)', { notNull: true })]),
      ],
    };
    const blockers = compatibilityBlockers({ tables: [...at020.tables, table('carts', [id])] }, live);
    assert.deepEqual(blockers.map((b) => b.what), ['public.users.name', 'public.users.age', 'public.users.email', 'public.orders.total', 'public.carts']);
    const email = blockers.find((b) => b.what === 'public.users.email')!;
    assert.match(email.why, /added since, NOT NULL without a default/);
    assert.match(email.fix, /ALTER TABLE "public"\."users" ALTER COLUMN "email" SET DEFAULT/);
    assert.match(blockers.find((b) => b.what === 'public.users.name')!.why, /dropped or renamed/);
    assert.match(blockers.find((b) => b.what === 'public.users.age')!.why, /type changed from integer to smallint/);
    assert.match(blockers.find((b) => b.what === 'public.orders.total')!.fix, /DROP NOT NULL/);
    assert.match(blockers.find((b) => b.what === 'public.carts')!.why, /table dropped or renamed/);
  });

  it('tells a widening from a narrowing', () => {
    for (const [from, to] of [['character varying(40)', 'character varying(80)'], ['character varying(40)', 'text'], ['integer', 'bigint'], ['numeric(10,2)', 'numeric(12,3)'], ['real', 'double precision'], ['integer', 'numeric']]) {
      assert.equal(widens(from!, to!), true, `${from} -> ${to}`);
    }
    for (const [from, to] of [['character varying(80)', 'character varying(40)'], ['text', 'character varying(40)'], ['bigint', 'integer'], ['numeric(10,2)', 'numeric(10,3)'], ['text', 'integer'], ['numeric', 'numeric(10,2)']]) {
      assert.equal(widens(from!, to!), false, `${from} -> ${to}`);
    }
  });
});

describe('forward-only: what a restore loses (planLoss)', () => {
  it('counts rows written since per table, tables and columns created since, and tables that come back', () => {
    const live: Catalog = {
      tables: [
        table('users', [id, col('name', 'character varying(40)'), col('age', 'integer'), col('email', 'text', { notNull: true })], 7),
        table('coupons', [id], 4),
      ],
    };
    const loss = planLoss(at020, live);
    assert.deepEqual(loss.tables, [{ table: 'public.users', liveRows: 7, snapshotRows: 3, lost: 4 }]);
    assert.deepEqual(loss.created, [{ table: 'public.coupons', rows: 4 }]);
    assert.deepEqual(loss.columns, [{ table: 'public.users', column: 'email', type: 'text' }]);
    assert.deepEqual(loss.restored, [{ table: 'public.orders', rows: 5 }]);
    assert.equal(rowsLost(loss), 8);
  });
});

describe('forward-only: plan', () => {
  const snapshot: SnapshotRecord = {
    release: 'shop', chartVersion: '0.2.0', database: 'shop_snapshot_0_2_0', source: 'shop', takenAt: '2026-12-01T00:00:00Z', takenBy: 'ops@host (pid 1)',
    bytes: 8_000_000, serverMajor: 15, via: 'pod/shop-postgres-0', tables: [], checksum: 'md5:x',
  };
  const facts = (over: Partial<ForwardOnlyFacts>): ForwardOnlyFacts => ({
    release: { name: 'shop', namespace: 'apps', revision: 2, status: 'deployed', chart: 'shop', version: '0.3.0', annotations: {} },
    target: { name: 'shop', version: '0.2.0', annotations: {}, ref: 'fixtures/shop' },
    engine: 'gorm', snapshot, snapshotCatalog: at020,
    live: { tables: [table('users', [id, col('name', 'character varying(40)'), col('age', 'integer'), col('email', 'text', { notNull: true })], 9), at020.tables[1]!] },
    keepSchema: false, stop: [{ ref: 'deployment/shop-app', replicas: 2 }],
    handoff: { release: 'shop', chart: 'fixtures/shop', version: '0.2.0' }, pod: 'shop-postgres-0', databaseUrlSource: 'x', databaseRoute: 'direct', clearStatements: [],
    ...over,
  });

  it('refuses without a snapshot of the target, naming the snapshot command and what else can be done', () => {
    assert.throws(() => plan(facts({ snapshot: undefined, snapshotCatalog: undefined, live: undefined })), (err: unknown) =>
      err instanceof RefusedError && /no snapshot of chart 0\.2\.0/.test(err.message) && /helm schema-rollback snapshot shop/.test(err.hint ?? '') && /keep the newer schema/.test(err.hint ?? ''));
  });

  it('plans a restore with the rows lost', () => {
    const p = plan(facts({}));
    assert.equal(p.kind, 'restore');
    assert.equal(p.kind === 'restore' && p.rowsLost, 6);
  });

  it('-o json|yaml: the restore plan and its result as documents valid against their schemas, with what is lost', () => {
    const p = plan(facts({}));
    for (const format of ['json', 'yaml'] as const) {
      const stdout = `${renderData('ForwardOnlyPlan', forwardOnlyPlanData(p), format)}${format === 'yaml' ? '---\n' : ''}${renderData('Result', forwardOnlyResultData(p), format)}`;
      const [doc, result] = assertOutputDocuments(stdout, format, ['ForwardOnlyPlan', 'Result']);
      assert.equal(doc!['mode'], 'restore');
      assert.deepEqual((doc!['loss'] as { rowsLost: number; created: unknown[] }).rowsLost, 6);
      assert.deepEqual(doc!['stop'], [{ ref: 'deployment/shop-app', replicas: 2 }]);
      assert.deepEqual(result!['forwardOnly'], { mode: 'restore', snapshot: 'shop_snapshot_0_2_0' });
      assert.deepEqual(result!['tracks'], []);
    }
    const kept = plan(facts({ keepSchema: true, live: at020 }));
    const [doc] = assertOutputDocuments(renderData('ForwardOnlyPlan', forwardOnlyPlanData(kept), 'json'), 'json', ['ForwardOnlyPlan']);
    assert.equal(doc!['mode'], 'keep-schema');
    assert.equal(doc!['loss'], undefined);
  });

  it('-o json of a snapshot: the record, valid against schemas/snapshot.v1.json', () => {
    const [doc] = assertOutputDocuments(renderData('Snapshot', { ...snapshot, tables: [{ table: 'public.users', rows: 3 }] }, 'json'), 'json', ['Snapshot']);
    assert.equal(doc!['database'], 'shop_snapshot_0_2_0');
  });

  it('refuses --keep-schema naming the NOT NULL column added since, and allows it once the column has a default', () => {
    assert.throws(() => plan(facts({ keepSchema: true })), (err: unknown) => err instanceof RefusedError && err.code === ExitCode.refused && /public\.users\.email: column added since, NOT NULL without a default/.test(err.message));
    const fixed = { tables: [table('users', [id, col('name', 'character varying(40)'), col('age', 'integer'), col('email', 'text', { notNull: true, hasDefault: true })]), at020.tables[1]!] };
    assert.equal(plan(facts({ keepSchema: true, live: fixed })).kind, 'keep-schema');
  });

  it('lists a hand-off that would fail with the other reasons', () => {
    assert.throws(() => plan(facts({ keepSchema: true, handoffProblem: 'the hand-off would fail: boom' })), (err: unknown) => err instanceof RefusedError && err.reasons.length === 2);
  });
});

describe('forward-only: snapshot names', () => {
  it('names the snapshot database after the database and chart version, within 63 bytes', () => {
    assert.equal(snapshotDatabaseName('shop', '0.2.0'), 'shop_snapshot_0_2_0');
    assert.equal(snapshotDatabaseName('shop', '1.0.0-rc.1+b7'), 'shop_snapshot_1_0_0_rc_1_b7');
    const long = snapshotDatabaseName('x'.repeat(63), '0.2.0');
    assert.equal(long.length, 63);
    assert.ok(long.endsWith('_snapshot_0_2_0'));
  });

  it('changes only the database of a URL', () => {
    assert.equal(withDatabase('postgres://u:p%40ss@db.apps:5432/shop?sslmode=require', 'shop_snapshot_0_2_0'), 'postgres://u:p%40ss@db.apps:5432/shop_snapshot_0_2_0?sslmode=require');
  });
});
