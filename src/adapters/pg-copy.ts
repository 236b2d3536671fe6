/**
 * The rehearsal's copy (src/core/rehearsal.ts): PostgreSQL's own pg_dump | pg_restore, run where the
 * plugin runs (first on PATH). pg_dump reads servers of its own major or older; the core refuses
 * otherwise. The URLs never reach argv (where `ps` shows them): each program gets its URL without
 * the password, and the password in PGPASSWORD.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ExitCode, RollbackError } from '../core/errors.js';
import type { DatabaseCopyPort } from '../core/rehearsal.js';
import { ARCHIVE_SCHEMA } from '../core/data-at-risk.js';
import { runCommand } from './command.js';
import type { Log } from '../core/ports.js';

/** The URL without its password, and the password apart (for PGPASSWORD). */
export function splitPassword(url: string): { url: string; password?: string } {
  const u = new URL(url);
  const password = u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? undefined);
  u.password = '';
  u.searchParams.delete('password');
  return { url: u.toString(), ...(password !== undefined ? { password } : {}) };
}

export function createPgCopy(opts: { env: NodeJS.ProcessEnv; log: Log; bin?: { dump: string; restore: string } }): DatabaseCopyPort {
  const dump = opts.bin?.dump ?? 'pg_dump';
  const restore = opts.bin?.restore ?? 'pg_restore';
  return {
    async client() {
      const r = await runCommand(dump, ['--version'], { env: opts.env, log: opts.log });
      const version = r.stdout.trim().split('\n')[0] ?? '';
      const major = Number(/\)\s+(\d+)/.exec(version)?.[1]);
      if (r.spawnError || r.exitCode !== 0 || !Number.isFinite(major)) return { missing: r.spawnError ?? `${dump} --version said ${JSON.stringify(version || r.stderr.trim())}` };
      const restored = await runCommand(restore, ['--version'], { env: opts.env, log: opts.log });
      if (restored.spawnError || restored.exitCode !== 0) return { missing: restored.spawnError ?? `${restore} --version exited ${restored.exitCode}` };
      return { major, version };
    },
    async copy(from, to, onLine) {
      const src = splitPassword(from);
      const dst = splitPassword(to);
      const envFor = (p?: string) => ({ ...opts.env, ...(p !== undefined ? { PGPASSWORD: p } : {}) });
      const dumper = spawn(dump, ['--format=custom', '--no-owner', '--no-privileges', `--exclude-schema=${ARCHIVE_SCHEMA}`, `--dbname=${src.url}`], { env: envFor(src.password), stdio: ['ignore', 'pipe', 'pipe'] });
      const restorer = spawn(restore, ['--no-owner', '--no-privileges', '--exit-on-error', `--dbname=${dst.url}`], { env: envFor(dst.password), stdio: ['pipe', 'pipe', 'pipe'] });
      dumper.stdout.pipe(restorer.stdin);
      const said: string[] = [];
      for (const [name, stream] of [[dump, dumper.stderr], [restore, restorer.stderr], [restore, restorer.stdout]] as const) {
        createInterface({ input: stream }).on('line', (line) => {
          said.push(`${name}: ${line}`);
          onLine(`${name}: ${line}`);
        });
      }
      const exit = (p: ReturnType<typeof spawn>) => new Promise<number>((resolve) => {
        p.on('error', () => resolve(127));
        p.on('close', (code) => resolve(code ?? 1));
      });
      const [dumped, restoredCode] = await Promise.all([exit(dumper), exit(restorer)]);
      if (dumped !== 0 || restoredCode !== 0) {
        throw new RollbackError(ExitCode.commandFailed, `the rehearsal's copy failed: pg_dump exited ${dumped}, pg_restore exited ${restoredCode}: ${said.slice(-3).join(' | ') || 'no output'}`, {
          hint: 'fix what pg_dump or pg_restore says (privileges, room on the dev server), then run again with --dev-reset; nothing changed on the live database',
        });
      }
    },
  };
}
