/**
 * The one place the plugin starts helm and kubectl. Every call is logged under --debug as argv
 * only (flags that carry credentials are masked); output is never logged, because `kubectl get
 * secret` prints secret data.
 */
import { createInterface } from 'node:readline';
import type { Log } from '../core/ports.js';
import { maskArgv } from '../core/redact.js';

/** Masks credential flags and helm's --set* values; one definition for every output (src/core/redact.ts). */
export { maskArgv };

/**
 * Children run in their own process group (POSIX): a Ctrl-C at the terminal goes to the whole
 * foreground group, and must reach only the plugin, which decides what to stop. Otherwise it would
 * cut `helm upgrade` mid-way (a release stuck in pending-upgrade), or the `kubectl port-forward` a
 * down is running through. Detached children outlive the plugin unless stopped, so every live one
 * is killed when the plugin's process exits.
 */
const DETACHED = process.platform !== 'win32';
const live = new Set<{ kill(signal?: NodeJS.Signals): boolean }>();
let exitHook = false;

function track<T extends PromiseLike<unknown> & { kill(signal?: NodeJS.Signals): boolean }>(child: T): T {
  live.add(child);
  child.then(() => live.delete(child), () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGTERM');
    });
  }
  return child;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  /** The command could not start at all (ENOENT, EACCES). */
  spawnError?: string;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  log: Log;
  input?: string;
  timeoutMs?: number;
}

export async function runCommand(bin: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> {
  const { execa } = await import('execa');
  opts.log.debug(`exec: ${maskArgv([bin, ...args]).join(' ')}`);
  const result = await track(execa(bin, [...args], {
    env: opts.env,
    extendEnv: false,
    reject: false,
    input: opts.input,
    timeout: opts.timeoutMs,
    stripFinalNewline: false,
    detached: DETACHED,
  }));
  const spawnError = result.failed && result.exitCode === undefined ? result.shortMessage : undefined;
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode, spawnError };
}

export interface StreamOptions extends RunOptions {
  /** Called once per output line, as the lines arrive. */
  onLine(line: string): void;
  /** Which output feeds onLine; both are kept in the result either way. */
  from: 'stdout' | 'all';
  /** Stops the command; the result then says isCanceled and no error is implied. */
  signal?: AbortSignal;
}

/**
 * runCommand for long commands whose output people watch (`helm upgrade`, `kubectl logs -f`).
 * Logged like runCommand: argv only, never the output.
 */
export async function streamCommand(bin: string, args: readonly string[], opts: StreamOptions): Promise<CommandResult & { canceled: boolean }> {
  const { execa } = await import('execa');
  opts.log.debug(`exec: ${maskArgv([bin, ...args]).join(' ')}`);
  const child = execa(bin, [...args], {
    env: opts.env,
    extendEnv: false,
    reject: false,
    all: true,
    // Input (kubectl exec -i): secrets such as URLs go on stdin, never in an argv ps shows.
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    cancelSignal: opts.signal,
    timeout: opts.timeoutMs,
    detached: DETACHED,
  });
  track(child);
  try {
    for await (const line of child.iterable({ from: opts.from })) opts.onLine(String(line));
  } catch {
    // The command failed or was cancelled: the awaited result below says how.
  }
  const result = await child;
  const spawnError = result.failed && result.exitCode === undefined && !result.isCanceled ? result.shortMessage : undefined;
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode, spawnError, canceled: result.isCanceled };
}

export interface BackgroundOptions {
  env: NodeJS.ProcessEnv;
  log: Log;
  /** Called once per line of stdout / stderr, as the lines arrive. Never logged. */
  onStdout(line: string): void;
  onStderr(line: string): void;
}

export interface BackgroundCommand {
  /** Resolves once the command has ended, however it ended; never rejects. */
  readonly ended: Promise<{ exitCode: number | undefined; signal: string | undefined; spawnError?: string }>;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and waits until it has ended. */
  stop(): Promise<void>;
}

/**
 * A command that runs beside the plugin until stopped, such as `kubectl port-forward`. Logged like
 * runCommand (argv only); its output goes to the callbacks only. It dies with the plugin's process.
 */
export async function startCommand(bin: string, args: readonly string[], opts: BackgroundOptions): Promise<BackgroundCommand> {
  const { execa } = await import('execa');
  opts.log.debug(`exec: ${maskArgv([bin, ...args]).join(' ')}`);
  const controller = new AbortController();
  const child = execa(bin, [...args], {
    env: opts.env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    buffer: false,
    cancelSignal: controller.signal,
    forceKillAfterDelay: 2000,
    detached: DETACHED,
  });
  track(child);
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => opts.onStdout(line));
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => opts.onStderr(line));
  const ended = child.then((r) => ({
    exitCode: r.exitCode,
    signal: r.signal,
    spawnError: r.failed && r.exitCode === undefined && r.signal === undefined && !r.isCanceled ? r.shortMessage : undefined,
  }));
  return {
    ended,
    async stop() {
      controller.abort();
      await ended;
    },
  };
}
