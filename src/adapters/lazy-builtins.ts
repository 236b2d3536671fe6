/**
 * Node built-ins loaded at their first use, not when an adapter module loads (issue 12: status's
 * start-up). node:crypto is a few milliseconds to load, and the adapters that hash a cache key or
 * name a temporary file are loaded by every command, most of which never call them before the
 * PostgreSQL driver (which needs node:crypto anyway) has loaded it while the first reads were in
 * flight. node:https and node:child_process likewise for the Kubernetes API client.
 */
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

export const crypto = (): typeof import('node:crypto') => requireBuiltin('node:crypto') as typeof import('node:crypto');
export const https = (): typeof import('node:https') => requireBuiltin('node:https') as typeof import('node:https');
export const childProcess = (): typeof import('node:child_process') => requireBuiltin('node:child_process') as typeof import('node:child_process');

/** The SHA-256 of `data`, in hex (cache file names, digests). */
export const sha256Hex = (data: string | Buffer): string => crypto().createHash('sha256').update(data).digest('hex');

/** `bytes` random bytes in hex (temporary file names). */
export const randomHex = (bytes: number): string => crypto().randomBytes(bytes).toString('hex');
