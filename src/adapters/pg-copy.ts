/**
 * The rehearsal's copy (src/core/rehearsal.ts): PostgreSQL's own pg_dump | pg_restore, run where the
 * plugin runs (first on PATH), or in the database's own pod through `kubectl exec -i` (its pg_dump
 * is the server's major). pg_dump reads servers of its own major or older; the core refuses
 * otherwise. The passwords never reach an argv (where `ps` shows them): each program gets its URL
 * without the password, and the password in PGPASSWORD; in the pod, the URLs and passwords come on
 * stdin, not in kubectl's argv (which the API server's audit log keeps).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ExitCode, RollbackError } from '../core/errors.js';
import type { DatabaseCopyPort } from '../core/rehearsal.js';
import { ARCHIVE_SCHEMA } from '../core/data-at-risk.js';
import type { DatabasePodPort } from '../core/snapshot.js';
import { IDENTITY_SQL } from '../core/rehearsal.js';
import { runCommand } from './command.js';
import { splitPassword } from '../core/database-url.js';
import type { Log } from '../core/ports.js';


export function createPgCopy(opts: { env: NodeJS.ProcessEnv; log: Log; bin?: { dump: string; restore: string } }): DatabaseCopyPort {
  const dump = opts.bin?.dump ?? 'pg_dump';
  const restore = opts.bin?.restore ?? 'pg_restore';
  return {
    where: 'where the plugin runs',
    async client() {
      const r = await runCommand(dump, ['--version'], { env: opts.env, log: opts.log });
      const version = r.stdout.trim().split('\n')[0] ?? '';
      const major = pgDumpMajor(version);
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

/** "pg_dump (PostgreSQL) 17.2 (Debian 17.2-1)" -> 17; NaN for anything else. */
function pgDumpMajor(line: string): number {
  return /^pg_dump \(PostgreSQL\)/.test(line) ? Number(/\)\s+(\d+)/.exec(line)?.[1]) : NaN;
}

/**
 * The POSIX sh script of the copy in the pod. stdin: the live URL and its password, the dev URL and
 * its password, and the dev database's identity as the plugin reached it (IDENTITY_SQL). The dev
 * URL is checked from the pod first: the pod resolves names its own way (localhost there is the
 * database's own server), and a URL that reaches another database than the plugin's is never
 * written to. POSIX sh has no pipefail: pg_dump's status comes back through fd 3.
 */
export function podCopyScript(): string {
  return [
    'IFS= read -r from; IFS= read -r from_pw; IFS= read -r to; IFS= read -r to_pw; IFS= read -r want',
    `got=$(PGPASSWORD="$to_pw" psql -X -A -t -q --dbname="$to" -c "${IDENTITY_SQL}") || { echo "the dev database cannot be reached from this pod" >&2; exit 3; }`,
    'if [ "$got" != "$want" ]; then echo "the dev URL reaches another database from this pod ($got) than from the plugin ($want)" >&2; exit 4; fi',
    'exec 4>&1',
    `dump=$( { { PGPASSWORD="$from_pw" pg_dump --format=custom --no-owner --no-privileges --exclude-schema=${ARCHIVE_SCHEMA} --dbname="$from"; echo $? >&3; } | PGPASSWORD="$to_pw" pg_restore --no-owner --no-privileges --exit-on-error --dbname="$to" >&4; } 3>&1 ); restore=$?`,
    'if [ "$dump" != 0 ] || [ "$restore" != 0 ]; then echo "pg_dump exited $dump, pg_restore exited $restore" >&2; exit 1; fi',
  ].join('\n');
}

/** pg_dump | pg_restore in the database's pod (kubectl exec -i, src/adapters/db-pod.ts). */
export function createPodCopy(dbPod: DatabasePodPort, pod: string, container: string | undefined): DatabaseCopyPort {
  return {
    where: `in pod ${pod}`,
    async client() {
      const lines: string[] = [];
      const code = await dbPod.runScript(pod, container, 'pg_dump --version && pg_restore --version && psql --version', '', (l) => lines.push(l));
      const version = lines.find((l) => !Number.isNaN(pgDumpMajor(l)));
      if (code !== 0 || version === undefined) return { missing: `pg_dump, pg_restore and psql did not all answer there: ${lines.slice(-2).join(' | ') || `exit ${code}`}` };
      return { major: pgDumpMajor(version), version };
    },
    async copy(from, to, onLine, devIdentity) {
      const src = splitPassword(from);
      const dst = splitPassword(to);
      const said: string[] = [];
      const input = [src.url, src.password ?? '', dst.url, dst.password ?? '', devIdentity].join('\n') + '\n';
      const code = await dbPod.runScript(pod, container, podCopyScript(), input, (line) => {
        said.push(line);
        onLine(`pod ${pod}: ${line}`);
      });
      if (code === 0) return;
      const last = said.slice(-3).join(' | ') || 'no output';
      throw code === 3 || code === 4
        ? new RollbackError(ExitCode.refused, `the rehearsal's copy in pod ${pod} refused the dev database: ${last}`, {
          hint: 'give --dev-url a host both the plugin and the database\'s pod reach as the same server (a DNS name or address, not localhost or a port-forward), or copy where the plugin runs with --rehearse-copy local; nothing was written',
        })
        : new RollbackError(ExitCode.commandFailed, `the rehearsal's copy in pod ${pod} failed (exit ${code}): ${last}`, {
          hint: 'fix what pg_dump or pg_restore says (privileges, room on the dev server), then run again with --dev-reset; nothing changed on the live database',
        });
    },
  };
}
