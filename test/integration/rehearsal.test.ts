/**
 * Rehearsal on a clone (src/core/rehearsal.ts, lock-probe.ts) on real PostgreSQL: the lock probe
 * sees the ACCESS EXCLUSIVE lock of a DROP TABLE however short; the live database is copied with
 * pg_dump | pg_restore (Debian's client 15, so servers <= 15), the downs run on the copy only, and
 * the report names the step, its locks and what was lost; a live database over the size limit, a
 * dev URL naming the live database and a dev database that is not empty are refused before any write.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createPgCopy, createPodCopy } from '../../src/adapters/pg-copy.js';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { ExitCode, RefusedError, RollbackError } from '../../src/core/errors.js';
import type { DatabasePodPort } from '../../src/core/snapshot.js';
import { startLockProbe } from '../../src/core/lock-probe.js';
import type { Runner, TrackStep } from '../../src/core/ports.js';
import { IDENTITY_SQL, rehearse, type DatabaseCopyPort } from '../../src/core/rehearsal.js';
import { freshDatabase, query, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();
const log = { debug: () => undefined };
const pgDump15 = existsSync('/usr/bin/pg_dump');
/** The postgres:15 "image" of the fake kubelet: Debian's pg_dump, pg_restore and psql 15. */
const podImageBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/images/postgres-15/bin');

/**
 * The database's pod as the fake kubelet runs it: `sh -c SCRIPT` with INPUT on stdin, the image's
 * programs first on PATH; each script it ran is kept.
 */
function shellPod(scripts: string[] = []): DatabasePodPort {
  return {
    podBehindService: async () => 'db-0',
    runScript: (_pod, _container, script, input, onLine) => new Promise((resolve) => {
      scripts.push(script);
      const child = spawn('sh', ['-c', script], { env: { ...process.env, PATH: `${podImageBin}:${process.env['PATH']}` }, stdio: ['pipe', 'pipe', 'pipe'] });
      for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', onLine);
      child.on('close', (code) => resolve(code ?? 1));
      child.stdin.end(input);
    }),
  };
}

/** A pg_dump where the plugin runs that is older than every tested server. */
const oldLocal = (): DatabaseCopyPort => ({ where: 'where the plugin runs', client: async () => ({ major: 13, version: 'pg_dump (PostgreSQL) 13.16' }), copy: async () => assert.fail('the old pg_dump never copies') });

/** A stand-in for the native runner: runs the step's down SQL on the URL it is given, as the native runner does. */
function sqlRunner(sql: string, seen: string[] = []): Runner {
  return {
    name: 'native',
    async run(_step, ctx) {
      seen.push(ctx.databaseUrl);
      const s = await connector.connect(ctx.databaseUrl);
      try {
        await s.query(sql);
      } finally {
        await s.close();
      }
    },
  };
}

const step = { track: 'core', tool: 'golang-migrate', current: ['2'], target: '1', revisions: ['2'], table: { table: 'schema_migrations' } } as unknown as TrackStep;

async function seed(url: string): Promise<void> {
  await query(url, `CREATE TABLE tags (id int PRIMARY KEY, name text); INSERT INTO tags SELECT g, 't' || g FROM generate_series(1, 7) g;
                    CREATE TABLE agents (id int PRIMARY KEY, note text); INSERT INTO agents VALUES (1, 'a'), (2, 'b');`);
}

for (const major of testedMajors()) {
  describe(`rehearsal on a clone, PostgreSQL ${major}`, function () {
    this.timeout(120_000);
    let live: FreshDatabase;
    let dev: FreshDatabase;
    beforeEach(async () => {
      [live, dev] = await Promise.all([freshDatabase(major), freshDatabase(major)]);
      await seed(live.url);
    });
    afterEach(async () => {
      await Promise.all([live?.drop(), dev?.drop()]);
    });

    it('the lock probe sees the ACCESS EXCLUSIVE lock of a DROP TABLE that takes a millisecond', async () => {
      const probeSession = await connector.connect(live.url);
      const probe = await startLockProbe(probeSession);
      await query(live.url, 'DROP TABLE tags');
      const locks = await probe.stop();
      await probeSession.close();
      assert.ok(locks.some((l) => l.relation === 'public.tags' && l.mode === 'ACCESS EXCLUSIVE'), JSON.stringify(locks));
      assert.ok(!locks.some((l) => l.relation === 'public.agents'), 'a table the statement never touched is not reported');
    });

    it('the lock probe sees every mode a step takes on a table: an UPDATE\'s ROW EXCLUSIVE, then an ALTER TABLE\'s ACCESS EXCLUSIVE, in one short transaction', async () => {
      const probeSession = await connector.connect(live.url);
      const probe = await startLockProbe(probeSession);
      // One simple query: one implicit transaction, committed inside the server a millisecond after the UPDATE.
      await query(live.url, "UPDATE tags SET name = name || '!'; ALTER TABLE tags ADD COLUMN seen int");
      const locks = await probe.stop();
      await probeSession.close();
      assert.deepEqual(locks.filter((l) => l.relation === 'public.tags').map((l) => l.mode), ['ACCESS EXCLUSIVE', 'ROW EXCLUSIVE'], JSON.stringify(locks));
      assert.equal((await query<{ n: string }>(live.url, "SELECT count(*) AS n FROM tags WHERE name LIKE '%!'"))[0]!.n, '7', 'the step ran whole');
    });

    it('refuses a dev URL that names the live database, and a live database over --rehearse-max-size, before writing anything', async () => {
      const copier = createPgCopy({ env: process.env, log });
      const opts = { liveUrl: live.url, maxBytes: 1024 ** 3, reset: false, onProgress: () => undefined };
      await assert.rejects(rehearse({ connector, copier, log }, sqlRunner('DROP TABLE tags'), [step], { ...opts, devUrl: live.url }),
        (err: unknown) => err instanceof RefusedError && /--dev-url names the live database/.test(err.message));
      await assert.rejects(rehearse({ connector, copier, log }, sqlRunner('DROP TABLE tags'), [step], { ...opts, devUrl: dev.url, maxBytes: 1024 }),
        (err: unknown) => err instanceof RefusedError && /is [0-9.]+ [KMG]i?B, over the rehearsal's limit of 1\.0 KiB|over the rehearsal's limit/.test(err.message) && /--rehearse-max-size/.test(err.hint ?? ''));
      assert.equal((await query<{ n: string }>(live.url, 'SELECT count(*) AS n FROM tags'))[0]!.n, '7');
      assert.equal((await query<{ n: string }>(dev.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'tags'"))[0]!.n, '0');
    });

    const opts = () => ({ liveUrl: live.url, devUrl: dev.url, maxBytes: 1024 ** 3, reset: false, onProgress: () => undefined });

    it('the job runner rehearses only the tracks whose tool in the image can be proven to read the copy: another is refused before anything is read', async () => {
      const jobRunner: Runner = { name: 'job', run: async () => assert.fail('nothing runs') };
      const inImage = { variable: 'DATABASE_URL', tools: ['alembic'], currentRevisions: async () => assert.fail('nothing is asked') };
      await assert.rejects(rehearse({ connector, copier: oldLocal(), log }, jobRunner, [step], { ...opts(), inImage }),
        (err: unknown) => err instanceof RefusedError && /track core: --rehearse with the job runner proves .* for alembic, not golang-migrate/.test(err.message) && /--runner native/.test(err.hint ?? ''));
      await assert.rejects(rehearse({ connector, copier: oldLocal(), log }, jobRunner, [step], opts()),
        (err: unknown) => err instanceof RefusedError && /this plan's runner is job/.test(err.message));
    });

    if (major >= 16) {
      it(`refuses, naming both and before writing, when neither the pg_dump where the plugin runs nor the pod's reads PostgreSQL ${major}`, async () => {
        const scripts: string[] = [];
        const pod = async () => createPodCopy(shellPod(scripts), 'db-0', undefined);
        await assert.rejects(rehearse({ connector, copier: createPgCopy({ env: process.env, log }), podCopier: pod, log }, sqlRunner('DROP TABLE tags'), [step], opts()),
          (err: unknown) => err instanceof RefusedError && new RegExp(`pg_dump \\(PostgreSQL\\) 15\\.[0-9]+.* where the plugin runs cannot copy PostgreSQL ${major}`).test(err.message)
            && new RegExp(`in pod db-0 cannot copy PostgreSQL ${major}`).test(err.message) && new RegExp(`postgresql-client-${major}`).test(err.hint ?? '') && /--db-pod/.test(err.hint ?? ''));
        assert.equal(scripts.length, 1, 'the pod was asked for its pg_dump only, never to copy');
        // --rehearse-copy local: the local refusal alone, pointing at the pod.
        await assert.rejects(rehearse({ connector, copier: createPgCopy({ env: process.env, log }), podCopier: pod, log }, sqlRunner('DROP TABLE tags'), [step], { ...opts(), copyPlace: 'local' }),
          (err: unknown) => err instanceof RefusedError && !/in pod/.test(err.message) && /--rehearse-copy pod/.test(err.hint ?? ''));
        assert.equal((await query<{ n: string }>(dev.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'tags'"))[0]!.n, '0');
      });
    }

    const podIt = major <= 15 && pgDump15 ? it : it.skip;
    podIt('auto: a pg_dump where the plugin runs older than the server leaves the copy to the database\'s pod, which copies with the URLs on stdin', async () => {
      const scripts: string[] = [];
      const lines: string[] = [];
      const seen: string[] = [];
      const report = await rehearse({ connector, copier: oldLocal(), podCopier: async () => createPodCopy(shellPod(scripts), 'db-0', undefined), log },
        sqlRunner('DROP TABLE tags', seen), [step], { ...opts(), onProgress: (l) => lines.push(l) });
      assert.match(report.copy.via, /^pg_dump \| pg_restore in pod db-0 \(pg_dump \(PostgreSQL\) 15\./);
      assert.ok(lines.some((l) => /copying .* with pg_dump \| pg_restore in pod db-0/.test(l)), lines.join('\n'));
      assert.deepEqual(seen, [dev.url]);
      assert.deepEqual(report.lost.tables, [{ table: 'public.tags', rows: 7 }]);
      assert.equal((await query<{ n: string }>(live.url, 'SELECT count(*) AS n FROM tags'))[0]!.n, '7');
      // The scripts are argv (kubectl exec ... sh -c SCRIPT): no URL, user or password in them.
      for (const script of scripts) assert.ok(!script.includes(live.server.password) && !/postgres(ql)?:\/\//.test(script), script);
    });

    podIt('the copy in the pod writes nothing when the dev URL reaches another database from the pod than from the plugin', async () => {
      const pod = createPodCopy(shellPod(), 'db-0', undefined);
      const liveIdentity = (await query<{ identity: string }>(live.url, IDENTITY_SQL))[0]!.identity;
      // As if the pod resolved the dev URL's host to the live server: the identity the plugin saw is the dev database's.
      const devIdentity = (await query<{ identity: string }>(dev.url, IDENTITY_SQL))[0]!.identity;
      await assert.rejects(pod.copy(live.url, live.url, () => undefined, devIdentity),
        (err: unknown) => err instanceof RollbackError && err.code === ExitCode.refused && /reaches another database from this pod/.test(err.message) && /--rehearse-copy local/.test(err.hint ?? ''));
      assert.notEqual(liveIdentity, devIdentity);
      assert.equal((await query<{ n: string }>(live.url, 'SELECT count(*) AS n FROM tags'))[0]!.n, '7', 'nothing restored over the live database');
    });

    const copyIt = major <= 15 && pgDump15 ? it : it.skip;
    copyIt('copies the live database, runs the downs on the copy only, and reports the step, its locks and what was lost', async () => {
      const seen: string[] = [];
      const report = await rehearse({ connector, copier: createPgCopy({ env: process.env, log }), log }, sqlRunner('DROP TABLE tags; ALTER TABLE agents DROP COLUMN note', seen), [step],
        { liveUrl: live.url, devUrl: dev.url, maxBytes: 1024 ** 3, reset: false, onProgress: () => undefined });
      assert.deepEqual(seen, [dev.url], 'the runner was given the dev URL, never the live one');
      assert.equal(report.outcome, 'completed');
      assert.equal(report.steps.length, 1);
      assert.ok(report.steps[0]!.locks.some((l) => l.relation === 'public.tags' && l.mode === 'ACCESS EXCLUSIVE'), JSON.stringify(report.steps[0]!.locks));
      assert.ok(report.steps[0]!.locks.some((l) => l.relation === 'public.agents' && l.mode === 'ACCESS EXCLUSIVE'));
      assert.deepEqual(report.lost.tables, [{ table: 'public.tags', rows: 7 }]);
      assert.deepEqual(report.lost.columns.map((c) => `${c.table}.${c.column}`), ['public.agents.note']);
      // The live database is untouched.
      assert.equal((await query<{ n: string }>(live.url, 'SELECT count(*) AS n FROM tags'))[0]!.n, '7');
      assert.equal((await query<{ n: string }>(live.url, "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'agents' AND column_name = 'note'"))[0]!.n, '1');

      // The dev database is not empty now: refused, unless --dev-reset.
      await assert.rejects(rehearse({ connector, copier: createPgCopy({ env: process.env, log }), log }, sqlRunner('DROP TABLE tags'), [step],
        { liveUrl: live.url, devUrl: dev.url, maxBytes: 1024 ** 3, reset: false, onProgress: () => undefined }),
        (err: unknown) => err instanceof RefusedError && /is not empty \(relation public\.agents/.test(err.message) && /--dev-reset/.test(err.hint ?? ''));
      const again = await rehearse({ connector, copier: createPgCopy({ env: process.env, log }), log }, sqlRunner('DROP TABLE tags'), [step],
        { liveUrl: live.url, devUrl: dev.url, maxBytes: 1024 ** 3, reset: true, onProgress: () => undefined });
      assert.deepEqual(again.lost.tables, [{ table: 'public.tags', rows: 7 }]);
    });
  });
}
