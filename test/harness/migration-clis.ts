/**
 * The real sql-migrate (Debian, /usr/bin/sql-migrate) and node-pg-migrate (npm) CLIs pointed at a
 * test database and a migrations directory, and a snapshot of a database's schema to compare what
 * they leave with what the plugin's native drivers leave. The database URL goes into the tools'
 * configuration (a temp dbconfig.yml, DATABASE_URL), never into a message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { MigrationFile } from '../../src/core/ports.js';
import { repoRoot } from './binaries.js';
import { makeTempDir } from './plugin.js';
import { run, type RunResult } from './run.js';

export const SQL_MIGRATE = process.env['HSR_SQL_MIGRATE'] ?? 'sql-migrate';
export const NODE_PG_MIGRATE = path.join(repoRoot, 'node_modules', '.bin', 'node-pg-migrate');

let sqlMigrateProbe: boolean | undefined;
/** Whether Debian's sql-migrate is installed; says once why its checks are skipped when not. */
export function sqlMigrateInstalled(): boolean {
  if (sqlMigrateProbe === undefined) {
    sqlMigrateProbe = spawnSync(SQL_MIGRATE, ['--help'], { stdio: 'ignore' }).error === undefined;
    if (!sqlMigrateProbe) process.stderr.write('      (skipping the real-sql-migrate checks: no sql-migrate on PATH; apt-get install sql-migrate)\n');
  }
  return sqlMigrateProbe;
}

/** Writes migration files into a new temp directory (the CLIs read a directory). */
export function writeMigrations(files: readonly MigrationFile[], prefix = 'hsr-migrations-'): string {
  const dir = makeTempDir(prefix);
  for (const f of files) writeFileSync(path.join(dir, f.name), f.body);
  return dir;
}

/** The exit code and output of one CLI run, for comparing failures with the tool's own. */
export type CliResult = RunResult & { output: string };

async function cli(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliResult> {
  const r = await run(file, args, { env: { ...process.env, ...env }, cwd, timeoutMs: 60_000 });
  return { ...r, output: r.stdout + r.stderr };
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.exitCode, 0, `${what} exited ${r.exitCode}:\n${r.output}`);
  return r;
}

/** sql-migrate with a dbconfig.yml for `url` (lib/pq's key=value form: the URL's password may hold any character). */
export function sqlMigrateCli(url: string, dir: string, opts: { schema?: string; table?: string } = {}) {
  const u = new URL(url);
  const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const datasource = `host=${u.hostname} port=${u.port} dbname=${u.pathname.slice(1)} user=${decodeURIComponent(u.username)} password=${quote(decodeURIComponent(u.password))} sslmode=disable`;
  const config = path.join(makeTempDir('hsr-sql-migrate-'), 'dbconfig.yml');
  const extra = [opts.schema === undefined ? '' : `  schema: ${opts.schema}\n`, opts.table === undefined ? '' : `  table: ${opts.table}\n`].join('');
  writeFileSync(config, `test:\n  dialect: postgres\n  datasource: ${JSON.stringify(datasource)}\n  dir: ${JSON.stringify(dir)}\n${extra}`);
  const call = (...args: string[]) => cli(SQL_MIGRATE, [...args, `-config=${config}`, '-env=test'], {});
  return {
    call,
    up: async (limit?: number) => ok(await call('up', ...(limit === undefined ? [] : [`-limit=${limit}`])), 'sql-migrate up'),
    down: (limit: number) => call('down', `-limit=${limit}`),
    /** The ids `sql-migrate status` shows as applied, in its (byId) order. */
    async applied(): Promise<string[]> {
      const out = ok(await call('status'), 'sql-migrate status').stdout;
      return [...out.matchAll(/^\|\s*(\S+)\s*\|\s*([^|]+?)\s*\|$/gm)].filter((m) => m[1] !== 'MIGRATION' && m[2] !== 'no').map((m) => m[1]!);
    },
  };
}

/** node-pg-migrate's CLI on `dir` against `url` (DATABASE_URL), with its table options. */
export function nodePgMigrateCli(url: string, dir: string, opts: { schema?: string; table?: string } = {}) {
  const options = [
    '-m', dir,
    ...(opts.table === undefined ? [] : ['-t', opts.table]),
    ...(opts.schema === undefined ? [] : ['--migrations-schema', opts.schema]),
  ];
  const call = (...args: string[]) => cli(NODE_PG_MIGRATE, [...args, ...options], { DATABASE_URL: url });
  return {
    call,
    up: async (count?: number) => ok(await call('up', ...(count === undefined ? [] : [String(count)])), 'node-pg-migrate up'),
    /**
     * The migrations `up` would run, as `up --dry-run` lists them: node-pg-migrate has no status
     * command, and this is how it tells what is not applied (after its checkOrder passed).
     */
    async pending(): Promise<string[]> {
      const out = ok(await call('up', '--dry-run'), 'node-pg-migrate up --dry-run').output;
      if (/No migrations to run!/.test(out)) return [];
      const listed = /> Migrating files:\n((?:> - .*\n)+)/.exec(out);
      assert.ok(listed, `node-pg-migrate up --dry-run printed no list:\n${out}`);
      return listed[1]!.trim().split('\n').map((l) => l.replace(/^> - /, ''));
    },
  };
}

/** What a schema is made of, in a stable order: comparing two says whether they are the same schema. */
export interface SchemaSnapshot {
  columns: string[];
  indexes: string[];
  constraints: string[];
  functions: string[];
}

/** Tables, columns, indexes, constraints and functions of every user schema (information_schema and pg_catalog). */
export async function schemaSnapshot(url: string): Promise<SchemaSnapshot> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const user = `NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`;
  const lines = async (text: string) => (await client.query<{ line: string }>(text)).rows.map((r) => r.line);
  try {
    return {
      columns: await lines(
        `SELECT concat_ws(' ', table_schema || '.' || table_name, column_name, data_type, is_nullable, column_default) AS line
           FROM information_schema.columns WHERE table_schema ${user} ORDER BY table_schema, table_name, ordinal_position`,
      ),
      indexes: await lines(`SELECT schemaname || ' ' || indexdef AS line FROM pg_indexes WHERE schemaname ${user} ORDER BY 1`),
      constraints: await lines(
        `SELECT n.nspname || ' ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) AS line
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname ${user} ORDER BY 1`,
      ),
      functions: await lines(
        `SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc) AS line
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname ${user} ORDER BY 1`,
      ),
    };
  } finally {
    await client.end();
  }
}
