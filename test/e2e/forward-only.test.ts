/**
 * A forward-only schema end to end, through the built plugin in real Helm and the Kubernetes
 * double: a GORM-like app (chart shop, schema-rollback.io/forward-only: gorm) with its PostgreSQL 15
 * in a StatefulSet whose pod runs Debian's pg_dump and psql 15. Snapshot at 0.2.0, upgrade to 0.3.0
 * (a NOT NULL column without a default, a new table, rows), then: --keep-schema refused naming the
 * column, allowed once it has a default; and the rollback that restores the snapshot after showing
 * what is lost.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireDouble } from '../harness/cluster.js';
import { helmVersions, kubectl, run } from '../harness/plugin.js';
import { query, testedMajors } from '../harness/postgres.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { assertInOrder } from '../harness/scenario.js';
import { startWorld, type World } from '../harness/world.js';

const NS = 'shop';
const images = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/images');
const automigrate = (version: string) => readFileSync(path.join(images, `shop-${version}`, 'automigrate.sql'), 'utf8');
const helm = helmVersions.at(-1)!;

describe(`e2e forward-only schema: snapshot, --keep-schema, restore, through ${helm.label}`, function () {
  this.timeout(300_000);
  let world: World;
  const sr = (args: string[]) => world.plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
  const replicas = async () => (await run(kubectl, ['get', 'deployment', 'shop-app', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;

  before(async function () {
    if (!testedMajors().includes(15) || !existsSync('/usr/bin/pg_dump')) {
      console.log('      skipped: needs PostgreSQL 15 among HSR_PG_MAJORS and /usr/bin/pg_dump (postgresql-client 15), the database pod\'s client');
      this.skip();
    }
    world = await startWorld(helm.bin, 'hsr-forward-only-', {
      charts: ['shop'], pgMajor: 15,
      images: { 'postgres:15': path.join(images, 'postgres-15'), 'shop:0.2.0': path.join(images, 'shop-0.2.0'), 'shop:0.3.0': path.join(images, 'shop-0.3.0') },
    });
    requireDouble(this, world.cluster, 'the database pod is a fixture image running Debian\'s pg_dump');
    await world.helmOk(['install', 'shop', 'fixtures/shop', '--version', '0.2.0', '-n', NS, '--create-namespace', '--set', `database.url=${world.db.url}`]);
    // The 0.2.0 app starts: AutoMigrate, then its users write.
    await query(world.db.url, automigrate('0.2.0'));
    await query(world.db.url, `INSERT INTO users (name) VALUES ('Ada'), ('Grace'), ('Linus'); INSERT INTO orders (user_id, total) SELECT id, 9.99 FROM users`);
  });
  after(async () => {
    await world?.db.server.admin(`DROP DATABASE IF EXISTS "${world.db.name}_snapshot_0_2_0" WITH (FORCE)`);
    await world?.close();
  });

  it('refuses a rollback with no snapshot of the target, naming the snapshot command', async () => {
    await world.helmOk(['upgrade', 'shop', 'fixtures/shop', '--version', '0.3.0', '-n', NS, '--reuse-values']);
    const r = await sr(['shop', '--to', '0.2.0', '--db-pod', 'shop-postgres-0', '--yes']);
    assert.equal(r.exitCode, 12, r.stderr);
    assert.match(r.stderr, /no snapshot of chart 0\.2\.0/);
    assert.match(r.stderr, /helm schema-rollback snapshot shop/);
    await world.helmOk(['rollback', 'shop', '1', '-n', NS]);
  });

  it('takes a snapshot at 0.2.0 in the database pod, recorded beside the release', async () => {
    const r = await sr(['snapshot', 'shop', '--db-pod', 'shop-postgres-0']);
    assert.equal(r.exitCode, 0, r.stderr);
    assertInOrder(r.stdout, [`Snapshot of release shop at chart 0.2.0: database ${world.db.name}_snapshot_0_2_0`, /public\.orders\s+3/, /public\.users\s+3/]);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(world.db.server.password));
    const cm = await run(kubectl, ['get', 'configmap', 'shop-schema-rollback-snapshots', '-n', NS, '-o', 'json'], { env: world.plugin.env });
    assert.equal(cm.exitCode, 0, cm.stderr);
    const record = JSON.parse(JSON.parse(cm.stdout).data['0.2.0.json']);
    assert.equal(record.chartVersion, '0.2.0');
    assert.deepEqual(record.tables, [{ table: 'public.orders', rows: 3 }, { table: 'public.users', rows: 3 }]);
    assert.doesNotMatch(cm.stdout, /postgres(ql)?:\/\//);
    // A second one of the same version is refused without --replace.
    const again = await sr(['snapshot', 'shop', '--db-pod', 'shop-postgres-0']);
    assert.equal(again.exitCode, 12, again.stderr);
    assert.match(again.stderr, /--replace/);
    // Taken again with --replace, for programs: the record as a Snapshot document, no URL in it.
    const json = await sr(['snapshot', 'shop', '--db-pod', 'shop-postgres-0', '--replace', '-o', 'json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const [doc] = assertOutputDocuments(json.stdout, 'json', ['Snapshot']);
    assert.deepEqual([doc!['chartVersion'], doc!['database'], doc!['tables']], ['0.2.0', `${world.db.name}_snapshot_0_2_0`, [{ table: 'public.orders', rows: 3 }, { table: 'public.users', rows: 3 }]]);
    assert.doesNotMatch(json.stdout + json.stderr, /postgres(ql)?:\/\//);
  });

  it('after the upgrade to 0.3.0, refuses --keep-schema naming the NOT NULL column, and allows it once the column has a default', async () => {
    await world.helmOk(['upgrade', 'shop', 'fixtures/shop', '--version', '0.3.0', '-n', NS, '--reuse-values']);
    await query(world.db.url, automigrate('0.3.0'));
    await query(world.db.url, `INSERT INTO users (name, email) VALUES ('Barbara', 'b@x'), ('Ken', 'k@x'); INSERT INTO coupons (code) VALUES ('WELCOME')`);
    const refused = await sr(['shop', '--to', '0.2.0', '--keep-schema', '--db-pod', 'shop-postgres-0', '--yes']);
    assert.equal(refused.exitCode, 12, refused.stderr);
    assert.match(refused.stderr, /public\.users\.email: column added since, NOT NULL without a default/);
    assert.match(refused.stderr, /SET DEFAULT/);
    await query(world.db.url, `ALTER TABLE users ALTER COLUMN email SET DEFAULT ''`);
    const allowed = await sr(['shop', '--to', '0.2.0', '--keep-schema', '--db-pod', 'shop-postgres-0', '--dry-run']);
    assert.equal(allowed.exitCode, 0, allowed.stderr);
    assert.match(allowed.stdout, /the newer schema is kept \(--keep-schema\)/);
    const json = await sr(['shop', '--to', '0.2.0', '--keep-schema', '--db-pod', 'shop-postgres-0', '--dry-run', '-o', 'yaml']);
    assert.equal(json.exitCode, 0, json.stderr);
    const [doc] = assertOutputDocuments(json.stdout, 'yaml', ['ForwardOnlyPlan']);
    assert.deepEqual([doc!['mode'], (doc!['target'] as { version: string }).version, doc!['loss']], ['keep-schema', '0.2.0', undefined]);
    await query(world.db.url, `ALTER TABLE users ALTER COLUMN email DROP DEFAULT`);
  });

  it('rolls back to 0.2.0 by restoring the snapshot, after showing the rows, the table and the column lost', async () => {
    const r = await sr(['shop', '--to', '0.2.0', '--db-pod', 'shop-postgres-0', '--yes']);
    assert.equal(r.exitCode, 0, r.stderr);
    assertInOrder(r.stdout, [
      'Schema: forward-only (gorm)',
      '-- What is lost: the database goes back to the snapshot: 3 rows written since',
      /public\.users\s+5\s+3\s+2 rows written since/,
      /public\.coupons\s+1\s+-\s+table created since: dropped with its 1 rows/,
      'column public.users.email (text) created since',
      'scale deployment/shop-app 2->0',
      'Rolled back shop to chart shop 0.2.0 with snapshot',
    ]);
    assert.deepEqual(await query(world.db.url, 'SELECT count(*)::int AS n FROM users'), [{ n: 3 }]);
    assert.deepEqual(await query(world.db.url, `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'`), [{ n: 0 }]);
    assert.deepEqual(await query(world.db.url, `SELECT to_regclass('public.coupons') IS NULL AS gone`), [{ gone: true }]);
    const history = JSON.parse((await world.plugin.helm(['history', 'shop', '-n', NS, '-o', 'json'])).stdout).map((h: { chart: string }) => h.chart);
    assert.equal(history.at(-1), 'shop-0.2.0');
    assert.equal(await replicas(), '2');
  });
});
