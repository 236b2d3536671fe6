/**
 * Forward-only schemas against real PostgreSQL: the catalog read (every tested major), and the
 * snapshot's copy and restore scripts run with Debian's postgresql-client 15 (/usr/bin: pg_dump
 * talks to servers up to 15, so those run on major 15 only) as the database's pod runs them: sh -c
 * with the URLs on stdin.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { clearLiveStatements, restoreScript } from '../../src/core/forward-only.js';
import { compatibilityBlockers, contentChecksum, countRows, planLoss, readCatalog } from '../../src/core/schema-catalog.js';
import { copyScript, passwordsApart, withDatabase } from '../../src/core/snapshot.js';
import { freshDatabase, query, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();
const images = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/images');
const automigrate = (version: string) => readFileSync(path.join(images, `shop-${version}`, 'automigrate.sql'), 'utf8');
const CLIENT = '/usr/bin/pg_dump';

/**
 * The database pod's shell: sh -c SCRIPT with INPUT on stdin; its exit code and output. pg_dump,
 * pg_restore and psql are found through shims that write their argv to `argvLog` (what `ps` in
 * the pod would show), then run the real program.
 */
const shims = mkdtempSync(path.join(tmpdir(), 'hsr-pod-shims-'));
const argvLog = path.join(shims, 'argv.log');
for (const program of ['pg_dump', 'pg_restore', 'psql']) {
  writeFileSync(path.join(shims, program), `#!/bin/sh\necho "${program} $*" >> '${argvLog}'\nexec /usr/bin/${program} "$@"\n`, { mode: 0o755 });
}
function podShell(script: string, input: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PATH: `${shims}:${process.env['PATH'] ?? ''}` } });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
    child.stdin.end(input);
  });
}

async function catalogOf(url: string, counted = true) {
  const db = await connector.connect(url);
  try {
    const c = await readCatalog(db);
    return { catalog: counted ? await countRows(db, c) : c, checksum: await contentChecksum(db, c) };
  } finally {
    await db.close();
  }
}

async function shopAt020(url: string): Promise<void> {
  await query(url, automigrate('0.2.0'));
  await query(url, `INSERT INTO users (name) VALUES ('Ada'), ('Grace'), ('Linus'); INSERT INTO orders (user_id, total) SELECT id, 9.99 FROM users`);
}

describe('forward-only schemas (PostgreSQL)', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(testedMajors());
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}: the catalog`, () => {
      let db: FreshDatabase;
      beforeEach(async () => (db = await freshDatabase(major)));
      afterEach(async () => db.drop());

      it('reads each table with its columns, NOT NULL and defaults, counts rows, and checksums the data', async () => {
        await shopAt020(db.url);
        const before = await catalogOf(db.url);
        const users = before.catalog.tables.find((t) => t.name === 'users')!;
        assert.deepEqual(users.columns.map((c) => [c.name, c.type, c.notNull, c.hasDefault]), [
          ['id', 'bigint', true, true], ['name', 'character varying(40)', true, false], ['created_at', 'timestamp with time zone', true, true],
        ]);
        assert.deepEqual(before.catalog.tables.map((t) => [t.name, t.rows]), [['orders', 3], ['users', 3]]);
        assert.equal((await catalogOf(db.url)).checksum, before.checksum, 'the same data gives the same checksum');
        await query(db.url, `UPDATE orders SET total = 10 WHERE id = 1`);
        assert.notEqual((await catalogOf(db.url)).checksum, before.checksum, 'an update changes it');
      });

      it('finds the NOT NULL column 0.3.0 adds without a default, and none once it has one', async () => {
        await shopAt020(db.url);
        const target = (await catalogOf(db.url, false)).catalog;
        await query(db.url, automigrate('0.3.0'));
        assert.deepEqual(compatibilityBlockers(target, (await catalogOf(db.url, false)).catalog).map((b) => b.what), ['public.users.email']);
        await query(db.url, `ALTER TABLE users ALTER COLUMN email SET DEFAULT ''`);
        assert.deepEqual(compatibilityBlockers(target, (await catalogOf(db.url, false)).catalog), []);
      });
    });
  }

  describe('PostgreSQL 15: snapshot and restore with pg_dump, pg_restore and psql 15', () => {
    let db: FreshDatabase;
    let snapshotUrl: string;
    before(function () {
      if (!testedMajors().includes(15)) {
        console.log('      skipped: HSR_PG_MAJORS leaves out 15, the only major /usr/bin/pg_dump (postgresql-client 15) can dump');
        this.skip();
      }
      if (!existsSync(CLIENT)) {
        console.log(`      skipped: ${CLIENT} is missing (scripts/setup.sh installs Debian's postgresql-client)`);
        this.skip();
      }
    });
    beforeEach(async () => {
      db = await freshDatabase(15);
      await shopAt020(db.url);
      const name = `${db.name}_snapshot_0_2_0`;
      await db.server.admin(`CREATE DATABASE "${name}" TEMPLATE template0`);
      snapshotUrl = withDatabase(db.url, name);
      const copy = await podShell(copyScript(), passwordsApart(db.url, snapshotUrl));
      assert.equal(copy.code, 0, copy.output);
    });
    afterEach(async () => {
      await db.server.admin(`DROP DATABASE IF EXISTS "${db.name}_snapshot_0_2_0" WITH (FORCE)`);
      await db.drop();
    });

    it('copies the database whole: the snapshot has the same tables, rows and checksum', async () => {
      const [live, snap] = [await catalogOf(db.url), await catalogOf(snapshotUrl)];
      assert.deepEqual(snap.catalog, live.catalog);
      assert.equal(snap.checksum, live.checksum);
      // The password came on stdin into PGPASSWORD: no argv in the pod held it.
      const argv = readFileSync(argvLog, 'utf8');
      assert.match(argv, /^pg_dump .*--dbname=postgres/m);
      assert.match(argv, /^pg_restore .*--dbname=postgres/m);
      assert.ok(new URL(db.url).password.length > 0, 'the test database has a password');
      assert.ok(!argv.includes(decodeURIComponent(new URL(db.url).password)), argv);
    });

    it('restores the snapshot over an upgraded database in one transaction: the rows, the column and the table added since are gone', async () => {
      await query(db.url, automigrate('0.3.0'));
      await query(db.url, `INSERT INTO users (name, email) VALUES ('Barbara', 'b@x'), ('Ken', 'k@x'); INSERT INTO coupons (code) VALUES ('WELCOME')`);
      const snapshot = await catalogOf(snapshotUrl);
      const loss = planLoss(snapshot.catalog, (await catalogOf(db.url)).catalog);
      assert.deepEqual(loss.tables.find((t) => t.table === 'public.users'), { table: 'public.users', liveRows: 5, snapshotRows: 3, lost: 2 });
      assert.deepEqual(loss.created, [{ table: 'public.coupons', rows: 1 }]);
      assert.deepEqual(loss.columns, [{ table: 'public.users', column: 'email', type: 'text' }]);

      const session = await connector.connect(db.url);
      const clear = await clearLiveStatements(session).finally(() => session.close());
      const restore = await podShell(restoreScript(clear), passwordsApart(snapshotUrl, db.url));
      assert.equal(restore.code, 0, restore.output);
      const argv = readFileSync(argvLog, 'utf8');
      assert.match(argv, /^psql .*--single-transaction --dbname=postgres/m);
      assert.ok(!argv.includes(decodeURIComponent(new URL(db.url).password)), argv);
      const after = await catalogOf(db.url);
      assert.deepEqual(after.catalog, snapshot.catalog);
      assert.equal(after.checksum, snapshot.checksum);
      // The app at 0.2.0 starts again on it: its AutoMigrate and its inserts work (the sequences came back too).
      await query(db.url, automigrate('0.2.0'));
      await query(db.url, `INSERT INTO users (name) VALUES ('Edsger')`);
      assert.deepEqual(await query(db.url, 'SELECT max(id)::int AS id FROM users'), [{ id: 4 }]);
    });

    it('a restore that fails changes nothing (psql --single-transaction)', async () => {
      await query(db.url, automigrate('0.3.0'));
      const before = await catalogOf(db.url);
      const session = await connector.connect(db.url);
      const clear = await clearLiveStatements(session).finally(() => session.close());
      const restore = await podShell(restoreScript([...clear, 'CREATE TABLE users (clash int);']), passwordsApart(snapshotUrl, db.url));
      assert.notEqual(restore.code, 0);
      assert.match(restore.output, /rolled back/);
      const after = await catalogOf(db.url);
      assert.deepEqual(after.catalog, before.catalog);
      assert.equal(after.checksum, before.checksum);
    });
  });
});
