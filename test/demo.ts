/**
 * The README's demo, self-contained: embedded PostgreSQL 17, the in-process Kubernetes API double,
 * a chart repository on loopback, real Helm 4.1 with the built plugin installed, a kagent-like
 * release whose database URL lives in a Secret. Then the plugin shows where each track stands,
 * plans the rollback to chart 0.8.0, rolls the schema and the release back, and shows the result.
 * Nothing outside /tmp is touched; everything stops at the end.
 */
import { join } from 'node:path';
import pg from 'pg';
import { migrateUp, readTrack } from './harness/golang-migrate-up.js';
import { helm4, removeTempDirs } from './harness/plugin.js';
import { stopAllServers } from './harness/postgres.js';
import { run } from './harness/run.js';
import { startWorld } from './harness/world.js';

const SOURCE = join(import.meta.dirname, 'fixtures', 'migrations', 'kagent');
const say = (text: string) => process.stdout.write(`\n\x1b[1m==> ${text}\x1b[0m\n`);

async function main(): Promise<void> {
  say('Starting PostgreSQL 17 (embedded), the Kubernetes API double, a chart repository, and Helm 4.1 with the plugin installed');
  const world = await startWorld(helm4, 'hsr-demo-');
  const { db, plugin } = world;
  /** Prints the command and its output as a terminal would show it (stderr and stdout interleaved). */
  const helm = async (args: string[]) => {
    process.stdout.write(`$ helm ${args.join(' ').replace(db.url, '<database URL>')}\n`);
    const r = await run('sh', ['-c', 'exec "$0" "$@" 2>&1', plugin.helmBin, ...args], { env: plugin.env, timeoutMs: 120_000 });
    process.stdout.write(r.stdout);
    if (r.exitCode !== 0) throw new Error(`helm ${args[0]} exited ${r.exitCode}`);
  };
  const client = new pg.Client({ connectionString: db.url });
  try {
    await helm(['plugin', 'list']);
    say('Installing chart kagent 0.9.0 (its annotations: core track at 13, vector track at 3)');
    await helm(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', 'ai', '--create-namespace', '--set', `database.url=${db.url}`]);
    say('The 0.9.0 controller migrates on start (golang-migrate): core 1..13, vector 1..3, then users add data');
    await client.connect();
    await migrateUp(client, 'schema_migrations', readTrack(join(SOURCE, 'core')));
    await migrateUp(client, 'vector_schema_migrations', readTrack(join(SOURCE, 'vector')));
    await client.query("INSERT INTO agents (id, name) VALUES ('a1', 'helper'); INSERT INTO sessions (id, agent_id, user_id) VALUES ('s1', 'a1', 'u1')");
    say('helm schema-rollback status (the database URL is read from the release\'s Secret, never printed)');
    await helm(['-n', 'ai', 'schema-rollback', 'status', 'kagent']);
    say('The plan for going back to chart 0.8.0 (core 8, vector 1), with the 0.9.0 down files: --dry-run changes nothing');
    await helm(['-n', 'ai', 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
    say('The rollback itself');
    await helm(['-n', 'ai', 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
    say('After: both tracks in step with chart 0.8.0, the data kept');
    await helm(['-n', 'ai', 'schema-rollback', 'status', 'kagent']);
    await helm(['history', 'kagent', '-n', 'ai']);
    const { rows } = await client.query('SELECT id, agent_id, user_id FROM sessions');
    process.stdout.write(`sessions: ${JSON.stringify(rows)}\n`);
  } finally {
    await client.end().catch(() => undefined);
    await world.close();
    await stopAllServers();
    removeTempDirs();
  }
  say('Done');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
