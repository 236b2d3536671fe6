/**
 * `--rehearse` and `--verify-downs` end to end through the built binary, on the kagent world with the
 * native runner (--source): what the report says, and the 2 a.m. attacks on the shared --dev-url and
 * --dev-reset (the live database as dev URL however spelled, a dev database that holds something, the
 * dev password in any output, Ctrl-C during the rehearsal, a down that fails on the copy).
 *
 * The world runs on PostgreSQL 15: the rehearsal copies with the pg_dump where the plugin runs, and
 * the only one here is Debian's 15, which reads servers of its own major or older. One Helm (the
 * newest): the rehearsal and the check happen in the plugin, before anything reaches helm.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInBackground } from '../harness/background.js';
import { brokenKagentSource, kagentSourceWithDown, kagentVersionRows } from '../harness/golang-migrate-up.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { helmVersions, kubectl, makeTempDir, repoRoot, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import { runOk } from '../harness/run.js';
import { freshDatabase, query, type FreshDatabase } from '../harness/postgres.js';
import { assertInOrder } from '../harness/scenario.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');
const helm = helmVersions[helmVersions.length - 1]!;

/** Everything a rollback could change on a database: version rows, every table with its exact row count, every column. */
async function databaseState(url: string): Promise<unknown> {
  return {
    versions: await kagentVersionRows(url),
    tables: await query(url, `SELECT format('%I.%I', table_schema, table_name) AS t,
        (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text AS n
      FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`),
    columns: await query(url, `SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3`),
  };
}

/** What a database holds in its own schemas (tables, views, sequences): empty means nothing. */
const relationsIn = async (url: string) =>
  (await query<{ r: string }>(url, `SELECT format('%I.%I', n.nspname, c.relname) AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' AND c.relkind IN ('r', 'v', 'S', 'p') ORDER BY 1`)).map((x) => x.r);

describe(`e2e rollback --rehearse and --verify-downs: the boundaries and the attacks, through ${helm.label}`, function () {
  this.timeout(300_000);
  let world: World;
  let plugin: InstalledPlugin;
  const devs: FreshDatabase[] = [];
  const devPasswords: string[] = [];
  const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });

  /**
   * An empty dev database on the live one's server (PostgreSQL 15), owned by a role of its own with
   * its own password, so that "the dev password is never printed" is about the dev URL's secret.
   */
  async function devDatabase(): Promise<string> {
    const db = await freshDatabase(15);
    devs.push(db);
    const role = `hsr_dev_${randomBytes(4).toString('hex')}`;
    const password = `dev-${randomBytes(8).toString('hex')}-s3cret`;
    devPasswords.push(password);
    await db.server.admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await db.server.admin(`ALTER DATABASE "${db.name}" OWNER TO ${role}`);
    return db.server.url(db.name, { user: role, password });
  }

  /**
   * No dev password in the plugin's output. Helm 4 with --debug prints the plugin's whole argv itself
   * ("executing plugin command ...") before the plugin starts: no plugin can mask that line, so it is
   * left out here, and the plugin warns about it (README "Rehearsal on a clone").
   */
  const assertNoDevPassword = (r: RunResult) => {
    const stderr = r.stderr.split('\n').filter((l) => !/^level=DEBUG msg="executing plugin command"/.test(l)).join('\n');
    for (const p of devPasswords) {
      for (const form of [p, encodeURIComponent(p)]) assert.ok(!r.stdout.includes(form) && !stderr.includes(form), `the dev password is printed:\n${r.stdout}\n${r.stderr}`);
    }
  };

  before(async () => {
    // postgres:15: the database's pod for --rehearse-copy pod, running Debian's pg_dump 15 (the fake kubelet's exec runs it locally).
    world = await startKagentWorld(helm.bin, 'hsr-rehearse-', NS, { pgMajor: 15, images: { 'postgres:15': join(repoRoot, 'test', 'fixtures', 'images', 'postgres-15') } });
    plugin = world.plugin;
    await runOk(kubectl, ['apply', '-n', NS, '-f', '-'], { env: plugin.env, input: JSON.stringify({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'kagent-postgres' },
      spec: { serviceName: 'kagent-postgres', replicas: 1, selector: { matchLabels: { app: 'kagent-postgres' } },
        template: { metadata: { labels: { app: 'kagent-postgres' } }, spec: { containers: [{ name: 'postgres', image: 'postgres:15' }] } } },
    }) });
    // Rows in the tables the downs drop, so that the report's counts are the copy's, not zeros.
    await query(world.db.url, `INSERT INTO runtime_revisions (id, agent_id, revision, image) VALUES (1, 'a1', 1, 'kagent:0.9.0');
      INSERT INTO agent_instances (id, agent_id, revision_id) VALUES ('i1', 'a1', 1), ('i2', 'a1', 1), ('i3', 'a2', 1)`);
  });
  after(async () => {
    await Promise.all(devs.map((d) => d.drop().catch(() => undefined)));
    await world?.close();
  });

  describe('usage: exit 2, nothing read', () => {
    it('--rehearse without --dev-url', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--rehearse', '--dry-run']);
      assert.equal(r.exitCode, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--rehearse needs --dev-url/);
    });
    it('--dev-url alone (neither --rehearse nor --verify-downs)', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dev-url', 'postgres://me@localhost/scratch', '--dry-run']);
      assert.equal(r.exitCode, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--dev-url is for --verify-downs or --rehearse/);
    });
    it('--rehearse --runner exec', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--rehearse', '--dev-url', 'postgres://me@localhost/scratch', '--runner', 'exec', '--dry-run']);
      assert.equal(r.exitCode, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--rehearse runs the downs with the native runner \(or the job runner for alembic\), not --runner exec/);
    });
  });

  describe('--rehearse', () => {
    it('--dry-run: the plan, then the rehearsal report (each step\'s time, its locks, what was lost); the live database unchanged', async () => {
      const dev = await devDatabase();
      const before = await databaseState(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev]);
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      assertInOrder(r.stdout, [
        '\n-- What runs, in this order\n',
        /\n-- Rehearsal on a copy \(hsr_t\d+_\w+, [\d.]+ \w*B, copied in \d+ ms by pg_dump \| pg_restore where the plugin runs \(pg_dump \(PostgreSQL\) 15\.[^\n]*\)\); nothing changed on the live database/,
        /\n {2}1\. track vector: reverts 3, 2 -> 1: done in \d+ ms\n/,
        /\n {2}2\. track core: reverts 13, 12, 11, 10, 9 -> 8: done in \d+ ms\n/,
        '\n  Lost on the copy:\n',
      ]);
      // 000011's down drops agent_instance_tasks: its lock is seen, however short the DROP.
      assert.match(r.stdout, /^ {7}lock: ACCESS EXCLUSIVE on public\.agent_instance_tasks$/m);
      assert.doesNotMatch(r.stdout, /lock: .* on \S+_(pkey|idx)$/m, 'table locks only: an index\'s lock comes with its table\'s');
      assert.match(r.stdout, /^ {4}table public\.agent_instances dropped with its 3 rows$/m);
      assert.match(r.stdout, /^ {4}column public\.runtime_revisions\.agent_card \(jsonb\) dropped$/m);
      assert.doesNotMatch(r.stdout, /FAILED/);
      assert.match(r.stderr, /dry run: nothing was changed/);
      assert.deepEqual(await databaseState(world.db.url), before, 'the live database is untouched');
      assertNoDevPassword(r);
    });

    it('-o json: the plan\'s rehearsal, valid against schemas/plan.v1.json; --debug never prints the dev password', async () => {
      const dev = await devDatabase();
      const before = await databaseState(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev, '-o', 'json', '--debug']);
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      const [plan] = assertOutputDocuments(r.stdout, 'json', ['Plan']);
      const rehearsal = plan!['rehearsal'] as { outcome: string; steps: Array<{ track: string; outcome: string; locks: unknown[] }>; lost: { tables: Array<{ table: string }> } };
      assert.equal(rehearsal.outcome, 'completed');
      assert.deepEqual(rehearsal.steps.map((s) => [s.track, s.outcome]), [['vector', 'done'], ['core', 'done']]);
      assert.ok(rehearsal.steps[1]!.locks.length > 0, 'core\'s downs took table locks');
      assert.deepEqual(rehearsal.lost.tables, [{ table: 'public.agent_instance_tasks', rows: 0 }, { table: 'public.agent_instances', rows: 3 }]);
      assert.match(r.stderr, /^debug: /m, '--debug is on');
      assert.match(r.stderr, /warning: --dev-url carries a password, which shows in ps .*~\/\.pgpass/);
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(r);
    });

    it('--rehearse-copy pod --db-pod: pg_dump | pg_restore run in the database\'s pod (kubectl exec), the report says so; no URL or password in kubectl\'s argv', async () => {
      const dev = await devDatabase();
      const before = await databaseState(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev, '--rehearse-copy', 'pod', '--db-pod', 'kagent-postgres-0', '--debug']);
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /\n-- Rehearsal on a copy \(hsr_t\d+_\w+, [\d.]+ \w*B, copied in \d+ ms by pg_dump \| pg_restore in pod kagent-postgres-0 \(pg_dump \(PostgreSQL\) 15\.[^\n]*\)\); nothing changed on the live database/);
      assert.match(r.stdout, /^ {4}table public\.agent_instances dropped with its 3 rows$/m);
      // --debug shows each command the plugin runs: kubectl exec carries the script, never a URL.
      const execs = r.stderr.split('\n').filter((l) => /kubectl.* exec -i kagent-postgres-0/.test(l));
      assert.ok(execs.length >= 2, `the pod was asked for its pg_dump, then to copy:\n${r.stderr}`);
      for (const l of execs) assert.doesNotMatch(l, /postgres(ql)?:\/\/|PGPASSWORD=[^"$]/);
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(world.db.server.password.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(r);
    });

    it('--rehearse-copy pod where the database host names no Service and no --db-pod: refused naming --db-pod, nothing written', async () => {
      const dev = await devDatabase();
      const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev, '--rehearse-copy', 'pod']);
      assert.equal(r.exitCode, 12, r.stdout + r.stderr);
      assert.match(r.stderr, /the copy in the database's pod cannot be made: the database host "127\.0\.0\.1" names no Service/);
      assert.match(r.stderr, /--db-pod/);
      assert.deepEqual(await relationsIn(dev), []);
    });

    it('the dev password in a pgpass file, not in --dev-url: no warning, the plugin, pg_dump and pg_restore all read it', async () => {
      const dev = new URL(await devDatabase());
      const pgpass = join(makeTempDir('hsr-pgpass-'), 'pgpass');
      writeFileSync(pgpass, `${dev.hostname}:${dev.port}:${dev.pathname.slice(1)}:${dev.username}:${devPasswords[devPasswords.length - 1]!.replace(/[:\\]/g, '\\$&')}\n`, { mode: 0o600 });
      dev.password = '';
      const r = await plugin.helm(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev.toString()],
        { timeoutMs: 120_000, env: { ...plugin.env, PGPASSFILE: pgpass } });
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ {2}2\. track core: reverts 13, 12, 11, 10, 9 -> 8: done in \d+ ms$/m);
      assert.doesNotMatch(r.stderr, /warning: --dev-url carries a password/);
    });

    it('the live database as --dev-url, as given or spelled another way (localhost for 127.0.0.1): refused, nothing changed', async () => {
      const before = await databaseState(world.db.url);
      const other = new URL(world.db.url);
      assert.equal(other.hostname, '127.0.0.1');
      other.hostname = 'localhost';
      other.searchParams.set('application_name', 'dev');
      for (const url of [world.db.url, other.toString()]) {
        const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', url, '--dev-reset']);
        assert.equal(r.exitCode, 12, `${url}\n${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /--dev-url names the live database/);
        assert.deepEqual(await databaseState(world.db.url), before, url);
      }
    });

    it('a dev database that holds something: refused naming it without --dev-reset; with it, emptied and used', async () => {
      const dev = await devDatabase();
      await query(dev, 'CREATE TABLE leftover (id int); INSERT INTO leftover VALUES (1)');
      const refused = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev]);
      assert.equal(refused.exitCode, 12, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /the dev database hsr_t\d+_\w+ is not empty \(relation public\.leftover\)/);
      assert.match(refused.stderr, /--dev-reset/);
      assert.deepEqual(await relationsIn(dev), ['public.leftover'], 'the refused run left the dev database as it was');
      assertNoDevPassword(refused);

      const reset = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev, '--dev-reset']);
      assert.equal(reset.exitCode, 0, reset.stdout + reset.stderr);
      assert.match(reset.stdout, /^ {2}2\. track core: reverts 13, 12, 11, 10, 9 -> 8: done in \d+ ms$/m);
      assert.ok(!(await relationsIn(dev)).includes('public.leftover'), '--dev-reset dropped what was there');
    });

    it('a down that fails on the copy: the report shows it, exit 12, the live database untouched', async () => {
      const dev = await devDatabase();
      const before = await databaseState(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', brokenKagentSource(), '--rehearse', '--dev-url', dev, '--yes']);
      assert.equal(r.exitCode, 12, r.stdout + r.stderr);
      assert.match(r.stdout, /^ {2}2\. track core: reverts 13, 12, 11, 10, 9 -> 8: FAILED in \d+ ms$/m);
      assert.match(r.stdout, /^ {7}error: .*division by zero/m);
      assert.match(r.stdout, /The rehearsal FAILED: the same step would fail on the live database/);
      assert.match(r.stderr, /the rehearsal failed at track core on the copy/);
      assert.doesNotMatch(r.stdout, /Rolled back/);
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(r);
    });

    it('Ctrl-C during the rehearsal: exit 22, the live database untouched', async () => {
      const dev = await devDatabase();
      // A down that takes long enough on the copy for the signal to land in it.
      const slow = kagentSourceWithDown('core/000013_runtime_revision_agent_card.down.sql', `SELECT pg_sleep(30);\n${readFileSync(join(SOURCE, 'core', '000013_runtime_revision_agent_card.down.sql'), 'utf8')}`);
      const before = await databaseState(world.db.url);
      const running = startInBackground(world, NS, ['kagent', '--to', '0.8.0', '--source', slow, '--rehearse', '--dev-url', dev, '--yes']);
      await running.waitFor(/rehearsal: track core: 13 -> 8 on the copy/);
      await running.signal('SIGINT');
      const r = await running.done;
      assert.equal(r.exitCode, 22, r.stdout + r.stderr);
      assert.match(r.stderr, /SIGINT: interrupted/);
      assert.doesNotMatch(r.stdout, /Rolled back/);
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(r);
      // The copy is left in the dev database: the next run says so rather than rehearse on it.
      const again = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--rehearse', '--dev-url', dev]);
      assert.equal(again.exitCode, 12, again.stdout + again.stderr);
      assert.match(again.stderr, /is not empty .*pass --dev-reset/s);
    });
  });

  describe('--verify-downs', () => {
    it('a down that fails in a --source copy: refused (exit 12) naming the file, the live database untouched', async () => {
      const dev = await devDatabase();
      const before = await databaseState(world.db.url);
      const r = await sr(['kagent', '--to', '0.8.0', '--source', brokenKagentSource(), '--verify-downs', '--dev-url', dev, '--yes']);
      assert.equal(r.exitCode, 12, r.stdout + r.stderr);
      assert.match(r.stderr, /track core: .*000011_agent_instance_tasks\.down\.sql/);
      assert.doesNotMatch(r.stdout, /Rolled back/);
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(r);
    });

    it('the live database spelled another way, and a dev database that holds something: refused, nothing changed', async () => {
      const before = await databaseState(world.db.url);
      const other = new URL(world.db.url);
      other.hostname = 'localhost';
      const asLive = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--verify-downs', '--dev-url', other.toString(), '--dev-reset']);
      assert.equal(asLive.exitCode, 12, asLive.stdout + asLive.stderr);
      assert.match(asLive.stderr, /--dev-url names the live database/);

      const dev = await devDatabase();
      await query(dev, 'CREATE TABLE leftover (id int)');
      const held = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--verify-downs', '--dev-url', dev, '--debug']);
      assert.equal(held.exitCode, 12, held.stdout + held.stderr);
      assert.match(held.stderr, /the dev database is not empty \(1 objects: table public\.leftover\)/);
      assert.deepEqual(await relationsIn(dev), ['public.leftover']);
      assert.deepEqual(await databaseState(world.db.url), before);
      assertNoDevPassword(held);
    });
  });

  // Last (mocha runs a describe's own tests before its nested ones): it rolls the live database back.
  describe('the real run', () => it('--verify-downs --rehearse --dev-url --yes in one run: the check, the rehearsal, then the rollback (exit 0)', async () => {
    const dev = await devDatabase();
    const r = await sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--verify-downs', '--rehearse', '--dev-url', dev, '--yes']);
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assertInOrder(r.stdout, [
      '\n-- Rehearsal on a copy (',
      /\n {2}2\. track core: reverts 13, 12, 11, 10, 9 -> 8: done in \d+ ms\n/,
      /\nDowns verified on the dev database: 7 steps, schemas equal at each /,
      'Rolled back kagent to chart kagent 0.8.0.',
    ]);
    // The rehearsal copied into the database the check had just used: the check left it empty first.
    assertInOrder(r.stderr, [/rehearsal: copying /, /rehearsal: track vector: /, /rehearsal: track core: /]);
    const [core, vector] = await kagentVersionRows(world.db.url);
    assert.deepEqual([core, vector], [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assertNoDevPassword(r);
  }));
});
