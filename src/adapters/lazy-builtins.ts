/**
 * Node built-ins loaded at their first use, not when an adapter module loads (issue 12: status's
 * start-up). node:crypto is a few milliseconds to load, and the adapters that hash a cache key or
 * name a temporary file are loaded by every command, most of which never call them before the
 * PostgreSQL driver (which needs node:crypto anyway) has loaded it while the first reads were in
 * flight. node:https and node:child_process likewise for the Kubernetes API client.
 *
 * Loaded with require, never import(): the binary runs the bundle through vm.Script (its trained code
 * cache, scripts/sea-main.cjs), where import() needs Node's experimental default loader; a built-in
 * imported that way printed an ExperimentalWarning on the terminal at the confirmation question and
 * the question never took an answer. scripts/build.mjs refuses a bundle with an import() left in it.
 */
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

export const crypto = (): typeof import('node:crypto') => requireBuiltin('node:crypto') as typeof import('node:crypto');
export const https = (): typeof import('node:https') => requireBuiltin('node:https') as typeof import('node:https');
export const childProcess = (): typeof import('node:child_process') => requireBuiltin('node:child_process') as typeof import('node:child_process');
export const http = (): typeof import('node:http') => requireBuiltin('node:http') as typeof import('node:http');
export const readlinePromises = (): typeof import('node:readline/promises') => requireBuiltin('node:readline/promises') as typeof import('node:readline/promises');

/** The SHA-256 of `data`, in hex (cache file names, digests). */
export const sha256Hex = (data: string | Buffer): string => crypto().createHash('sha256').update(data).digest('hex');

/** `bytes` random bytes in hex (temporary file names). */
export const randomHex = (bytes: number): string => crypto().randomBytes(bytes).toString('hex');
