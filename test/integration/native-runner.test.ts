/**
 * The native runner against real PostgreSQL, every supported major: kagent's two golang-migrate
 * tracks (fixture files with kagent's names) migrated up with the tool's bookkeeping, data written,
 * then rolled back by the runner. Checks the version tables row for row, what the downs dropped and
 * kept, failures (previous version left dirty), golang-migrate's lock, and the three source kinds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { openMigrationSource } from '../../src/adapters/migration-source.js';
import { LockedError, RefusedError, StepFailedError } from '../../src/core/errors.js';
import type { DatabaseSession, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner, golangMigrateFiles } from '../../src/runners/native.js';
import { advisoryLockKey } from '../../src/tools/golang-migrate.js';
import { migrateUp, readTrack } from '../harness/golang-migrate-up.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/migrations/kagent');
const tracks = ['core', 'vector'];

const coreStep = (target = '8', current = '13'): TrackStep => ({
  track: 'core',
  tool: 'golang-migrate',
  table: { table: 'schema_migrations' },
  current: current === 'base' ? [] : [current],
  target,
  revisions: revisionsBetween(current, target),
});
const vectorStep = (target = '1'): TrackStep => ({
  track: 'vector',
  tool: 'golang-migrate',
  table: { table: 'vector_schema_migrations' },
  current: ['3'],
  target,
  revisions: revisionsBetween('3', target),
});
function revisionsBetween(current: string, target: string): string[] {
  const out: string[] = [];
  for (let v = Number(current); v > (target === 'base' ? 0 : Number(target)); v--) out.push(String(v));
  return out;
}

const runnerFor = (source: string, lockTimeoutMs?: number, allowMissingDowns?: boolean) =>
  createNativeRunner({ connector, loadSource: golangMigrateFiles(openMigrationSource(source, { tracks })), lockTimeoutMs, allowMissingDowns });

describe('native runner (golang-migrate downs over pg)', function () {
  this.timeout(120_000);
  let work: string;
  before(async () => {
    await startServers(testedMajors());
    work = mkdtempSync(path.join(tmpdir(), 'hsr-native-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      let session: DatabaseSession;
      const others: DatabaseSession[] = [];
      let output: string[];
      let debug: string[];
      let ctx: RunnerContext;
      const sql = async <R = Record<string, unknown>>(text: string, params?: unknown[]) => (await session.query<R>(text, params)).rows;
      const versionRows = (table: string) => sql(`SELECT version, dirty FROM ${table}`);
      const tables = async () => (await sql<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((r) => r.t);
      const count = async (table: string) => Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

      beforeEach(async () => {
        db = await freshDatabase(major);
        session = await connector.connect(db.url);
        output = [];
        debug = [];
        ctx = { databaseUrl: db.url, log: { debug: (m) => debug.push(m) }, onOutput: (l) => output.push(l) };
        await migrateUp(session, 'schema_migrations', readTrack(path.join(fixture, 'core')));
        await migrateUp(session, 'vector_schema_migrations', readTrack(path.join(fixture, 'vector')));
        await seed();
      });
      afterEach(async () => {
        await Promise.all([session, ...others.splice(0)].map((s) => s.close()));
        await db.drop();
      });

      async function seed(): Promise<void> {
        await sql(`INSERT INTO agents (id, name) VALUES ('a1', 'planner'), ('a2', 'coder')`);
        await sql(`INSERT INTO sessions (id, agent_id, user_id, name) VALUES ('s1', 'a1', 'u1', 'first'), ('s2', 'a2', 'u2', 'second')`);
        await sql(`INSERT INTO tasks (id, session_id, data, owner_id) VALUES ('t1', 's1', '{"q": 1}', 'u1'), ('t2', 's2', '{"q": 2}', 'u2')`);
        await sql(`INSERT INTO feedback (user_id, message_id, is_positive, feedback_text) VALUES ('u1', 'm1', true, 'good')`);
        await sql(`INSERT INTO session_shares (session_id, shared_with) VALUES ('s1', 'u2')`);
        await sql(`INSERT INTO runtime_revisions (id, agent_id, revision, image, agent_card) VALUES (1, 'a1', 1, 'kagent:0.9.0', '{"name": "planner"}')`);
        await sql(`INSERT INTO agent_instances (id, agent_id, revision_id, status, operation) VALUES ('i1', 'a1', 1, 'running', 'scale')`);
        await sql(`INSERT INTO agent_instance_tasks (instance_id, task_id, message_id) VALUES ('i1', 't1', 'msg-1')`);
        await sql(`INSERT INTO memory (agent_name, user_id, content, embedding) VALUES ('planner', 'u1', 'likes tea', '{0.1, 0.2, 0.3}')`);
      }

      /** Columns, indexes and constraints of the public schema, to compare two databases' shapes. */
      async function shape(s: DatabaseSession): Promise<unknown> {
        const q = async (text: string) => (await s.query(text)).rows;
        return {
          columns: await q(`SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`),
          indexes: await q(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
          constraints: await q(`SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`),
        };
      }

      async function assertRolledBackTo8And1(): Promise<void> {
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '8', dirty: false }]);
        assert.deepEqual(await versionRows('vector_schema_migrations'), [{ version: '1', dirty: false }]);
        assert.deepEqual(await tables(), ['agents', 'feedback', 'memory', 'runtime_revisions', 'schema_migrations', 'session_shares', 'sessions', 'tasks', 'vector_schema_migrations']);
        // Rows in tables the downs do not drop are all there, with their data.
        assert.deepEqual(
          await sql(`SELECT a.name, s.name AS session, t.id AS task, t.owner_id FROM agents a JOIN sessions s ON s.agent_id = a.id JOIN tasks t ON t.session_id = s.id ORDER BY 1`),
          [
            { name: 'coder', session: 'second', task: 't2', owner_id: 'u2' },
            { name: 'planner', session: 'first', task: 't1', owner_id: 'u1' },
          ],
        );
        assert.deepEqual(await sql(`SELECT * FROM runtime_revisions`).then((rows) => rows.map((r) => Object.keys(r).sort())), [['agent_id', 'config', 'created_at', 'id', 'image', 'revision']]);
        assert.equal(await count('feedback'), 1);
        assert.equal(await count('session_shares'), 1);
        assert.deepEqual(await sql(`SELECT content, embedding FROM memory`), [{ content: 'likes tea', embedding: [0.1, 0.2, 0.3] }]);
        assert.deepEqual(await sql(`SELECT indexname FROM pg_indexes WHERE tablename = 'memory' ORDER BY 1`), [{ indexname: 'memory_pkey' }]);
        assert.deepEqual(await sql(`SELECT column_default FROM information_schema.columns WHERE table_name = 'memory' AND column_name = 'id'`), [{ column_default: null }]);
      }

      it('core 13 → 8 and vector 3 → 1 from a directory: (8, false) and (1, false), destructive downs dropped their tables, other rows intact', async () => {
        const runner = runnerFor(fixture);
        await runner.run(coreStep(), ctx);
        await runner.run(vectorStep(), ctx);
        await assertRolledBackTo8And1();
        assert.deepEqual(output.slice(0, 2), ['core: 13 -> 12 (000013_runtime_revision_agent_card.down.sql)', 'core: 12 -> 11 (000012_agent_instance_message_idempotency.down.sql)']);
        assert.equal(output.length, 7);
        // Nothing is left locked: golang-migrate itself could run now.
        const other = await connector.connect(db.url);
        others.push(other);
        assert.deepEqual((await other.query('SELECT pg_try_advisory_lock($1) AS got', [advisoryLockKey(db.name, 'public', 'schema_migrations')])).rows, [{ got: true }]);
      });

      it('leaves the same schema as migrating up to 8 and 1 from scratch (the downs reverse the ups)', async () => {
        const runner = runnerFor(fixture);
        await runner.run(coreStep(), ctx);
        await runner.run(vectorStep(), ctx);
        const reference = await freshDatabase(major);
        const ref = await connector.connect(reference.url);
        try {
          await migrateUp(ref, 'schema_migrations', readTrack(path.join(fixture, 'core')), '8');
          await migrateUp(ref, 'vector_schema_migrations', readTrack(path.join(fixture, 'vector')), '1');
          assert.deepEqual(await shape(session), await shape(ref));
        } finally {
          await ref.close();
          await reference.drop();
        }
      });

      it('down to base: every table of both tracks gone, version tables kept and empty (0 rows)', async () => {
        const runner = runnerFor(fixture);
        await runner.run(coreStep('base'), ctx);
        assert.deepEqual(await versionRows('schema_migrations'), []);
        assert.deepEqual(await tables(), ['memory', 'schema_migrations', 'vector_schema_migrations']);
        await runner.run(vectorStep('base'), ctx);
        assert.deepEqual(await versionRows('vector_schema_migrations'), []);
        const left = await sql<{ relname: string }>(`SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1`);
        assert.deepEqual(left.map((r) => r.relname), ['schema_migrations', 'schema_migrations_pkey', 'vector_schema_migrations', 'vector_schema_migrations_pkey']);
        assert.ok(output.includes('core: 4 -> 3 (000004_feedback_single_pk.down.sql)'), 'the no-op SELECT 1; down runs as a step');
        assert.ok(output.includes('core: 1 -> nil (empty table) (000001_initial.down.sql)'));
      });

      it('a failing down: StepFailedError, (previous version, dirty) left exactly, earlier steps committed; a re-run refuses (dirty)', async () => {
        const broken = copyFixture('broken-11');
        writeFileSync(path.join(broken, 'core/000011_agent_instance_tasks.down.sql'), 'DROP TABLE agent_instance_tasks;\nSELECT no_such_column FROM agents;\n');
        const runner = runnerFor(broken);
        await assert.rejects(runner.run(coreStep(), ctx), (err: unknown) => {
          assert.ok(err instanceof StepFailedError);
          assert.equal(err.track, 'core');
          assert.equal(err.revision, '11');
          assert.match(err.message, /track core: down of 11 failed: migration failed: column "no_such_column" does not exist \(line 2, column 8\) in 000011_agent_instance_tasks\.down\.sql/);
          assert.match(err.hint ?? '', /public\.schema_migrations now holds \(10, dirty=true\)/);
          // 11's statements were rolled back, so the schema is still at 11: forcing 10 would make a
          // later down skip 11's down and leave agent_instance_tasks behind.
          assert.match(err.hint ?? '', /while the schema is at 11\. .*force 11", then re-run/);
          return true;
        });
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '10', dirty: true }]);
        // 13 and 12 were committed; 11's statements were rolled back together (one implicit transaction).
        assert.deepEqual(await sql(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'runtime_revisions' AND column_name = 'agent_card'`), [{ n: 0 }]);
        assert.deepEqual(await sql(`SELECT instance_id, task_id FROM agent_instance_tasks`), [{ instance_id: 'i1', task_id: 't1' }]);
        assert.ok(!(await sql(`SELECT column_name FROM information_schema.columns WHERE table_name = 'agent_instance_tasks'`)).some((r) => r['column_name'] === 'message_id'));

        for (const step of [coreStep(), coreStep('8', '10')]) {
          await assert.rejects(runner.run(step, ctx), (err: unknown) => {
            assert.ok(err instanceof RefusedError);
            assert.match(err.message, /track core: public\.schema_migrations is dirty at version 10: .*"Dirty database version 10\. Fix and force version\."/);
            assert.match(err.hint ?? '', /force 10/);
            return true;
          });
        }
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '10', dirty: true }]);
      });

      it('a failing down that opened its own transaction: rolled back, (12, dirty) left, the lock released', async () => {
        const broken = copyFixture('broken-13');
        writeFileSync(path.join(broken, 'core/000013_runtime_revision_agent_card.down.sql'), 'BEGIN;\nALTER TABLE runtime_revisions DROP COLUMN agent_card;\nSELECT 1/0;\nCOMMIT;\n');
        await assert.rejects(runnerFor(broken).run(coreStep(), ctx), StepFailedError);
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '12', dirty: true }]);
        assert.equal(await count(`runtime_revisions WHERE agent_card IS NOT NULL`), 1);
        assert.ok(!debug.some((m) => /unlock .* failed/.test(m)), debug.join('\n'));
      });

      it('a version without a down file: refused, changing nothing; with allowMissingDowns the version moves and nothing runs, as golang-migrate does', async () => {
        const partial = copyFixture('no-down-12');
        unlinkSync(path.join(partial, 'core/000012_agent_instance_message_idempotency.down.sql'));
        await assert.rejects(runnerFor(partial).run(coreStep('11'), ctx), (err: unknown) => err instanceof RefusedError && /no down file 000012_agent_instance_message_idempotency\.down\.sql/.test(err.message));
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '13', dirty: false }]);
        assert.equal(output.length, 0, 'nothing ran');
        await runnerFor(partial, undefined, true).run(coreStep('11'), ctx);
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '11', dirty: false }]);
        assert.deepEqual(await sql(`SELECT message_id FROM agent_instance_tasks`), [{ message_id: 'msg-1' }]);
        assert.ok(output.includes('core: 12 -> 11 (no down file: version moves, nothing runs)'));
      });

      it('refuses, changing nothing, when the table moved since the plan or is ahead of the files', async () => {
        await assert.rejects(runnerFor(fixture).run(coreStep('8', '12'), ctx), (err: unknown) => err instanceof RefusedError && /holds version 13, the plan was made at 12/.test(err.message));
        await assert.rejects(runnerFor(fixture).run({ ...coreStep(), current: ['14'], revisions: ['14', '13', '12', '11', '10', '9'] }, ctx), /database revision 14 is unknown/);
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '13', dirty: false }]);
      });

      it("waits for golang-migrate's lock: LockedError after the timeout (nothing changed), proceeds once it is released", async () => {
        const key = advisoryLockKey(db.name, 'public', 'schema_migrations');
        const holder = await connector.connect(db.url);
        others.push(holder);
        await holder.query('SELECT pg_advisory_lock($1)', [key]);
        const [{ pid }] = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];

        const t0 = performance.now();
        await assert.rejects(runnerFor(fixture, 400).run(coreStep(), ctx), (err: unknown) => {
          assert.ok(err instanceof LockedError);
          assert.match(err.message, new RegExp(`pg_advisory_lock\\(${key}\\)\\) is held by session pid ${pid} \\(application_name "helm-schema-rollback"`));
          assert.match(err.hint ?? '', new RegExp(`pg_locks .*l\\.objid = ${key}`));
          return true;
        });
        assert.ok(performance.now() - t0 >= 390, 'waited for the timeout');
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '13', dirty: false }]);

        let done = false;
        const running = runnerFor(fixture, 20_000).run(coreStep(), ctx).finally(() => (done = true));
        await waitFor(async () => (await sql(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, [key])).length === 1);
        assert.equal(done, false);
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '13', dirty: false }]);
        await holder.query('SELECT pg_advisory_unlock($1)', [key]);
        await running;
        assert.deepEqual(await versionRows('schema_migrations'), [{ version: '8', dirty: false }]);
      });

      it('reads the files from a .tar.gz', async () => {
        const archive = path.join(work, `kagent-${major}.tar.gz`);
        execFileSync('tar', ['czf', archive, '-C', path.dirname(fixture), 'kagent']);
        const runner = runnerFor(archive);
        await runner.run(coreStep(), ctx);
        await runner.run(vectorStep(), ctx);
        await assertRolledBackTo8And1();
      });

      it('reads the files from an http URL of a tarball', async () => {
        const archive = path.join(work, `kagent-http-${major}.tgz`);
        execFileSync('tar', ['czf', archive, '-C', fixture, 'core', 'vector']);
        const served: string[] = [];
        const server: Server = createServer((req, res) => {
          served.push(req.url ?? '');
          if (req.url === '/old') return void res.writeHead(302, { location: '/kagent.tgz' }).end();
          if (req.url !== '/kagent.tgz') return void res.writeHead(404).end();
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(archive));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const runner = runnerFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}/old`);
          await runner.run(coreStep(), ctx);
          await runner.run(vectorStep(), ctx);
        } finally {
          server.close();
        }
        await assertRolledBackTo8And1();
        assert.deepEqual(served, ['/old', '/kagent.tgz'], 'downloaded once for both tracks');
      });

      function copyFixture(name: string): string {
        const dir = path.join(work, `${name}-${major}-${db.name}`);
        cpSync(fixture, dir, { recursive: true });
        return dir;
      }
    });
  }
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
