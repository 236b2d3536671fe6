/**
 * The tool modules against real PostgreSQL, every supported major: the version tables as each tool
 * leaves them, golang-migrate's advisory lock as pg_locks shows it, and alembic cross-checked with
 * the real alembic (Debian python3-alembic for /usr/bin/python3; skipped with a message without it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { VersionTableError } from '../../src/core/errors.js';
import type { DatabaseSession } from '../../src/core/ports.js';
import { planTrack } from '../../src/core/planner.js';
import { alembic } from '../../src/tools/alembic.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';
import { advisoryLockKey, advisoryLockKeys } from '../../src/tools/golang-migrate-native.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase, type PgMajor } from '../harness/postgres.js';

const connector = createPostgresConnector();
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/alembic');
/** Debian's python3-alembic installs for the system Python, not for a pyenv python3 first on PATH. */
const SYSTEM_PYTHON = process.env['HSR_SYSTEM_PYTHON'] ?? '/usr/bin/python3';

/** golang-migrate's own DDL (database/postgres ensureVersionTable), verbatim. */
const golangMigrateDdl = (schema: string, table: string) =>
  `CREATE TABLE IF NOT EXISTS "${schema}"."${table}" (version bigint not null primary key, dirty boolean not null)`;
/** alembic's DDL as `upgrade --sql` prints it (reference §4). */
const alembicDdl = (qualified: string) =>
  `CREATE TABLE ${qualified} (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))`;

describe('tools against real PostgreSQL', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(testedMajors());
  });
  after(() => {
    sharedDriver?.close();
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      let session: DatabaseSession;
      const others: DatabaseSession[] = [];
      const sql = (text: string, params?: unknown[]) => session.query(text, params);

      beforeEach(async () => {
        db = await freshDatabase(major);
        session = await connector.connect(db.url);
      });
      afterEach(async () => {
        await Promise.all([session, ...others.splice(0)].map((s) => s.close()));
        await db.drop();
      });

      describe('golang-migrate', () => {
        const ref = { table: 'schema_migrations' };

        it('reads a missing table as tableExists=false', async () => {
          assert.deepEqual(await golangMigrate.readState(session, ref), { tableExists: false, revisions: [], dirty: false });
        });

        it("reads the tool's own empty table (no version) as []", async () => {
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          assert.deepEqual(await golangMigrate.readState(session, ref), { tableExists: true, revisions: [], dirty: false });
        });

        it('reads (13, false)', async () => {
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES ($1, $2)', [13, false]);
          assert.deepEqual(await golangMigrate.readState(session, ref), { tableExists: true, revisions: ['13'], dirty: false });
        });

        it('reads (7, true) as dirty', async () => {
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES ($1, $2)', [7, true]);
          assert.deepEqual(await golangMigrate.readState(session, ref), { tableExists: true, revisions: ['7'], dirty: true });
        });

        it('reads (-1, true), written after a failed down of the first migration, as no revision, dirty', async () => {
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (-1, true)');
          assert.deepEqual(await golangMigrate.readState(session, ref), { tableExists: true, revisions: [], dirty: true });
        });

        it('keeps bigint versions exact (timestamps, int64 max)', async () => {
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql("INSERT INTO schema_migrations VALUES ('9223372036854775807', false)");
          assert.deepEqual((await golangMigrate.readState(session, ref)).revisions, ['9223372036854775807']);
          await sql("TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES (20240101120000, false)");
          assert.deepEqual((await golangMigrate.readState(session, ref)).revisions, ['20240101120000']);
        });

        it('reads a non-default schema and table (kagent vector track)', async () => {
          await sql('CREATE SCHEMA vector');
          await sql(golangMigrateDdl('vector', 'vector_schema_migrations'));
          await sql('INSERT INTO vector.vector_schema_migrations VALUES (3, false)');
          assert.deepEqual(await golangMigrate.readState(session, { schema: 'vector', table: 'vector_schema_migrations' }), {
            tableExists: true,
            revisions: ['3'],
            dirty: false,
          });
          // In the default schema it does not exist.
          assert.equal((await golangMigrate.readState(session, { table: 'vector_schema_migrations' })).tableExists, false);
        });

        it('defaults the schema to current_schema(), as the tool does', async () => {
          await sql('CREATE SCHEMA app');
          await sql(golangMigrateDdl('app', 'schema_migrations'));
          await sql('INSERT INTO app.schema_migrations VALUES (5, false)');
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql('INSERT INTO public.schema_migrations VALUES (9, false)');
          assert.deepEqual((await golangMigrate.readState(session, ref)).revisions, ['9']);
          // current_schema() skips schemas of the search_path that do not exist.
          await sql('SET search_path = nosuch, app, public');
          assert.deepEqual((await golangMigrate.readState(session, ref)).revisions, ['5']);
        });

        it('follows search_path given in the URL, as lib/pq sends it', async () => {
          await sql('CREATE SCHEMA app');
          await sql(golangMigrateDdl('app', 'schema_migrations'));
          await sql('INSERT INTO app.schema_migrations VALUES (4, false)');
          const other = await connector.connect(`${db.url}?search_path=app&x-migrations-table=schema_migrations`);
          others.push(other);
          assert.deepEqual((await golangMigrate.readState(other, ref)).revisions, ['4']);
        });

        it('reports a NULL current_schema() as VersionTableError', async () => {
          await sql("SET search_path = ''");
          await assert.rejects(golangMigrate.readState(session, ref), (err: unknown) => err instanceof VersionTableError && /no existing schema/.test(err.message));
        });

        it('reads a table in a schema that does not exist as missing', async () => {
          assert.equal((await golangMigrate.readState(session, { schema: 'nosuch', table: 'schema_migrations' })).tableExists, false);
        });

        it('refuses a table of the wrong shape (no dirty column) with a hint', async () => {
          await sql('CREATE TABLE schema_migrations (version bigint not null primary key)');
          await sql('INSERT INTO schema_migrations VALUES (1)');
          await assert.rejects(golangMigrate.readState(session, ref), (err: unknown) => {
            assert.ok(err instanceof VersionTableError);
            assert.match(err.message, /public\.schema_migrations does not look like a golang-migrate version table: column "dirty" does not exist/);
            assert.match(err.hint ?? '', /version bigint not null primary key, dirty boolean not null/);
            return true;
          });
        });

        it('refuses a table with two rows', async () => {
          await sql('CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null)');
          await sql('INSERT INTO schema_migrations VALUES (1, false), (2, false)');
          await assert.rejects(golangMigrate.readState(session, ref), VersionTableError);
        });

        it('reports a table the user may not read as VersionTableError with a GRANT hint', async () => {
          const role = `reader_${db.name}`;
          await sql(golangMigrateDdl('public', 'schema_migrations'));
          await sql(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader-pw'`);
          const reader = await connector.connect(db.server.url(db.name, { user: role, password: 'reader-pw' }));
          others.push(reader);
          try {
            await assert.rejects(golangMigrate.readState(reader, ref), (err: unknown) => err instanceof VersionTableError && /grant SELECT/.test(err.hint ?? ''));
          } finally {
            await reader.close();
            await db.server.admin(`DROP OWNED BY "${role}"`, [], db.name);
            await db.server.admin(`DROP ROLE "${role}"`);
          }
        });
      });

      describe('golang-migrate advisory lock', () => {
        it('takes the key golang-migrate takes: pg_locks shows it, and another session cannot take it', async () => {
          const key = advisoryLockKey(db.name, 'public', 'schema_migrations');
          const other = await connector.connect(db.url);
          others.push(other);
          const [{ pid }] = (await sql('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
          await sql('SELECT pg_advisory_lock($1)', [key]);

          const { rows: locks } = await other.query<{ classid: number; objid: number; objsubid: number; granted: boolean; datname: string }>(
            `SELECT l.classid, l.objid, l.objsubid, l.granted, d.datname
               FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE l.locktype = 'advisory' AND l.pid = $1`,
            [pid],
          );
          // A bigint key shows as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
          assert.deepEqual(
            locks.map((l) => ({ classid: Number(l.classid), objid: Number(l.objid), objsubid: Number(l.objsubid), granted: l.granted, datname: l.datname })),
            [{ classid: 0, objid: key, objsubid: 1, granted: true, datname: db.name }],
          );
          assert.deepEqual((await other.query('SELECT pg_try_advisory_lock($1) AS got', [key])).rows, [{ got: false }]);

          // The migrate CLI hashes "/<db>": a different key, which the lock above does not exclude.
          const { cli } = advisoryLockKeys(db.name, 'public', 'schema_migrations');
          assert.notEqual(cli, key);
          assert.deepEqual((await other.query('SELECT pg_try_advisory_lock($1) AS got', [cli])).rows, [{ got: true }]);

          await sql('SELECT pg_advisory_unlock($1)', [key]);
          assert.deepEqual((await other.query('SELECT pg_try_advisory_lock($1) AS got', [key])).rows, [{ got: true }]);
        });
      });

      describe('alembic', () => {
        const ref = { table: 'alembic_version' };

        it('reads a missing table as tableExists=false', async () => {
          assert.deepEqual(await alembic.readState(session, ref), { tableExists: false, revisions: [], dirty: false });
        });

        it('reads base (table kept, no row) as []', async () => {
          await sql(alembicDdl('alembic_version'));
          assert.deepEqual(await alembic.readState(session, ref), { tableExists: true, revisions: [], dirty: false });
        });

        it("keeps '0010' as '0010'", async () => {
          await sql(alembicDdl('alembic_version'));
          await sql("INSERT INTO alembic_version VALUES ('0010')");
          assert.deepEqual(await alembic.readState(session, ref), { tableExists: true, revisions: ['0010'], dirty: false });
        });

        it('reads two heads, sorted', async () => {
          await sql(alembicDdl('alembic_version'));
          await sql("INSERT INTO alembic_version VALUES ('yyyy0002'), ('cccc0003')");
          assert.deepEqual((await alembic.readState(session, ref)).revisions, ['cccc0003', 'yyyy0002']);
        });

        it('reads a custom schema and table', async () => {
          await sql('CREATE SCHEMA tenant');
          await sql(alembicDdl('tenant.my_versions'));
          await sql("INSERT INTO tenant.my_versions VALUES ('a1b2c3d4e5f6')");
          assert.deepEqual((await alembic.readState(session, { schema: 'tenant', table: 'my_versions' })).revisions, ['a1b2c3d4e5f6']);
          assert.equal((await alembic.readState(session, { table: 'my_versions' })).tableExists, false);
        });

        it('resolves the unqualified table through search_path, as alembic does', async () => {
          await sql('CREATE SCHEMA app');
          await sql(alembicDdl('app.alembic_version'));
          await sql("INSERT INTO app.alembic_version VALUES ('0002')");
          assert.equal((await alembic.readState(session, ref)).tableExists, false);
          await sql('SET search_path = app');
          assert.deepEqual((await alembic.readState(session, ref)).revisions, ['0002']);
        });

        it('refuses a table of the wrong shape with a hint', async () => {
          await sql('CREATE TABLE alembic_version (id integer)');
          await assert.rejects(alembic.readState(session, ref), (err: unknown) => {
            assert.ok(err instanceof VersionTableError);
            assert.match(err.message, /column "version_num" does not exist/);
            assert.match(err.hint ?? '', /version_num varchar\(32\)/);
            return true;
          });
        });
      });

      describe('alembic, cross-checked with the real alembic', () => {
        it('reads what `alembic current` prints after upgrade and downgrades (default table)', async function () {
          if (!realAlembicAvailable()) {
            this.skip();
          }
          await crossCheck(major, db, { table: 'alembic_version' });
        });

        it('refuses to plan a rollback over the several heads the real alembic leaves (`upgrade heads`), naming them', async function () {
          if (!realAlembicAvailable()) {
            this.skip();
          }
          const table = { table: 'alembic_version' };
          const driver = alembicDriver();
          await driver.target(db.url.replace(/^postgres:/, 'postgresql+psycopg2:'), table);
          assert.deepEqual(await driver.run('upgrade heads'), ['0003', '0102']);
          const reader = await connector.connect(db.url);
          try {
            const state = await alembic.readState(reader, table);
            const d = planTrack({ current: { name: 'main', tool: 'alembic', revision: '0003' }, targetRevision: '0002', state, tool: alembic, table });
            assert.equal(d.kind, 'refuse');
            assert.match(d.kind === 'refuse' ? d.reason : '', /alembic_version holds several heads \(0003, 0102\)/);
            assert.match(d.kind === 'refuse' ? d.hint : '', /alembic downgrade BRANCH@REV.*--track NAME/);
          } finally {
            await reader.close();
          }
        });

        it('reads what `alembic current` prints with a custom version table and schema', async function () {
          if (!realAlembicAvailable()) {
            this.skip();
          }
          await sql('CREATE SCHEMA tenant');
          await crossCheck(major, db, { schema: 'tenant', table: 'tenant_versions' });
        });
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The real alembic

let alembicProbe: boolean | undefined;
function realAlembicAvailable(): boolean {
  if (alembicProbe === undefined) {
    const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import alembic, psycopg2'], { stdio: 'ignore' });
    alembicProbe = probe.status === 0;
    if (!alembicProbe) {
      process.stderr.write(
        `      (skipping the real-alembic cross-check: ${SYSTEM_PYTHON} cannot import alembic and psycopg2; install Debian's python3-alembic python3-psycopg2)\n`,
      );
    }
  }
  return alembicProbe;
}

/** One Python process running alembic CLI commands from stdin (see test/fixtures/alembic/driver.py). */
class AlembicDriver {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();

  constructor() {
    this.child = spawn(SYSTEM_PYTHON, [path.join(fixture, 'driver.py'), path.join(fixture, 'alembic.ini')], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  /** Points the following commands at a database and a version table. */
  async target(url: string, table: { schema?: string; table: string }): Promise<void> {
    await this.send(`@env HSR_ALEMBIC_URL=${url}`);
    await this.send(`@env HSR_ALEMBIC_VERSION_TABLE=${table.table}`);
    await this.send(`@env HSR_ALEMBIC_VERSION_SCHEMA=${table.schema ?? ''}`);
  }

  /** Runs one alembic command; returns the revisions `alembic current` prints afterwards, sorted. */
  async run(command: string): Promise<string[]> {
    const printed = await this.send(command);
    // `alembic current` prints "<rev> (head)", "<rev> (effective head)", or just "<rev>".
    return printed
      .map((line) => line.trim().split(/\s+/)[0] ?? '')
      .filter((rev) => rev !== '')
      .sort();
  }

  private send(line: string): Promise<string[]> {
    const result = this.queue.then(async () => {
      this.child.stdin.write(`${line}\n`);
      const out: string[] = [];
      for (;;) {
        const next = await this.lines.next();
        if (next.done === true) throw new Error(`the alembic driver exited during "${line}":\n${this.stderr}`);
        if (next.value === '@@done@@') return out;
        if (next.value.startsWith('@@error@@')) throw new Error(`alembic ${line} failed:\n${this.stderr}`);
        out.push(next.value);
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.child.stdin.end();
  }
}

let sharedDriver: AlembicDriver | undefined;
function alembicDriver(): AlembicDriver {
  sharedDriver ??= new AlembicDriver();
  return sharedDriver;
}

async function crossCheck(major: PgMajor, db: FreshDatabase, table: { schema?: string; table: string }): Promise<void> {
  const driver = alembicDriver();
  await driver.target(db.url.replace(/^postgres:/, 'postgresql+psycopg2:'), table);
  const reader = await connector.connect(db.url);
  try {
    assert.deepEqual(await alembic.readState(reader, table), { tableExists: false, revisions: [], dirty: false }, `PG ${major}: before alembic`);
    const steps: Array<[string, string[]]> = [
      ['upgrade heads', ['0003', '0102']],
      ['downgrade 0002', ['0002', '0102']],
      ['downgrade feat@-1', ['0002', '0101']],
      ['downgrade 0001', ['0001']],
      ['upgrade 0002', ['0002']],
      ['downgrade base', []],
    ];
    for (const [command, expected] of steps) {
      const printed = await driver.run(command);
      const state = await alembic.readState(reader, table);
      assert.deepEqual(printed, expected, `PG ${major}: alembic current after "${command}"`);
      assert.deepEqual(state, { tableExists: true, revisions: printed, dirty: false }, `PG ${major}: readState after "${command}"`);
    }
  } finally {
    await reader.close();
  }
}
