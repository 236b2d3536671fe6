/**
 * Data at risk and the copy before the downs, against real PostgreSQL 14 and 18: kagent's core
 * track migrated up with data, its 0.9.0 down files read by the native runner, counted live, copied
 * into schema_rollback_archive, rolled back, migrated up again, and restored from the copy.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { openMigrationSource } from '../../src/adapters/migration-source.js';
import { archiveAtRisk, assessDataAtRisk, describeRisk, type ArchivedCopy } from '../../src/core/data-at-risk.js';
import { ExitCode, RollbackError } from '../../src/core/errors.js';
import type { TrackDecision } from '../../src/core/planner.js';
import type { DatabaseSession, Runner, TrackStep } from '../../src/core/ports.js';
import { createNativeRunner } from '../../src/runners/native.js';
import { golangMigrateNative } from '../../src/tools/golang-migrate-native.js';
import { migrateUp, readTrack } from '../harness/golang-migrate-up.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase, type PgMajor } from '../harness/postgres.js';

const connector = createPostgresConnector();
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/migrations/kagent');
const log = { debug: () => undefined };
const majors = testedMajors().filter((m): m is PgMajor => m === 14 || m === 18);

const coreStep = (): TrackStep => ({
  track: 'core', tool: 'golang-migrate', table: { table: 'schema_migrations' }, current: ['13'], target: '8', revisions: ['13', '12', '11', '10', '9'],
});
const revert = (step: TrackStep): TrackDecision[] => [{ kind: 'revert', step }];
const native = () => {
  const source = openMigrationSource(fixture, { tracks: ['core', 'vector'] });
  return createNativeRunner({ connector, loadSource: (track) => source.files(track), driverFor: () => golangMigrateNative });
};
/** A runner whose "down file" is the given SQL: for statements the kagent files do not have. */
const scripted = (sql: string): Runner => ({ name: 'native', downScripts: async () => [{ file: '000013_x.down.sql', sql }], run: async () => undefined });
const plan = (dataAtRisk: Awaited<ReturnType<typeof assessDataAtRisk>>) => ({
  release: { name: 'kagent', version: '0.9.0' }, target: { version: '0.8.0' }, ...dataAtRisk,
});

describe('data at risk and the copy before the downs (PostgreSQL)', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(majors);
  });

  for (const major of majors) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      let session: DatabaseSession;
      const sql = async <R = Record<string, unknown>>(text: string, params?: unknown[]) => (await session.query<R>(text, params)).rows;

      beforeEach(async () => {
        db = await freshDatabase(major);
        session = await connector.connect(db.url);
        await migrateUp(session, 'schema_migrations', readTrack(path.join(fixture, 'core')));
        await sql(`INSERT INTO agents (id, name) VALUES ('a1', 'planner'), ('a2', 'coder');
          INSERT INTO sessions (id, agent_id, user_id) VALUES ('s1', 'a1', 'u1');
          INSERT INTO tasks (id, session_id, data) VALUES ('t1', 's1', '{"q": 1}'), ('t2', 's1', '{"q": 2}');
          INSERT INTO runtime_revisions (id, agent_id, revision, image, agent_card) VALUES (1, 'a1', 1, 'kagent:0.9.0', '{"name": "planner"}'), (2, 'a2', 1, 'kagent:0.9.0', NULL);
          INSERT INTO agent_instances (id, agent_id, revision_id, status, operation) VALUES ('i1', 'a1', 1, 'running', 'scale'), ('i2', 'a2', 2, 'pending', NULL);
          INSERT INTO agent_instance_tasks (instance_id, task_id, message_id) VALUES ('i1', 't1', 'msg-1'), ('i1', 't2', NULL), ('i2', 't2', 'msg-2');`);
      });
      afterEach(async () => {
        await session.close();
        await db.drop();
      });

      it('counts what kagent 0.9.0\'s downs destroy, a table dropped later taking its earlier column drops with it', async () => {
        const risk = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        assert.deepEqual(risk.dataAtRisk.map(describeRisk), [
          'column runtime_revisions.agent_card (1 non-null) dropped',
          'table agent_instance_tasks (3 rows) dropped',
          'table agent_instances (2 rows) dropped',
        ]);
        assert.deepEqual(risk.dataAtRisk.map((i) => [i.source, i.schema, i.key]), [
          ['000013_runtime_revision_agent_card.down.sql', 'public', ['id']],
          ['000011_agent_instance_tasks.down.sql', 'public', undefined],
          ['000009_agent_instances.down.sql', 'public', undefined],
        ]);
        assert.ok(risk.archive.bytes > 0 && risk.archive.enabled);
      });

      it('resolves schema-qualified and quoted names, reads the old type live, counts a schema dropped with CASCADE, names what it cannot read', async () => {
        await sql(`CREATE SCHEMA app; CREATE TABLE app."Odd Table" (id int PRIMARY KEY, v text); INSERT INTO app."Odd Table" VALUES (1, '7'), (2, NULL), (3, '9');
          CREATE SCHEMA scratch; CREATE TABLE scratch.a (x int); CREATE TABLE scratch.b (y int); INSERT INTO scratch.a VALUES (1), (2); INSERT INTO scratch.b VALUES (3);`);
        const risk = await assessDataAtRisk({ connector, log }, scripted(`
          DROP TABLE IF EXISTS ghost;
          ALTER TABLE app."Odd Table" ALTER COLUMN v TYPE integer USING v::integer;
          DROP SCHEMA scratch CASCADE;
          DELETE FROM agents WHERE id = 'a2';
          DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'sessions'; END $$;`), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        assert.deepEqual(risk.dataAtRisk.map(describeRisk), [
          'table ghost (does not exist now) dropped',
          'column app.Odd Table.v type changed from text to integer (2 non-null)',
          'schema scratch (2 tables, 3 rows) dropped with CASCADE',
          'rows of agents deleted (those matching a WHERE, of 2)',
          `track core, 000013_x.down.sql: may destroy data the analyser cannot see (a DO block runs code the analyser does not read: DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'sessions'; END $$)`,
        ]);
      });

      it('measures hundreds of dropped tables exactly, read in bulk: each its own count, a view or a missing name not a table, the track schema after the search_path', async () => {
        // 450 tables: more than one counting statement covers (50), so the batches' seams are crossed.
        const tables = Array.from({ length: 450 }, (_, i) => `bulk_${i}`);
        await sql(`CREATE SCHEMA track_s; CREATE TABLE track_s.only_here (id int); INSERT INTO track_s.only_here VALUES (1), (2), (3), (4);
          CREATE VIEW v_agents AS SELECT * FROM agents;
          ${tables.map((t, i) => `CREATE TABLE ${t} (id int); INSERT INTO ${t} SELECT generate_series(1, ${i % 7});`).join('\n')}`);
        const step: TrackStep = { ...coreStep(), table: { table: 'schema_migrations', schema: 'track_s' } };
        const risk = await assessDataAtRisk({ connector, log }, scripted([
          ...tables.map((t) => `DROP TABLE ${t};`), 'DROP TABLE only_here;', 'DROP TABLE v_agents;', 'TRUNCATE ghost_table;', 'TRUNCATE bulk_3;',
        ].join('\n')), revert(step), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        const described = risk.dataAtRisk.map(describeRisk);
        assert.deepEqual(described.slice(0, 450), tables.map((t, i) => `table ${t} (${i % 7} ${i % 7 === 1 ? 'row' : 'rows'}) dropped`));
        assert.deepEqual(described.slice(450), [
          'table track_s.only_here (4 rows) dropped',
          'table v_agents (does not exist now) dropped',
          'table ghost_table (does not exist now) truncated',
        ]);
        // Each table's own size: an empty table without an index has no pages yet.
        assert.ok(risk.dataAtRisk.slice(0, 451).every((i) => (i.rows! > 0) === (i.copyBytes! > 0)));
      });

      it('a table is taken as empty only when it has no page: rows deleted and not vacuumed away, and a partitioned table, are counted; an empty table keeps its size (its index) as the estimate', async () => {
        await sql(`CREATE TABLE emptied (id int PRIMARY KEY); INSERT INTO emptied SELECT generate_series(1, 50); DELETE FROM emptied WHERE id > 3;
          CREATE TABLE parted (id int) PARTITION BY RANGE (id); CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100); INSERT INTO parted VALUES (1), (2);
          CREATE TABLE never_written (id int PRIMARY KEY); CREATE TABLE bare (id int);`);
        const risk = await assessDataAtRisk({ connector, log }, scripted('DROP TABLE emptied; DROP TABLE parted; DROP TABLE never_written; DROP TABLE bare;'), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        assert.deepEqual(risk.dataAtRisk.map(describeRisk), [
          'table emptied (3 rows) dropped', 'table parted (2 rows) dropped', 'table never_written (0 rows) dropped', 'table bare (0 rows) dropped',
        ]);
        const [{ index }] = await sql<{ index: string }>("SELECT pg_total_relation_size('never_written')::text AS index");
        assert.ok(Number(index) > 0);
        assert.deepEqual(risk.dataAtRisk.slice(2).map((i) => i.copyBytes), [Number(index), 0]);
      });

      it('a table of another access method is counted, not taken as empty from its main fork (a columnar one may keep rows elsewhere)', async () => {
        // heap2: the heap under another name, so the test needs no extension; what matters is that it is not "heap".
        await sql(`CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler; CREATE TABLE other_am (id int) USING heap2; CREATE TABLE plain_empty (id int);`);
        const sent: string[] = [];
        const recording = { connect: async (url: string) => {
          const session = await connector.connect(url);
          return { ...session, query: ((text: string, params?: unknown[]) => (sent.push(text), session.query(text, params))) as typeof session.query };
        } };
        const risk = await assessDataAtRisk({ connector: recording, log }, scripted('DROP TABLE other_am; DROP TABLE plain_empty;'), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        assert.deepEqual(risk.dataAtRisk.map(describeRisk), ['table other_am (0 rows) dropped', 'table plain_empty (0 rows) dropped']);
        const counts = sent.filter((t) => /count\(\*\)/.test(t));
        assert.ok(counts.some((t) => t.includes('"other_am"')), counts.join('\n'));
        assert.ok(!counts.some((t) => t.includes('"plain_empty"')), counts.join('\n'));
        await sql('DROP TABLE other_am; DROP ACCESS METHOD heap2;');
      });

      it('copies hundreds of tables a batch of statements at a time: each copy with its own rows and comment, nothing made for a table empty at the copy, and all or none when one fails in a later batch', async () => {
        // 250 tables: more than one round trip of copies covers (100), so the batches' seams are crossed; every fifth is empty.
        const tables = Array.from({ length: 250 }, (_, i) => `many_${i}`);
        await sql(tables.map((t, i) => `CREATE TABLE ${t} (id int PRIMARY KEY, note text); INSERT INTO ${t} SELECT g, 'n' || g FROM generate_series(1, ${i % 5}) g;`).join('\n'));
        const risk = await assessDataAtRisk({ connector, log }, scripted(tables.map((t) => `DROP TABLE ${t};`).join('\n')), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        // The copy of many_231 (in the third round trip) cannot be made: a table of that name is in the way for
        // every stamp of the next 30 s. The copy fails whole: nothing of the first two round trips stays.
        const stamps = await sql<{ s: string }>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC' + n * interval '1 second', 'YYYYMMDDHH24MISS') AS s FROM generate_series(0, 30) n");
        await sql(`CREATE SCHEMA schema_rollback_archive; ${stamps.map(({ s: stamp }) => `CREATE TABLE schema_rollback_archive.kagent_${stamp}_public_many_231 (x int);`).join(' ')}`);
        await assert.rejects(archiveAtRisk({ connector, log }, plan(risk), db.url, () => assert.fail('no copy is reported')), (err: RollbackError) => err.code === ExitCode.archiveFailed && /many_231" already exists/.test(err.message));
        assert.deepEqual(await sql("SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'schema_rollback_archive'::regnamespace AND relkind = 'r'"), [{ n: stamps.length }]);
        await sql('DROP SCHEMA schema_rollback_archive CASCADE');
        // Empty when the plan counted it, written to before the copy: emptiness is read at the copy, so its row is kept.
        await sql("INSERT INTO many_0 VALUES (1, 'late')");
        const rowsAtCopy = (i: number) => (i === 0 ? 1 : i % 5);
        const archived: ArchivedCopy[] = [];
        await archiveAtRisk({ connector, log }, plan(risk), db.url, (e) => archived.push(...e.copies));
        const full = tables.filter((_, i) => rowsAtCopy(i) > 0);
        assert.deepEqual(archived.map((c) => [c.from.table, c.rows, c.empty ?? false]), [
          ...full.map((t) => [t, rowsAtCopy(Number(t.slice(5))), false]),
          ...tables.filter((_, i) => rowsAtCopy(i) === 0).map((t) => [t, 0, true]),
        ]);
        const kept = await sql<{ t: string; c: string }>(`SELECT c.relname AS t, obj_description(c.oid) AS c FROM pg_class c
          WHERE c.relnamespace = 'schema_rollback_archive'::regnamespace AND c.relkind = 'r' ORDER BY c.relname`);
        assert.deepEqual(kept.map((r) => r.t), archived.filter((c) => !c.empty).map((c) => c.name).sort());
        assert.ok(kept.every((r) => new RegExp(`^helm-schema-rollback: copy of public\\.many_[0-9]+ .* restore: INSERT INTO "public"\\."many_[0-9]+" SELECT \\* FROM "schema_rollback_archive"\\."${r.t}"`).test(r.c)), JSON.stringify(kept.slice(0, 3)));
        for (const c of [archived[0]!, archived[99]!, archived[100]!, archived[199]!]) {
          assert.deepEqual(await sql(`SELECT * FROM schema_rollback_archive.${c.name} ORDER BY id`), await sql(`SELECT * FROM ${c.from.table} ORDER BY id`));
        }
      });

      it('refuses (exit 12) a copy over --archive-max-size, naming the sizes and both ways out; --no-archive plans no copy', async () => {
        await assert.rejects(
          assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: true, maxBytes: 1000 }),
          (err: RollbackError) => err.code === ExitCode.refused && /over --archive-max-size 1000 bytes/.test(err.message) && /--no-archive/.test(err.hint ?? ''),
        );
        const off = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: false, maxBytes: 1000 });
        assert.equal(off.archive.enabled, false);
      });

      it('copies before the downs in one transaction; after the downs and a migrate up, the restore statements bring every row back', async () => {
        const before = {
          instances: await sql('SELECT * FROM agent_instances ORDER BY id'),
          tasks: await sql('SELECT * FROM agent_instance_tasks ORDER BY instance_id, task_id'),
          cards: await sql('SELECT id, agent_card FROM runtime_revisions ORDER BY id'),
        };
        const risk = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
        const archived: ArchivedCopy[] = [];
        await archiveAtRisk({ connector, log }, plan(risk), db.url, (e) => archived.push(...e.copies));
        assert.deepEqual(archived.map((c) => [c.from.table, c.rows, c.column]), [['agent_instance_tasks', 3, undefined], ['agent_instances', 2, undefined], ['runtime_revisions', 1, 'agent_card']]);
        for (const c of archived) assert.match(c.name, new RegExp(`^kagent_[0-9]{14}_public_${c.from.table}${c.column ? `_${c.column}` : ''}$`));
        const comments = await sql<{ c: string }>(`SELECT obj_description(c.oid) AS c FROM pg_class c WHERE c.relnamespace = 'schema_rollback_archive'::regnamespace ORDER BY relname`);
        assert.ok(comments.every((r) => /^helm-schema-rollback: .* restore: (INSERT|UPDATE) /.test(r.c)), JSON.stringify(comments));

        await native().run(coreStep(), { databaseUrl: db.url, log, onOutput: () => undefined });
        assert.deepEqual(await sql("SELECT to_regclass('agent_instances') AS t"), [{ t: null }]);
        // The newer version comes back (helm upgrade, the app migrates up): the tables and the column exist again, empty.
        await migrateUp(session, 'schema_migrations', readTrack(path.join(fixture, 'core')));
        // Parents before children (foreign keys): the order the copies list them in is the downs' order.
        for (const c of [...archived].sort((a, b) => (a.from.table === 'agent_instances' ? -1 : b.from.table === 'agent_instances' ? 1 : 0))) await sql(c.restore);
        assert.deepEqual(await sql('SELECT * FROM agent_instances ORDER BY id'), before.instances);
        assert.deepEqual(await sql('SELECT * FROM agent_instance_tasks ORDER BY instance_id, task_id'), before.tasks);
        assert.deepEqual(await sql('SELECT id, agent_card FROM runtime_revisions ORDER BY id'), before.cards);
      });

      describe('the copy under the downs\' lock_timeout and retries', () => {
        /** Another session holding ACCESS EXCLUSIVE on agent_instances (the copy's second table), and its pid. */
        async function holdLock(): Promise<{ pid: number; release(): Promise<void> }> {
          const holder = await connector.connect(db.url);
          await holder.query('BEGIN; LOCK TABLE agent_instances IN ACCESS EXCLUSIVE MODE');
          const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
          let released: Promise<void> | undefined;
          return { pid, release: () => (released ??= holder.query('COMMIT').then(() => holder.close())) };
        }
        const archivedTables = async () => (await sql<{ t: string }>("SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'schema_rollback_archive' AND c.relkind = 'r' ORDER BY 1")).map((r) => r.t);

        it('waits its lock_timeout behind a table another session holds, tries again, and copies once it is released; a SELECT queued behind the copy waits at most about lock_timeout', async () => {
          const risk = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
          const held = await holdLock();
          const waits: string[] = [];
          const archived: ArchivedCopy[] = [];
          // The copy reads agent_instance_tasks (holding ACCESS SHARE on it), then waits for agent_instances.
          const copying = archiveAtRisk({ connector, log }, plan(risk), db.url, (e) => archived.push(...e.copies), {
            policy: { lockTimeoutMs: 200, retries: 40, firstBackoffMs: 50, maxBackoffMs: 200 }, onWait: (line) => waits.push(line),
          });
          const others = await Promise.all([connector.connect(db.url), connector.connect(db.url)]);
          try {
            // The app's ALTER (ACCESS EXCLUSIVE) on the table the copy has read queues behind the copy's
            // ACCESS SHARE, and the app's SELECT queues behind the ALTER: without lock_timeout both
            // would wait as long as the other session holds agent_instances (2.5 s here).
            for (let i = 0; i < 200; i++) {
              const waiting = await sql<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = to_regclass('agent_instances')");
              if (waiting[0]!.n !== '0') break;
              await new Promise((r) => setTimeout(r, 5));
            }
            const alter = others[0]!.query('BEGIN; LOCK TABLE agent_instance_tasks IN ACCESS EXCLUSIVE MODE; COMMIT');
            const start = Date.now();
            const releasing = new Promise((r) => setTimeout(r, 2_500)).then(() => held.release());
            await others[1]!.query('SELECT count(*) FROM agent_instance_tasks');
            const selectMs = Date.now() - start;
            await alter;
            assert.ok(selectMs < 1_500, `a SELECT behind the copy waited ${selectMs} ms; lock_timeout is 200 ms`);
            await releasing;
            await copying;
          } finally {
            await held.release();
            await Promise.all(others.map((o) => o.close()));
          }
          assert.ok(waits.length >= 1, 'each lock wait given up is reported');
          assert.match(waits[0]!, new RegExp(`waited for a lock: table (public\\.)?agent_instances held by pid ${held.pid} .*gave up after lock_timeout 200 ms, nothing of it stayed; retry 1 of 40`));
          assert.deepEqual(archived.map((c) => [c.from.table, c.rows]), [['agent_instance_tasks', 3], ['agent_instances', 2], ['runtime_revisions', 1]]);
          assert.deepEqual(await archivedTables(), archived.map((c) => c.name).sort(), 'each table copied once, whatever the tries');
        });

        it('gives up after --lock-retries, naming the session that holds the table; nothing is copied', async () => {
          const risk = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), db.url, { enabled: true, maxBytes: 1024 ** 3 });
          const held = await holdLock();
          try {
            await assert.rejects(
              archiveAtRisk({ connector, log }, plan(risk), db.url, () => assert.fail('no copy is reported'), { policy: { lockTimeoutMs: 100, retries: 1, firstBackoffMs: 10, maxBackoffMs: 10 } }),
              (err: RollbackError) => err.code === ExitCode.archiveFailed && /gave up waiting for a lock after 2 tries \(lock_timeout 100 ms each/.test(err.message) && /no down ran/.test(err.message)
                && err.hint!.includes(`pg_terminate_backend(${held.pid})`) && /--lock-retries/.test(err.hint!),
            );
          } finally {
            await held.release();
          }
          assert.deepEqual(await sql("SELECT to_regnamespace('schema_rollback_archive') AS s"), [{ s: null }], 'the schema made in the transaction went with it');
        });
      });

      it('a user who may not create the archive schema gets exit 23 and nothing is created', async () => {
        const role = `lim_${db.name}`;
        await sql(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}; REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
        const url = db.server.url(db.name, { user: role, password: 'pw' });
        try {
          const risk = await assessDataAtRisk({ connector, log }, native(), revert(coreStep()), url, { enabled: true, maxBytes: 1024 ** 3 });
          await assert.rejects(
            archiveAtRisk({ connector, log }, plan(risk), url, () => assert.fail('no copy is reported')),
            (err: RollbackError) => err.code === ExitCode.archiveFailed && /no down ran/.test(err.message) && /--no-archive/.test(err.hint ?? ''),
          );
          assert.deepEqual(await sql("SELECT to_regnamespace('schema_rollback_archive') AS s"), [{ s: null }]);
          // The fix the hint gives: an administrator creates the schema for that user, once.
          await sql(`CREATE SCHEMA schema_rollback_archive AUTHORIZATION ${role}`);
          const copies: unknown[] = [];
          await archiveAtRisk({ connector, log }, plan(risk), url, (e) => copies.push(...e.copies));
          assert.ok(copies.length > 0, 'the copy is made in the schema made for it');
          await sql('DROP SCHEMA schema_rollback_archive CASCADE');
        } finally {
          await sql(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role}`);
          await db.server.admin(`DROP ROLE IF EXISTS ${role}`);
        }
      });
    });
  }
});
