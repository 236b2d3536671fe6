/**
 * --verify-downs on real PostgreSQL (every tested major): the full schema read, a down that forgets
 * an index and one that leaves a column on a table a later down drops (invisible at the target) are
 * caught and named at their step; the kagent history passes; the dev database guards.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPostgresConnector } from '../../src/adapters/postgres.js';
import { RefusedError } from '../../src/core/errors.js';
import type { DatabaseSession, MigrationFile } from '../../src/core/ports.js';
import { diffShapes, readSchemaShape } from '../../src/core/schema-shape.js';
import { checkDevDatabase, verifyDowns, type VerifyDownsTrack } from '../../src/core/verify-downs.js';
import { golangMigrateNative } from '../../src/tools/golang-migrate-native.js';
import { KAGENT_SOURCE } from '../harness/golang-migrate-up.js';
import { freshDatabase, startServers, testedMajors, type FreshDatabase } from '../harness/postgres.js';

const connector = createPostgresConnector();

function kagentFiles(track: string, replace: Record<string, string> = {}): MigrationFile[] {
  const dir = path.join(KAGENT_SOURCE, track);
  return readdirSync(dir).map((name) => ({ name, body: replace[name] ?? readFileSync(path.join(dir, name), 'utf8') }));
}

const track = (files: MigrationFile[], current: string, target: string | null, name = 'main'): VerifyDownsTrack => ({
  track: name, tool: 'golang-migrate', driver: golangMigrateNative, table: { table: name === 'vector' ? 'vector_schema_migrations' : 'schema_migrations' }, files, origin: `${name}/`, current, target,
});

/** Three versions: users; an index on users.email; orders. */
function small(overrides: { down2?: string; down3?: string; up3?: string } = {}): MigrationFile[] {
  return [
    { name: '1_users.up.sql', body: 'CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);' },
    { name: '1_users.down.sql', body: 'DROP TABLE users;' },
    { name: '2_email_idx.up.sql', body: 'CREATE UNIQUE INDEX users_email_idx ON users (email);' },
    { name: '2_email_idx.down.sql', body: overrides.down2 ?? 'DROP INDEX users_email_idx;' },
    { name: '3_orders.up.sql', body: overrides.up3 ?? "CREATE TYPE mood AS ENUM ('a', 'b'); CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users(id), m mood DEFAULT 'a');" },
    { name: '3_orders.down.sql', body: overrides.down3 ?? 'DROP TABLE orders; DROP TYPE mood;' },
  ];
}

async function refusal(p: Promise<unknown>): Promise<RefusedError> {
  const err = await p.then(() => assert.fail('verified a faulty down'), (e: unknown) => e);
  assert.ok(err instanceof RefusedError, String(err));
  return err;
}

describe('--verify-downs on a scratch database', function () {
  this.timeout(120_000);
  before(async () => {
    await startServers(testedMajors());
  });

  for (const major of testedMajors()) {
    describe(`PostgreSQL ${major}`, () => {
      let db: FreshDatabase;
      let dev: DatabaseSession;
      beforeEach(async () => {
        db = await freshDatabase(major);
        dev = await connector.connect(db.url);
      });
      afterEach(async () => {
        await dev.close();
        await db.drop();
      });

      it('reads indexes, defaults, constraints, enum values, sequences, views, functions and extensions, and tells each difference', async () => {
        await dev.query(`CREATE TYPE mood AS ENUM ('a', 'b');
          CREATE TABLE t (id serial PRIMARY KEY, m mood DEFAULT 'a', n int CHECK (n > 0));
          CREATE INDEX t_n_idx ON t (n);
          CREATE VIEW v AS SELECT id FROM t;
          CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
          CREATE EXTENSION IF NOT EXISTS pgcrypto;`);
        const before = await readSchemaShape(dev);
        const kinds = new Set(before.objects.map((o) => o.kind));
        for (const k of ['table', 'column', 'constraint', 'index', 'sequence', 'enum', 'view', 'function', 'extension'] as const) assert.ok(kinds.has(k), `reads ${k}`);
        await dev.query(`ALTER TYPE mood ADD VALUE 'c'; ALTER TABLE t ALTER COLUMN m SET DEFAULT 'b'; DROP INDEX t_n_idx; CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1'`);
        const diff = diffShapes(before, await readSchemaShape(dev));
        assert.deepEqual(diff.map((d) => `${d.change} ${d.kind} ${d.name}`), ['changed column public.t.m', 'changed enum public.mood', 'changed function public.f(x integer)', 'missing index public.t_n_idx']);
      });

      it('a down that forgets an index is caught at its step and named', async () => {
        const err = await refusal(verifyDowns(dev, [track(small({ down2: 'SELECT 1;' }), '3', '1')]));
        assert.match(err.message, /down 2_email_idx\.down\.sql \(2 -> 1\) leaves index public\.users_email_idx \(CREATE UNIQUE INDEX users_email_idx ON public\.users USING btree \(email\)\), unlike the schema the ups give at 1/);
      });

      it('a down that leaves a column on a table an earlier-applied version\'s down then drops: invisible at the target, caught at its step', async () => {
        const files = small({ up3: 'ALTER TABLE users ADD COLUMN nick text;', down3: 'SELECT 1;' });
        // At base everything is gone, so a check of the end alone passes; the step 3 -> 2 does not.
        const err = await refusal(verifyDowns(dev, [track(files, '3', null)]));
        assert.match(err.message, /down 3_orders\.down\.sql \(3 -> 2\) leaves column public\.users\.nick \(text\)/);
        assert.doesNotMatch(err.message, /2_email_idx|1_users/);
      });

      it('a down that drops too much is named with what it removes', async () => {
        const err = await refusal(verifyDowns(dev, [track(small({ down3: 'DROP TABLE orders; DROP TYPE mood; DROP INDEX users_email_idx;' }), '3', '2')]));
        assert.match(err.message, /down 3_orders\.down\.sql \(3 -> 2\) removes index public\.users_email_idx/);
      });

      it('the kagent history (core 13 -> 7, vector 3 -> 1) passes, every step compared', async () => {
        const result = await verifyDowns(dev, [track(kagentFiles('core'), '13', '7', 'core'), track(kagentFiles('vector'), '3', '1', 'vector')]);
        assert.deepEqual(result.tracks, [{ track: 'core', ups: 13, steps: 6 }, { track: 'vector', ups: 3, steps: 2 }]);
      });

      it('refuses the live database as dev database, and a dev database that is not empty unless reset', async () => {
        const other = await connector.connect(db.url);
        try {
          await refusal(checkDevDatabase(other, dev, true));
          await dev.query('CREATE TABLE keep_me (id int)');
          const live = await freshDatabase(major);
          const liveSession = await connector.connect(live.url);
          try {
            const err = await refusal(checkDevDatabase(liveSession, dev, false));
            assert.match(err.message, /not empty \(1 objects: table public\.keep_me\)/);
            assert.equal((await readSchemaShape(dev)).objects.length > 0, true, 'nothing dropped without --dev-reset');
            await checkDevDatabase(liveSession, dev, true);
            assert.deepEqual((await readSchemaShape(dev)).objects, []);
          } finally {
            await liveSession.close();
            await live.drop();
          }
        } finally {
          await other.close();
        }
      });
    });
  }
});
