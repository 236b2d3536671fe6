/**
 * dbmate's case for the native conformance suite: `-- migrate:up/down` files, migrated up by the
 * real dbmate CLI (npm `dbmate`, node_modules/.bin/dbmate).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MigrationFile } from '../../../src/core/ports.js';
import { dbmateNative } from '../../../src/tools/dbmate-native.js';
import { makeTempDir, repoRoot, run } from '../../harness/plugin.js';
import { query } from '../../harness/postgres.js';
import type { ConformanceCase } from './types.js';

export const DBMATE = path.join(repoRoot, 'node_modules', '.bin', 'dbmate');

const versions = ['20240101000001', '20240101000002', '20240101000003', '20240101000004'];

/** Runs the dbmate CLI on `files` (written to a fresh directory); throws with its output on a non-zero exit. */
export async function dbmateCli(url: string, files: readonly MigrationFile[], ...args: string[]): Promise<string> {
  const dir = makeTempDir('hsr-dbmate-');
  for (const f of files) writeFileSync(path.join(dir, f.name), f.body);
  const withSsl = `${url}${url.includes('?') ? '&' : '?'}sslmode=disable`;
  const r = await run(DBMATE, ['--no-dump-schema', '--migrations-dir', dir, '--url', withSsl, ...args], { cwd: dir, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`dbmate ${args.join(' ')} exited ${r.exitCode}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** `dbmate status`: the applied and pending counts it prints. */
export async function dbmateStatus(url: string, files: readonly MigrationFile[]): Promise<{ applied: number; pending: number }> {
  const out = await dbmateCli(url, files, 'status');
  return { applied: Number(/^Applied: (\d+)$/m.exec(out)?.[1]), pending: Number(/^Pending: (\d+)$/m.exec(out)?.[1]) };
}

export const dbmateCase: ConformanceCase = {
  tool: 'dbmate',
  driver: dbmateNative,
  table: 'schema_migrations',
  files: (options = {}) =>
    versions.map((v, i) => ({
      name: `${v}_create_t_${i + 1}.sql`,
      body:
        `-- migrate:up\nCREATE TABLE t_${i + 1} (id int PRIMARY KEY, note text);\n\n-- migrate:down\n` +
        (options.failingDownOf === v ? `DROP TABLE t_${i + 1};\nSELECT 1 / 0;\n` : `DROP TABLE t_${i + 1};\n`),
    })),
  versions,
  // dbmate has no "up to": it migrates every file it sees, so it sees only those up to `version`.
  migrateUp: async (url, files, version) => {
    await dbmateCli(url, files.filter((f) => f.name.split('_')[0]! <= version), 'up');
  },
  readRows: (url) => query(url, 'SELECT version FROM schema_migrations ORDER BY version'),
  rowsAt: (version) => versions.slice(0, version === null ? 0 : versions.indexOf(version) + 1).map((v) => ({ version: v })),
  marksDirty: false,
};
