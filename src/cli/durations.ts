/**
 * Durations on the command line, written as Helm's own --timeout is (Go's time.ParseDuration):
 * "500ms", "2s", "1.5s", "1m30s", "1h"; "0" alone needs no unit. Bad input is a UsageError naming
 * the flag and the forms it takes.
 */
import { UsageError } from '../core/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** The most a PostgreSQL timeout setting takes (INT_MAX milliseconds, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Milliseconds, rounded to a whole one; throws UsageError for anything else than a Go-style duration. */
export function parseDuration(text: string, flag: string, maxMs = MAX_TIMEOUT_MS): number {
  const given = text.trim();
  const bad = (why: string) =>
    new UsageError(`${flag} ${JSON.stringify(text)} ${why}`, { hint: `give a duration with its unit, as helm's --timeout: 500ms, 2s, 1m30s (0 turns it off)` });
  if (given === '0') return 0;
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(given)) {
    throw bad(/^[0-9.]+$/.test(given) ? 'has no unit' : 'is not a duration');
  }
  let ms = 0;
  for (const [, amount, , unit] of given.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h)/g)) ms += Number(amount) * UNIT_MS[unit!]!;
  const rounded = Math.round(ms);
  if (rounded === 0 && ms > 0) throw bad('is shorter than a millisecond');
  if (rounded > maxMs) throw bad(`is longer than PostgreSQL takes (${maxMs} ms)`);
  return rounded;
}

/** A count of retries: a whole number from 0 to `max`. */
export function parseCount(text: string, flag: string, max: number): number {
  const given = text.trim();
  if (!/^[0-9]+$/.test(given) || Number(given) > max) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not a whole number from 0 to ${max}`, { hint: `give how many times, e.g. ${flag} 8 (0: never)` });
  }
  return Number(given);
}
