/**
 * PostgreSQL through node-postgres. Implements DatabaseConnector: parses and checks the URL, opens
 * one session (one pg.Client), and turns every connection failure into the core's errors. The
 * password never appears in an error, an error's cause chain, or the debug log: messages are built
 * from the URL's parts, and causes are sanitized copies of pg's errors.
 *
 * `pg` is imported lazily so that commands which never touch a database start fast.
 */
import type pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { TLS_SERVERNAME_PARAM } from '../core/database-route.js';
import { DatabaseAuthError, DatabaseUnreachableError, DatabaseUrlError, type RollbackError } from '../core/errors.js';
import type { DatabaseConnector, DatabaseSession, Log, QueryResult } from '../core/ports.js';

export interface PostgresConnectorOptions {
  /** Give up connecting after this long (TCP, TLS and authentication together). Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Sent as application_name, so DBAs see who holds a session or lock. Default "helm-schema-rollback". */
  applicationName?: string;
  /** --debug output. Receives redacted URLs only. */
  log?: Log;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const APPLICATION_NAME = 'helm-schema-rollback';

/** What the plugin knows about a database URL once it has checked it. Holds no password. */
export interface DatabaseTarget {
  host: string;
  port: number;
  user: string | undefined;
  database: string | undefined;
  /** "host:port", for messages. */
  address: string;
  /** The URL with its password replaced by "***". */
  redacted: string;
}

// ---------------------------------------------------------------------------------------------
// URLs

/** Schemes accepted: libpq's, plus the driver-qualified forms apps keep in their Secrets. */
const SCHEME = /^(?:postgres|postgresql)(?:\+[a-z0-9_]+)?:$|^pgx[45]?:$/i;
/** Query parameters that carry a secret, besides the userinfo's password. */
const SECRET_PARAMS = ['password', 'sslpassword'];

/**
 * The URL with every password replaced by "***": the userinfo's, and password= / sslpassword=
 * query parameters. Strings that do not parse as URLs are redacted by pattern, and strings without
 * "://" are replaced whole.
 */
export function redactUrl(url: string): string {
  const text = url.trim();
  let parsed: URL | undefined;
  try {
    parsed = new URL(text);
  } catch {
    parsed = undefined;
  }
  // A parse without a host ("user:pw@host/db" reads as scheme "user:") is not trusted either.
  if (parsed !== undefined && parsed.host !== '') {
    if (parsed.password !== '') parsed.password = '***';
    for (const key of SECRET_PARAMS) {
      if (parsed.searchParams.has(key)) parsed.searchParams.set(key, '***');
    }
    // A fragment means nothing to PostgreSQL; it is where an unencoded "#" in a password lands.
    parsed.hash = '';
    return parsed.href;
  }
  return redactByPattern(text);
}

/**
 * Conservative redaction of text that is not a well-formed URL: everything between the first ":"
 * of the userinfo and the last "@" goes. Text without "://" is not shown at all: it may be a bare
 * password read from the wrong key of a Secret.
 */
function redactByPattern(text: string): string {
  const scheme = text.indexOf('://');
  if (scheme < 0) return NOT_A_URL;
  let out = text;
  const at = out.lastIndexOf('@');
  const colon = out.indexOf(':', scheme + 3);
  if (at > scheme && colon >= 0 && colon < at) out = `${out.slice(0, colon + 1)}***${out.slice(at)}`;
  return out.replace(/\b((?:ssl)?password)=[^&\s]*/gi, '$1=***');
}

const NOT_A_URL = '(a value that is not a URL)';

/**
 * Checks a database URL and returns its parts. Throws DatabaseUrlError (which never repeats the
 * URL's password) when it is malformed.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const text = url.trim();
  if (text === '') throw new DatabaseUrlError('the database URL is empty', { hint: urlHint });
  if (!text.includes('://')) {
    // Not echoed: it may be a bare password read from the wrong key of a Secret.
    throw new DatabaseUrlError('the database URL is not a URL (no "://")', {
      hint: `${urlHint}; if it comes from a Secret or an env var, check that the contract names the one holding the URL`,
    });
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    // Node's TypeError carries the whole input (password included): it is not kept as the cause.
    throw new DatabaseUrlError(`the database URL is malformed: ${redactUrl(text)}`, { hint: urlHint });
  }
  if (!SCHEME.test(parsed.protocol)) {
    throw new DatabaseUrlError(`the database URL has scheme "${parsed.protocol.replace(/:$/, '')}", not postgres:// or postgresql://`, {
      hint: urlHint,
    });
  }
  let user: string | undefined;
  let database: string | undefined;
  try {
    user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
    const path = parsed.pathname.replace(/^\//, '');
    database = path === '' ? undefined : decodeURIComponent(path);
  } catch {
    throw new DatabaseUrlError(`the database URL has malformed percent-encoding: ${redactUrl(text)}`, {
      hint: 'percent-encode special characters of the user, password and database name (e.g. "@" as %40, "/" as %2F)',
    });
  }
  const host = (parsed.searchParams.get('host') ?? parsed.hostname).replace(/^\[(.*)\]$/, '$1');
  if (host === '') {
    throw new DatabaseUrlError(`the database URL names no host: ${redactUrl(text)}`, { hint: urlHint });
  }
  const portText = parsed.searchParams.get('port') ?? parsed.port;
  const port = portText === '' ? 5432 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DatabaseUrlError(`the database URL has an invalid port "${portText}"`, { hint: urlHint });
  }
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, user, database, address, redacted: redactUrl(text) };
}

const urlHint = 'expected postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=...], with special characters percent-encoded';

// ---------------------------------------------------------------------------------------------
// SSL modes. libpq's semantics, which the apps' own drivers (libpq, lib/pq, psycopg) apply to the
// same URL: no sslmode means "prefer" (try TLS without verifying, fall back to plain text).

export type SslAttempt = 'plain' | 'tls-no-verify' | 'as-given';

export function sslAttempts(sslmode: string | undefined, host: string): SslAttempt[] {
  // "prefer" to a loopback address (a port-forward's end, a local server) starts in plain text and
  // turns to TLS only when the server refuses it (libpq's "allow"): node-pg cannot fall back on the
  // same socket as libpq does, so TLS first cost a second connection whenever the server has no TLS
  // (issue 12: ~3 ms of every status and plan), while TLS to a loopback address hides the bytes from
  // nobody (a port-forward's tunnel is the API server's TLS).
  if ((sslmode ?? 'prefer') === 'prefer' && LOOPBACK.test(host)) return ['plain', 'tls-no-verify'];
  switch (sslmode ?? 'prefer') {
    case 'disable':
      return ['plain'];
    case 'allow':
      return ['plain', 'tls-no-verify'];
    case 'prefer':
      return ['tls-no-verify', 'plain'];
    case 'require':
      return ['tls-no-verify'];
    default:
      // verify-ca, verify-full, no-verify, or something pg itself will judge.
      return ['as-given'];
  }
}

/** Whether the failure of one SSL attempt lets the next one be tried (libpq's allow/prefer fallback). */
function sslFallbackAllowed(attempt: SslAttempt, err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  if (attempt === 'tls-no-verify') return /does not support SSL/i.test(message);
  if (attempt === 'plain') return pgCode(err) === '28000' && /no encryption|SSL off/i.test(message);
  return false;
}

/**
 * pg's config for one attempt: the connection string parsed as pg would, plus the TLS servername a
 * port-forward's URL carries (TLS_SERVERNAME_PARAM): pg verifies the certificate against the host it
 * dials, 127.0.0.1 through a forward, unless ssl.servername names the real one.
 */
export function clientConfig(url: URL, attempt: SslAttempt, applicationName: string): pg.ClientConfig {
  const config = parseConnectionString(connectionStringFor(url, attempt, applicationName)) as pg.ClientConfig;
  const servername = url.searchParams.get(TLS_SERVERNAME_PARAM);
  if (servername && typeof config.ssl === 'object' && config.ssl !== null) config.ssl = { ...config.ssl, servername };
  return config;
}

/** The connection string handed to pg for one attempt: our application_name, libpq-compatible SSL, no golang-migrate x- options. */
function connectionStringFor(url: URL, attempt: SslAttempt, applicationName: string): string {
  const u = new URL(url.href);
  u.protocol = 'postgresql:';
  for (const key of [...u.searchParams.keys()]) {
    if (key.startsWith('x-')) u.searchParams.delete(key);
  }
  u.searchParams.set('application_name', applicationName);
  u.searchParams.set('uselibpqcompat', 'true');
  if (attempt === 'plain') u.searchParams.set('sslmode', 'disable');
  if (attempt === 'tls-no-verify') u.searchParams.set('sslmode', 'require');
  // lib/pq sends unknown URL parameters such as search_path to the server as run-time settings; pg
  // does not, so search_path is passed through `options` (it decides golang-migrate's current_schema()).
  const searchPath = u.searchParams.get('search_path');
  if (searchPath !== null) {
    u.searchParams.delete('search_path');
    const setting = `-c search_path=${searchPath.replace(/\\/g, '\\\\').replace(/ /g, '\\ ')}`;
    const options = u.searchParams.get('options');
    u.searchParams.set('options', options === null ? setting : `${options} ${setting}`);
  }
  return u.href;
}

// ---------------------------------------------------------------------------------------------
// Errors

function pgCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Network error codes found on the error, an AggregateError's members (happy eyeballs) or a cause. */
function networkCodes(err: unknown, depth = 0): string[] {
  if (typeof err !== 'object' || err === null || depth > 4) return [];
  const codes: string[] = [];
  const code = pgCode(err);
  if (code !== undefined) codes.push(code);
  if (err instanceof AggregateError) for (const e of err.errors) codes.push(...networkCodes(e, depth + 1));
  if (err instanceof Error && err.cause !== undefined) codes.push(...networkCodes(err.cause, depth + 1));
  return codes;
}

/** Replaces every occurrence of each secret in text. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/**
 * A copy of an error safe to keep as a cause: message, code and pg's detail/hint scrubbed of the
 * secrets, the cause chain copied the same way; nothing else (pg errors and Node's URL errors carry
 * fields that can hold the connection string).
 */
export function sanitizeError(err: unknown, secrets: readonly string[], depth = 0): Error {
  const source = err instanceof Error ? err : new Error(String(err));
  let message = source.message;
  // Node's happy-eyeballs AggregateError has an empty message; its members say what happened.
  if (message === '' && source instanceof AggregateError) {
    message = source.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  const cause = source.cause !== undefined && depth < 5 ? sanitizeError(source.cause, secrets, depth + 1) : undefined;
  const copy = new Error(scrub(message, secrets), cause === undefined ? undefined : { cause });
  copy.name = source.name;
  const fields = source as unknown as Record<string, unknown>;
  for (const field of ['code', 'detail', 'hint'] as const) {
    const value = fields[field];
    if (typeof value === 'string') Object.assign(copy, { [field]: scrub(value, secrets) });
  }
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'EADDRNOTAVAIL']);
const DNS_FAILURE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);
const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_(?:VERIFY|GET)|ERR_TLS/;

const LOOPBACK = /^(localhost|127(?:\.\d+){3}|::1)$/i;

function portForwardHint(target: DatabaseTarget): string {
  if (LOOPBACK.test(target.host)) {
    return `check that the kubectl port-forward to the database is running on local port ${target.port} (kubectl port-forward svc/SERVICE ${target.port}:5432)`;
  }
  return (
    'check the host and port in the database URL; an in-cluster address answers only inside the cluster: ' +
    `name its Service with --port-forward-target svc/SERVICE:${target.port} to reach it through kubectl port-forward`
  );
}

/** Maps a failed connect to the core's errors. Messages name host:port and the user, never the password. */
export function connectError(err: unknown, target: DatabaseTarget, timeoutMs: number, secrets: readonly string[]): RollbackError {
  const cause = sanitizeError(err, secrets);
  const message = cause.message;
  const code = pgCode(err);
  const codes = networkCodes(err);
  const who = target.user === undefined ? 'the default user' : `user "${target.user}"`;

  if (code === '28P01') {
    return new DatabaseAuthError(`${target.address} refused the password of ${who}`, {
      hint: 'check the password in the Secret the database URL comes from (or in the URL you passed)',
      cause,
    });
  }
  if (code === '28000') {
    return new DatabaseAuthError(`${target.address} refused ${who}: ${message}`, {
      hint: /no encryption/i.test(message)
        ? 'the server accepts this user only over TLS: add sslmode=require to the database URL'
        : 'check the user in the Secret the database URL comes from (or in the URL you passed)',
      cause,
    });
  }
  if (/client password must be a (non-empty )?string/i.test(message)) {
    return new DatabaseAuthError(`${target.address} asks ${who} for a password, and the database URL has none`, {
      hint: 'check the Secret the database URL comes from: the password may live in a separate key',
      cause,
    });
  }
  if (code === '3D000') {
    return new DatabaseUnreachableError(`database "${target.database ?? target.user ?? ''}" does not exist on ${target.address}`, {
      hint: 'check the database name (the path after HOST:PORT) in the database URL',
      cause,
      reason: 'no-database',
    });
  }
  if (codes.some((c) => DNS_FAILURE.has(c))) {
    return new DatabaseUnreachableError(`cannot resolve the database host "${target.host}" (${target.address})`, {
      hint: portForwardHint(target),
      cause,
      reason: 'dns',
    });
  }
  if (codes.includes('ECONNREFUSED')) {
    return new DatabaseUnreachableError(`nothing accepts connections at ${target.address} (connection refused)`, {
      hint: portForwardHint(target),
      cause,
      reason: 'refused',
    });
  }
  if (/timeout|timed out/i.test(message) || codes.includes('ETIMEDOUT')) {
    return new DatabaseUnreachableError(`no answer from ${target.address} within ${formatMs(timeoutMs)}`, {
      hint: portForwardHint(target),
      cause,
      reason: 'timeout',
    });
  }
  if (/does not support SSL/i.test(message)) {
    return new DatabaseUnreachableError(`${target.address} does not accept TLS, and the database URL requires it`, {
      hint: 'use sslmode=disable or sslmode=prefer in the database URL, or enable TLS on the server',
      cause,
      reason: 'tls',
    });
  }
  if (codes.some((c) => TLS_VERIFY.test(c))) {
    return new DatabaseUnreachableError(`the TLS certificate of ${target.address} was not accepted: ${message}`, {
      hint: 'give the CA with sslrootcert=FILE, or use sslmode=require (encrypts without verifying the certificate)',
      cause,
      reason: 'tls',
    });
  }
  if (codes.some((c) => NETWORK_UNREACHABLE.has(c))) {
    return new DatabaseUnreachableError(`cannot reach ${target.address}: ${message}`, { hint: portForwardHint(target), cause, reason: 'network' });
  }
  return new DatabaseUnreachableError(`cannot connect to ${target.address} as ${who}: ${message}`, { hint: portForwardHint(target), cause });
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The secrets to scrub from anything derived from this URL: the password, raw and percent-encoded. */
function secretsOf(url: URL): string[] {
  const values = [url.password, ...SECRET_PARAMS.map((k) => url.searchParams.get(k) ?? '')];
  const secrets = new Set<string>();
  for (const value of values) {
    if (value === '') continue;
    secrets.add(value);
    try {
      secrets.add(decodeURIComponent(value));
    } catch {
      // malformed encoding: the raw form is enough
    }
    secrets.add(encodeURIComponent(value));
  }
  // Very short "passwords" would turn every message into asterisks; they protect nothing anyway.
  return [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

// ---------------------------------------------------------------------------------------------
// The connector

type PgModule = typeof pg;
let pgModule: Promise<PgModule> | undefined;
function loadPg(): Promise<PgModule> {
  pgModule ??= import('pg').then((m) => ((m as { default?: PgModule }).default ?? (m as unknown as PgModule)));
  return pgModule;
}

export function createPostgresConnector(opts: PostgresConnectorOptions = {}): DatabaseConnector {
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const applicationName = opts.applicationName ?? APPLICATION_NAME;
  const log = opts.log;

  return {
    prepare() {
      // At the next turn of the event loop: the reads the caller has just started go out first.
      setImmediate(() => void loadPg().catch(() => undefined));
    },
    async connect(url: string): Promise<DatabaseSession> {
      const target = parseDatabaseUrl(url);
      const parsed = new URL(url.trim());
      const secrets = secretsOf(parsed);
      const { Client } = await loadPg();
      const attempts = sslAttempts(parsed.searchParams.get('sslmode') ?? process.env['PGSSLMODE'], target.host);

      let lastError: unknown;
      for (const [index, attempt] of attempts.entries()) {
        log?.debug(`postgres: connecting to ${target.redacted} (${attempt === 'as-given' ? 'sslmode as given' : attempt}, timeout ${formatMs(timeoutMs)})`);
        let client: pg.Client;
        try {
          client = new Client({ ...clientConfig(parsed, attempt, applicationName), connectionTimeoutMillis: timeoutMs });
        } catch (err) {
          // pg rejects some option combinations up front (e.g. sslmode=verify-ca without sslrootcert).
          const cause = sanitizeError(err, secrets);
          throw new DatabaseUrlError(`the database URL's options are not usable: ${cause.message}`, { hint: urlHint, cause });
        }
        // Errors after connect (server restart, terminated backend) arrive as events; without a
        // listener they would crash the process. The next query fails and reports them.
        let broken: unknown;
        client.on('error', (err) => {
          broken = err;
          log?.debug(`postgres: session to ${target.address} failed: ${sanitizeError(err, secrets).message}`);
        });
        try {
          await client.connect();
        } catch (err) {
          lastError = err;
          await client.end().catch(() => undefined);
          if (index < attempts.length - 1 && sslFallbackAllowed(attempt, err)) {
            log?.debug(`postgres: ${sanitizeError(err, secrets).message}; trying ${attempts[index + 1]}`);
            continue;
          }
          break;
        }
        log?.debug(`postgres: connected to ${target.address}${target.database === undefined ? '' : `/${target.database}`}`);
        return makeSession(client, target, secrets, () => broken);
      }
      throw connectError(lastError, target, timeoutMs, secrets);
    },
  };
}

function makeSession(client: pg.Client, target: DatabaseTarget, secrets: readonly string[], broken: () => unknown): DatabaseSession {
  let closed = false;
  return {
    async query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      try {
        const result: pg.QueryResult | pg.QueryResult[] = await client.query(text, params);
        if (Array.isArray(result)) {
          const last = result.at(-1);
          return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? null, rowCounts: result.map((r) => r.rowCount ?? null) };
        }
        return { rows: result.rows as R[], rowCount: result.rowCount };
      } catch (err) {
        // SQL errors (with a SQLSTATE) go to the caller as pg reports them: tools and core read
        // `code`. A lost connection becomes DatabaseUnreachableError: no SQLSTATE (the socket
        // closed), class 08 (connection exception) or 57P0x (the server is shutting down or
        // terminated this session).
        const state = pgCode(err) ?? '';
        if (/^[0-9A-Z]{5}$/.test(state) && !/^(08|57P0)/.test(state)) throw err;
        if (closed) throw new Error('query on a closed database session', { cause: sanitizeError(err, secrets) });
        const reason = broken() ?? err;
        throw new DatabaseUnreachableError(`lost the connection to ${target.address}: ${sanitizeError(reason, secrets).message}`, {
          hint: 'check that the database (or the kubectl port-forward) is still up, then run the command again',
          cause: sanitizeError(reason, secrets),
          reason: 'lost',
        });
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await client.end().catch(() => undefined);
    },
  };
}
