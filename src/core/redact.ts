/**
 * What the plugin prints must never hold a secret: the database URL's password, a value read from a
 * Kubernetes Secret, or the value of a helm --set* flag. One Redactor per run collects the secret
 * values the plugin comes across (adapters add them as they read them) and masks them, together
 * with anything shaped like a credential (postgres://user:PASSWORD@host, password=...), in every
 * line that leaves the plugin: logs, errors, the plan in each format, and the streamed output of
 * helm, kubectl and Jobs. Pure text functions: no I/O.
 */

export const MASK = '***';

/** Anything that learns secret values as it reads them (the kubectl adapter, the database connector). */
export interface SecretSink {
  /** A secret value; when it is a URL with a password, the password alone (decoded and encoded) is a secret too. */
  add(value: string): void;
}

/**
 * Values shorter than this are not masked as free text: "1", "true" or "app" would turn every
 * occurrence in a message into ***. URL passwords are masked by their position whatever their length.
 */
const MIN_SECRET_LENGTH = 4;

// scheme://user:PASSWORD@ — greedy up to the last @ before the host, as URL parsers take it (an
// unencoded @ in a password); quotes end it, so a JSON or YAML line cannot run into the next value.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*:)([^\s/"'<>]*)@/gi;
// libpq keyword/value strings (password=x), YAML and logs (password: x), env (PGPASSWORD=x).
// A JSON key's closing quote may come between the name and the colon ("password": "x").
const PASSWORD_ASSIGNMENT = /\b([\w.-]*pass(?:word|wd))(["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"'}]+)/gi;

export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, (_m, head: string, password: string) => (password === '' ? `${head}@` : `${head}${MASK}@`));
}

export class Redactor implements SecretSink {
  private readonly secrets = new Set<string>();
  /** Longest first, so a URL is masked whole before its password inside it. */
  private ordered: string[] = [];

  add(value: string): void {
    for (const v of [value, ...urlPasswords(value)]) {
      if (v.length < MIN_SECRET_LENGTH || this.secrets.has(v)) continue;
      this.secrets.add(v);
      this.ordered = [...this.secrets].sort((a, b) => b.length - a.length);
    }
  }

  /** The text with every known secret, URL password and password assignment replaced by ***. */
  redact(text: string): string {
    let out = text;
    for (const secret of this.ordered) if (out.includes(secret)) out = out.split(secret).join(MASK);
    return maskUrlPasswords(out).replace(PASSWORD_ASSIGNMENT, (m, key: string, sep: string, value: string) => {
      if (value === MASK) return m;
      const quote = /^["']/.test(value) ? value[0]! : '';
      return `${key}${sep}${quote}${MASK}${quote}`;
    });
  }
}

/** The password of a URL with one, as written and percent-decoded (the two forms output may show it in). */
function urlPasswords(value: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return [];
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    const m = new RegExp(URL_PASSWORD.source, 'i').exec(value);
    return m?.[2] ? [m[2]] : [];
  }
  if (!parsed.password) return [];
  const forms = [parsed.password];
  try {
    forms.push(decodeURIComponent(parsed.password));
  } catch {
    // A malformed escape: the password as written is all there is.
  }
  return forms;
}

/** helm's value-setting flags: their keys say what was set and stay; their values are masked. */
const VALUE_FLAGS = new Set(['--set', '--set-string', '--set-file', '--set-json', '--set-literal']);
/** Flags whose whole value is a credential. */
const SECRET_FLAGS = new Set(['--token', '--password', '--kube-token', '--client-key-data', '--username', '--database-url']);

/**
 * "a=1,b.c=x" → "a=***,b.c=***". A piece without "=" is the rest of a value with an escaped comma
 * (a=x\,y): masked too.
 */
const maskAssignments = (text: string): string => text.split(',').map((kv) => (kv.includes('=') ? `${kv.slice(0, kv.indexOf('='))}=${MASK}` : MASK)).join(',');
/** One key and everything after its "=": --set-literal's value and --set-json's JSON may hold commas. */
const maskWhole = (kv: string): string => (kv.includes('=') ? `${kv.slice(0, kv.indexOf('='))}=${MASK}` : MASK);
/** Flags whose value after the first "=" is masked whole. */
const WHOLE_VALUE_FLAGS = new Set(['--set-literal', '--set-json']);

/** argv with the values of credential flags and of helm's --set* flags replaced by ***, for logs, messages and the plan. */
export function maskArgv(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : '';
    if (SECRET_FLAGS.has(flag)) return `${flag}=${MASK}`;
    if (VALUE_FLAGS.has(flag)) return `${flag}=${WHOLE_VALUE_FLAGS.has(flag) ? maskWhole(arg.slice(eq + 1)) : maskAssignments(arg.slice(eq + 1))}`;
    const previous = i > 0 ? argv[i - 1]! : '';
    if (VALUE_FLAGS.has(previous)) return WHOLE_VALUE_FLAGS.has(previous) ? maskWhole(arg) : maskAssignments(arg);
    return SECRET_FLAGS.has(previous) ? MASK : arg;
  });
}

/**
 * The values the user's --set* flags give, for the Redactor: helm's own output (its --debug
 * USER-SUPPLIED VALUES, its errors) repeats them. Only values under keys that name a credential
 * (password, token, url, ...): masking every value would also mask "0.8.0" or "true" in every line.
 */
export function secretFlagValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  const secretKey = /pass|secret|token|key|cred|auth|url|dsn|conn/i;
  argv.forEach((arg, i) => {
    const eq = arg.indexOf('=');
    const flag = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : '';
    const body = VALUE_FLAGS.has(flag) ? arg.slice(eq + 1) : i > 0 && VALUE_FLAGS.has(argv[i - 1]!) ? arg : undefined;
    if (body === undefined || flag === '--set-file' || argv[i - 1] === '--set-file') return;
    const pairs = WHOLE_VALUE_FLAGS.has(flag) || WHOLE_VALUE_FLAGS.has(argv[i - 1] ?? '') ? [body] : body.split(',');
    for (const kv of pairs) {
      const at = kv.indexOf('=');
      if (at > 0 && secretKey.test(kv.slice(0, at))) out.push(kv.slice(at + 1));
    }
  });
  return out;
}

/** Longest run of non-blank characters a message echoes whole; a 100k-character input is cut to this. */
const MAX_RUN = 200;
/** Longest line a message echoes whole. */
const MAX_LINE = 2000;

/**
 * A message made safe for a terminal and readable: control characters (ANSI escapes, carriage
 * returns, C1 codes) from user input, annotations or a cluster are shown escaped (\x1b) instead of
 * acting on the terminal, and very long values are cut, saying how much was left out. Newlines and
 * tabs stay: messages span lines.
 */
export function printable(text: string): string {
  const escaped = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped
    .split('\n')
    .map((line) => {
      const cut = line.replace(new RegExp(`\\S{${MAX_RUN + 1},}`, 'g'), (run) => `${run.slice(0, MAX_RUN)}…(${run.length - MAX_RUN} more characters)`);
      return cut.length > MAX_LINE ? `${cut.slice(0, MAX_LINE)}…(${cut.length - MAX_LINE} more characters)` : cut;
    })
    .join('\n');
}
