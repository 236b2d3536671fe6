/**
 * The README's demo, self-contained: embedded PostgreSQL 17, the in-process Kubernetes API double,
 * a chart repository on loopback, real Helm 4.1 with the built plugin installed, a kagent-like
 * release whose database URL lives in a Secret. Then the plugin shows where each track stands,
 * plans the rollback to chart 0.8.0, rolls the schema and the release back, and shows the result.
 * Nothing outside /tmp is touched; everything stops at the end.
 */
import { join } from 'node:path';
import pg from 'pg';
import { ensureBinary } from './harness/build.js';
import { startChartRepo } from './harness/chart-repo.js';
import { FIXTURE_CHARTS, materializeChartVersions } from './harness/charts.js';
import { startCluster } from './harness/cluster.js';
import { helm4, installPlugin, makeTempDir, removeTempDirs, stagePluginDir, type RunResult } from './harness/plugin.js';
import { freshDatabase, stopAllServers } from './harness/postgres.js';
import { migrateUp, readTrack } from './harness/golang-migrate-up.js';

const SOURCE = join(import.meta.dirname, 'fixtures', 'migrations', 'kagent');
const say = (text: string) => process.stdout.write(`\n\x1b[1m==> ${text}\x1b[0m\n`);
const show = (r: RunResult) => process.stdout.write(r.stdout + r.stderr);

async function main(): Promise<void> {
  const dir = makeTempDir('hsr-demo-');
  say('Starting PostgreSQL 17 (embedded), the Kubernetes API double and a chart repository');
  const [db, cluster] = await Promise.all([freshDatabase(17), startCluster({ dir })]);
  const charts = materializeChartVersions(join(FIXTURE_CHARTS, 'kagent'), join(dir, 'charts'));
  const repo = await startChartRepo(join(dir, 'repo'), charts.map((path) => ({ path })));
  try {
    say('Installing the plugin into Helm 4.1 (helm plugin install)');
    const plugin = await installPlugin(helm4, stagePluginDir(ensureBinary()), { env: cluster.env });
    show(await plugin.helm(['plugin', 'list']));
    const helm = async (args: string[]) => {
      process.stdout.write(`$ helm ${args.join(' ').replace(db.url, '<database URL>')}\n`);
      const r = await plugin.helm(args);
      show(r);
      if (r.exitCode !== 0) throw new Error(`helm ${args[0]} failed`);
      return r;
    };
    say('Installing chart kagent 0.9.0 (its annotations: core track at 13, vector track at 3)');
    await helm(['repo', 'add', 'fixtures', repo.url]);
    await helm(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', 'ai', '--create-namespace', '--set', `database.url=${db.url}`]);
    say('The 0.9.0 controller migrates on start (golang-migrate): core 1..13, vector 1..3, then users add data');
    const client = new pg.Client({ connectionString: db.url });
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
    await client.end();
    await plugin.cleanup();
  } finally {
    await repo.close();
    await cluster.close();
    await db.drop();
    await stopAllServers();
    removeTempDirs();
  }
  say('Done');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
