/**
 * Usage checks that run after yargs has parsed and BEFORE any command acts: a typo, an empty value
 * or a name Helm would never accept must cost the operator nothing (no helm, kubectl or database
 * call). yargs validates types, choices, unknown flags and positionals; this adds what it cannot
 * know (empty values, flags given twice, release and namespace names as Helm checks them, chart
 * versions) and the "did you mean" suggestions yargs gives only for commands.
 */
import { valid as semverValid, coerce as semverCoerce, validRange } from 'semver';
import { UsageError } from '../core/errors.js';

/** Options that may be given several times (yargs collects them into an array). */
const REPEATABLE = new Set(['stop', 'migrations']);

/** Helm's release name rule (pkg/chartutil ValidateReleaseName): DNS-1123 subdomain, at most 53 characters. */
const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RELEASE_NAME_MAX = 53;
/** Kubernetes namespace names: DNS-1123 label, at most 63 characters. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAMESPACE_NAME_MAX = 63;

/** Each command's positional argument, for "missing RELEASE". */
const POSITIONAL_USAGE: Record<string, string> = {
  rollback: 'rollback RELEASE --to CHART_VERSION (or just: RELEASE --to CHART_VERSION)',
  status: 'status RELEASE',
  snapshot: 'snapshot RELEASE',
  capture: 'capture RELEASE --source DIR|FILE.tar.gz|URL',
  annotate: 'annotate CHART_DIR --migrations DIR',
  verify: 'verify CHART_DIR',
  revisions: 'revisions REPO/CHART',
  completion: 'completion SHELL (bash, zsh or fish)',
};

/** Positionals with choices, named as their usage line names them (yargs names them like flags). */
const POSITIONAL_NAMES: Record<string, string> = { shell: 'SHELL' };

/** Flags of other tools an operator types by habit, and the flag meant here. */
const HABITS: Record<string, string> = { version: 'to' };

/** The plugin's commands. */
const COMMANDS = ['rollback', 'status', 'snapshot', 'capture', 'annotate', 'verify', 'revisions', 'completion'] as const;
/** Words of the plugin's command line that a release named like them would shadow: its commands, and words of other tools' CLIs. */
export const COMMAND_NAMES = [...COMMANDS, 'help', 'version'] as const;

/**
 * A value as it may be echoed in a message, quoted and cut short: a pasted 100 kB value is named,
 * not repeated. (Control characters are escaped where every message is written: printable().)
 */
export function quoteInput(value: string, max = 80): string {
  return `"${value.length > max ? `${value.slice(0, max)}… (${value.length} characters)` : value}"`;
}

/** Checks every parsed option of a command; throws the first problem as a UsageError. */
export function checkParsedFlags(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || key === '--' || /[A-Z]/.test(key)) continue; // camelCase copies of kebab keys
    const flag = `--${key}`;
    if (Array.isArray(value) && !REPEATABLE.has(key)) {
      throw new UsageError(`${flag} was given ${value.length} times: ${value.map((v) => quoteInput(String(v))).join(', ')}`, {
        hint: `give ${flag} once`,
      });
    }
    for (const v of [value].flat()) {
      if (typeof v === 'string' && v.trim() === '') {
        throw new UsageError(`${flag} needs a value, and it was given an empty one`, { hint: `give ${flag} VALUE, or leave the flag out` });
      }
    }
  }
}

export function checkReleaseName(release: string): void {
  if (release.length > RELEASE_NAME_MAX || !RELEASE_NAME.test(release)) {
    throw new UsageError(`${quoteInput(release)} is not a Helm release name`, {
      hint: `release names are lower-case letters, digits, "-" and "." (at most ${RELEASE_NAME_MAX} characters), as "helm list" shows them`,
    });
  }
}

export function checkNamespace(namespace: string | undefined): void {
  if (namespace === undefined) return;
  if (namespace.length > NAMESPACE_NAME_MAX || !NAMESPACE_NAME.test(namespace)) {
    throw new UsageError(`${quoteInput(namespace)} is not a Kubernetes namespace name`, {
      hint: `namespaces are lower-case letters, digits and "-" (at most ${NAMESPACE_NAME_MAX} characters), as "kubectl get namespaces" shows them`,
    });
  }
}

/** A Kubernetes object name (DNS-1123 subdomain), for flags naming one: an Argo CD Application. */
export function checkObjectName(flag: string, name: string | undefined): void {
  // Empty: checkParsedFlags says "needs a value", as for every flag.
  if (name === undefined || name.trim() === '') return;
  if (name.length > 253 || !RELEASE_NAME.test(name)) {
    throw new UsageError(`${flag} ${quoteInput(name)} is not a Kubernetes object name`, {
      hint: `object names are lower-case letters, digits, "-" and "." (at most 253 characters), as "kubectl get ${flag === '--argocd-app' ? 'applications -n argocd' : '...'}" shows them`,
    });
  }
}

/**
 * The default command takes its first word as the release: a mistyped command ("stauts foo") or a
 * command the plugin does not have ("help") would be looked up as a release. Such a word is a
 * usage error unless the user says `rollback NAME` explicitly.
 */
export function checkNotACommand(release: string, explicitRollback: boolean): void {
  if (explicitRollback) return;
  const near = closest(release, COMMAND_NAMES);
  if (near === undefined) return;
  const meant = near === release ? `"${release}" is a command word, not a release` : `"${release}" looks like the command "${near}"`;
  throw new UsageError(`${meant}${(COMMANDS as readonly string[]).includes(near) ? '' : ` (this plugin has no "${near}" command)`}`, {
    hint: `commands: ${COMMANDS.join(', ')} (helm schema-rollback --help); for a release really named "${release}", say "helm schema-rollback rollback ${release} --to VERSION"`,
  });
}

/** A chart version to roll back to: Helm charts carry SemVer 2 versions, and --to names one, not a range. */
export function checkChartVersion(flag: string, version: string): void {
  if (semverValid(version)) return;
  const coerced = semverCoerce(version)?.version;
  throw new UsageError(`${flag} ${quoteInput(version)} is not a chart version (SemVer, e.g. 0.8.0)`, {
    hint: `${coerced ? `did you mean ${flag} ${coerced}? ` : ''}"helm schema-rollback revisions REPO/CHART" lists the published versions`,
  });
}

export function checkVersionRange(flag: string, range: string): void {
  if (validRange(range) === null) {
    throw new UsageError(`${flag} ${quoteInput(range)} is not a semver range`, { hint: 'e.g. "0.8.x" or ">=0.5.0 <1.0.0"' });
  }
}

/**
 * yargs says "Unknown argument: dryrun"; add the flag the user most likely meant. Bare words
 * (an extra positional) are named as such.
 */
export function explainUnknownArguments(message: string, knownOptions: readonly string[], argv: readonly string[]): { message: string; hint: string } | undefined {
  const match = /^Unknown arguments?: (.*)$/s.exec(message);
  if (!match) return undefined;
  const unknown = match[1]!.split(', ');
  const flags = knownOptions.filter((k) => !/[A-Z]/.test(k) && k.length > 1);
  const typed = (name: string) => argv.some((t) => t === `--${name}` || t.startsWith(`--${name}=`) || t === `-${name}`);
  const hints = unknown.flatMap((name) => {
    if (!typed(name)) return [];
    const habit = HABITS[name];
    if (habit && flags.includes(habit)) return [`did you mean --${habit}? (helm upgrade's --${name} is --${habit} here)`];
    const near = closest(name, flags);
    return near ? [`did you mean --${near}?`] : [];
  });
  const what = unknown.map((name) => (typed(name) ? `unknown flag ${quoteInput(`--${name}`).slice(1, -1)}` : `unexpected argument ${quoteInput(name)}`));
  return {
    message: what.join('; '),
    hint: [...new Set(hints)].join(' ') || 'run the command with --help for its arguments and flags',
  };
}

/** yargs's other messages, said with the flag as the user types it, and the fix. */
export function explainYargsMessage(message: string, firstWord: string | undefined): { message: string; hint: string } | undefined {
  const invalid = /^Invalid values:\s*Argument: ([^,]+), Given: (.*), Choices: (.*)$/s.exec(message.trim());
  if (invalid) {
    const [, name, given, choices] = invalid as unknown as [string, string, string, string];
    const options = choices.split(', ').map((c) => c.replace(/^"|"$/g, ''));
    const near = closest(given.replace(/^"|"$/g, ''), options);
    const positional = POSITIONAL_NAMES[name];
    const what = positional ?? `--${name}`;
    // A positional's value goes where it was typed: "completion bash", not "--shell bash".
    const fix = (value: string) => (positional ? `helm schema-rollback ${firstWord ?? ''} ${value}` : `--${name} ${value}`);
    return {
      message: `${what} ${given.length > 80 ? `${given.slice(0, 80)}…` : given} is not one of: ${options.join(', ')}`,
      hint: near ? `did you mean ${fix(near)}?` : positional ? `give one of ${options.join(', ')}: ${fix(options[0]!)}` : `give --${name} one of ${options.join(', ')}`,
    };
  }
  // A custom demand message follows on the next line; the flags are on the first.
  const missing = /^Missing required arguments?: (.*)$/.exec(message.trim().split('\n')[0]!);
  if (missing) {
    const flags = missing[1]!.split(', ').map((m) => `--${m}`);
    return { message: `missing ${flags.join(', ')}`, hint: `give ${flags.map((f) => `${f} VALUE`).join(' ')} (see the command's --help)` };
  }
  if (/^Not enough non-option arguments/.test(message)) {
    const usage = POSITIONAL_USAGE[firstWord ?? ''] ?? POSITIONAL_USAGE['rollback']!;
    return { message: `missing ${usage.split(' ')[1]}`, hint: `helm schema-rollback ${usage}` };
  }
  return undefined;
}

/** The --long flags typed before "--" that the command does not know (--no-X counts as X). */
export function unknownLongFlags(argv: readonly string[], knownOptions: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const known = new Set([...knownOptions, 'help']);
  return (end === -1 ? argv : argv.slice(0, end))
    .filter((token) => /^--[^-]/.test(token))
    .map((token) => token.slice(2).split('=')[0]!)
    .filter((name) => !known.has(name) && !known.has(name.replace(/^no-/, '')));
}

/** The candidate within a small edit distance (1 for short words, 2 otherwise), or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const d = distance(w, name.toLowerCase());
    if (best === undefined || d < best.distance) best = { name, distance: d };
  }
  if (best === undefined) return undefined;
  const allowed = best.name.length <= 4 ? 1 : 2;
  return best.distance <= allowed ? best.name : undefined;
}

/** Damerau–Levenshtein (optimal string alignment): a swapped pair of letters counts one, as in "stauts". */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
