/**
 * The README's demo, self-contained: embedded PostgreSQL 17, the in-process Kubernetes API double,
 * a chart repository on loopback, real Helm 4.1 with the built plugin installed, a kagent-like
 * release whose database URL lives in a Secret. Then the plugin reads the release and the database.
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
    say('The controller migrates on start: the database is at core 13, vector 3');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null);
      INSERT INTO schema_migrations VALUES (13, false);
      CREATE TABLE vector_schema_migrations (version bigint not null primary key, dirty boolean not null);
      INSERT INTO vector_schema_migrations VALUES (3, false);`);
    await client.end();
    say('helm schema-rollback status (the database URL is read from the release\'s Secret, never printed)');
    await helm(['-n', 'ai', 'schema-rollback', 'status', 'kagent']);
    await helm(['-n', 'ai', 'schema-rollback', 'status', 'kagent', '-o', 'yaml']);
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
