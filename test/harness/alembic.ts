/**
 * Helpers shared by the alembic end-to-end tests (test/e2e/rollback-alembic.test.ts: openkat;
 * test/e2e/rollback-llamacloud.test.ts: llamacloud): the real alembic (Debian's python3-alembic)
 * run from a fixture image's directory as its container would, reads of the database the
 * assertions compare, and copies of an image with some of its files replaced (a release that
 * shipped a broken downgrade).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeTempDir } from './plugin.js';
import { query } from './postgres.js';

export { query };

/** The images run Debian's python3-alembic with psycopg2 (scripts/setup.sh installs them as root); skips the suite without them. */
export function skipWithoutAlembic(ctx: Mocha.Context, what = 'the alembic fixture images'): void {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import alembic, psycopg2'], { stdio: 'ignore' });
  if (probe.status === 0) return;
  console.log(`      skipped: ${what} need /usr/bin/python3 with alembic and psycopg2 (apt-get install python3-alembic python3-psycopg2)`);
  ctx.skip();
}

/** Runs the real alembic from an image's directory, as its container would, against `url`. */
export function alembic(imageDir: string, url: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync('/usr/bin/python3', ['-m', 'alembic', ...args], { cwd: imageDir, env: { ...process.env, DATABASE_URL: url, PYTHONDONTWRITEBYTECODE: '1' }, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** alembic(), which must exit 0; returns its output (stdout then stderr). */
export function alembicOk(imageDir: string, url: string, args: string[]): string {
  const r = alembic(imageDir, url, args);
  assert.equal(r.status, 0, `alembic ${args.join(' ')} in ${imageDir}:\n${r.output}`);
  return r.output;
}


/** alembic_version's rows, in order. */
export const versionRows = (url: string) => query<{ version_num: string }>(url, 'SELECT version_num FROM alembic_version ORDER BY version_num');

/** The table's name if it exists (to_regclass), else null. */
export const regclass = async (url: string, table: string) => (await query<{ t: string | null }>(url, `SELECT to_regclass('${table}')::text AS t`))[0]!.t;

/** The table's columns in order. */
export const columns = async (url: string, table: string) =>
  (await query<{ c: string }>(url, `SELECT column_name AS c FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`)).map((r) => r.c);

/**
 * A copy of an image directory in a temp dir (same base name), with `files` (paths relative to the
 * image → new content) written over it: e.g. a versions/*.py whose downgrade raises.
 */
export function imageWith(imageDir: string, files: Record<string, string>, prefix = 'hsr-image-'): string {
  const dir = join(makeTempDir(prefix), basename(imageDir));
  cpSync(imageDir, dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

/**
 * A copy of an image in which `statement` of `file` (a line of its downgrade) is followed by raising
 * `message`: a release that shipped a downgrade which fails half-way, after a destructive statement.
 */
export function imageWithFailingDowngrade(imageDir: string, file: string, statement: string, message: string): string {
  const good = readFileSync(join(imageDir, file), 'utf8');
  const line = `    ${statement}\n`;
  assert.ok(good.includes(line), `${file} no longer runs ${statement} as this test expects`);
  return imageWith(imageDir, { [file]: good.replace(line, `${line}    raise RuntimeError(${JSON.stringify(message)})\n`) }, 'hsr-image-broken-');
}
