/**
 * How a rollback's steps are shown while they run, on stderr:
 *
 * - on a terminal, an ora spinner with the step's name and the seconds it has taken, ending in a
 *   ✔ or ✖ line with its duration; every other line (events, `  core | ...` from a tool,
 *   `  helm | ...`) is printed above the spinner;
 * - anywhere else (a CI log, `| tee`), plain lines: each step's start and end with a UTC timestamp
 *   in front, every other line as it was, and no control character at all.
 *
 * Colour only on a terminal, and never with NO_COLOR (any non-empty value), HELM_COLOR=never,
 * --no-color or --color never. Everything is written through the stream given (the run's
 * redacting stderr), the spinner's frames included, so a secret in a step's name is masked too.
 */
import { clearLine, cursorTo, moveCursor } from 'node:readline';
import ora, { type Ora } from 'ora';

export interface Progress {
  /** A step that can take a while has started. */
  start(step: string): void;
  /** It has ended; detail says what it found or left ("verified at 8"). */
  end(step: string, outcome: 'ok' | 'failed', detail?: string): void;
  /** Text of whole lines (each ending in \n): printed above the spinner, or as it is. */
  write(text: string): void;
  /** Stops a spinner still running (the run ends on an error) without a ✔ or ✖ line. */
  dispose(): void;
  /**
   * True when steps are shown live (a spinner): a line that only says a step started or ended
   * ("track core: golang-migrate down 13 -> 8", "track core: verified at 8") would repeat the
   * spinner and its ✔ line, and is left out.
   */
  readonly live: boolean;
}

export interface ProgressOptions {
  /** stderr is a terminal (and TERM is not "dumb"): the spinner. */
  terminal: boolean;
  colour: boolean;
  /** The clock, for tests. */
  now?: () => Date;
}

/** --color (never | auto | always; --no-color is never) as Helm 4 passes it on, or undefined. */
export type ColorFlag = 'never' | 'auto' | 'always';

/**
 * Spinner or plain lines, with or without colour, from the stream and the environment. "always"
 * cannot put colour into plain lines: they never hold a control character.
 */
export function progressFor(stderr: NodeJS.WritableStream, env: NodeJS.ProcessEnv, color: ColorFlag | undefined): Progress {
  const terminal = (stderr as Partial<NodeJS.WriteStream>).isTTY === true && env['TERM'] !== 'dumb';
  const colour = terminal && color !== 'never' && !env['NO_COLOR'] && env['HELM_COLOR'] !== 'never';
  return createProgress(stderr, { terminal, colour });
}

export function createProgress(stderr: NodeJS.WritableStream, opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => new Date());
  return opts.terminal ? new SpinnerProgress(stderr, opts.colour, now) : new PlainProgress(stderr, now);
}

/** 0.4s, 12.0s, 2m05s */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** 2026-12-04T22:51:14Z: UTC to the second, as kubectl and CI logs print it. */
export function timestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** ANSI escape sequences, then every other control character but newline and tab. */
// eslint-disable-next-line no-control-regex
const CONTROL = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[\]PX^_][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b.|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function withoutControlCharacters(text: string): string {
  return text.replace(CONTROL, '');
}

function endText(step: string, detail: string | undefined): string {
  return detail ? `${step}: ${detail}` : step;
}

/** CI logs and pipes: a timestamped line when a step starts and one when it ends. */
class PlainProgress implements Progress {
  readonly live = false;
  private readonly started = new Map<string, number>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly now: () => Date,
  ) {}

  start(step: string): void {
    const at = this.now();
    this.started.set(step, at.getTime());
    this.out.write(`${timestamp(at)} ${withoutControlCharacters(step)}\n`);
  }

  end(step: string, outcome: 'ok' | 'failed', detail?: string): void {
    const at = this.now();
    const since = this.started.get(step);
    this.started.delete(step);
    const took = since === undefined ? '' : ` (${formatDuration(at.getTime() - since)})`;
    const said = outcome === 'ok' ? (detail ? `: ${detail}` : ': done') : `: failed${detail ? `, ${detail}` : ''}`;
    this.out.write(`${timestamp(at)} ${withoutControlCharacters(step + said)}${took}\n`);
  }

  write(text: string): void {
    this.out.write(withoutControlCharacters(text));
  }

  dispose(): void {}
}

const GREEN = (s: string) => `\u001b[32m${s}\u001b[39m`;
const RED = (s: string) => `\u001b[31m${s}\u001b[39m`;
const DIM = (s: string) => `\u001b[2m${s}\u001b[22m`;

/**
 * A terminal: one spinner for the steps running (the plan reads several at once: it names the one
 * started last and how many more), lines printed above it; each step ends in its own ✔/✖ line with
 * its own duration.
 */
class SpinnerProgress implements Progress {
  readonly live = true;
  private spinner: Ora | undefined;
  /** The steps running, in the order they started, and when each started. */
  private readonly running = new Map<string, number>();
  /** When the step the spinner names started (its elapsed seconds are shown). */
  private since = 0;
  /**
   * What ora writes to: a stream of its own that forwards every write to the run's redacting
   * stderr. ora replaces the write() of the stream it is given while it spins; given the redacting
   * proxy itself, that replacement would land on process.stderr and be hooked twice.
   */
  private readonly terminal: NodeJS.WriteStream;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly colour: boolean,
    private readonly now: () => Date,
  ) {
    const tty = out as NodeJS.WriteStream;
    const terminal = {
      isTTY: true,
      get columns() {
        return tty.columns;
      },
      get rows() {
        return tty.rows;
      },
      write: (chunk: string | Uint8Array, ...rest: unknown[]) => (out.write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest),
      cursorTo: (x: number, y?: number) => cursorTo(terminal as unknown as NodeJS.WritableStream, x, y),
      moveCursor: (dx: number, dy: number) => moveCursor(terminal as unknown as NodeJS.WritableStream, dx, dy),
      clearLine: (dir: -1 | 0 | 1) => clearLine(terminal as unknown as NodeJS.WritableStream, dir),
      once: (event: string, listener: (...args: unknown[]) => void) => (out.once(event, listener), terminal),
      removeListener: (event: string, listener: (...args: unknown[]) => void) => (out.removeListener(event, listener), terminal),
    };
    this.terminal = terminal as unknown as NodeJS.WriteStream;
  }

  start(step: string): void {
    this.running.set(step, this.now().getTime());
    this.spin();
  }

  end(step: string, outcome: 'ok' | 'failed', detail?: string): void {
    const since = this.running.get(step) ?? this.now().getTime();
    this.running.delete(step);
    const line = { symbol: outcome === 'ok' ? this.paint(GREEN, '✔') : this.paint(RED, '✖'), text: endText(step, detail), suffixText: this.paint(DIM, `(${formatDuration(this.now().getTime() - since)})`) };
    if (this.running.size === 0 && this.spinner) {
      this.spinner.stopAndPersist(line);
      this.spinner = undefined;
      return;
    }
    this.write(`${line.symbol} ${line.text} ${line.suffixText}\n`);
    this.spin();
  }

  /** The spinner names the step started last of those running. */
  private spin(): void {
    const steps = [...this.running];
    if (steps.length === 0) return;
    const [step, since] = steps[steps.length - 1]!;
    this.since = since;
    const text = steps.length > 1 ? `${step} (and ${steps.length - 1} more)` : step;
    if (this.spinner) {
      this.spinner.text = text;
      return;
    }
    this.spinner = ora({
      stream: this.terminal,
      text,
      suffixText: () => this.paint(DIM, `(${Math.floor((this.now().getTime() - this.since) / 1000)}s)`),
      isEnabled: true,
      // Raw mode on stdin would take Ctrl-C from helm (the process group's SIGINT) and the prompt.
      discardStdin: false,
      color: this.colour ? 'cyan' : false,
    }).start();
  }

  write(text: string): void {
    const spinner = this.spinner;
    if (!spinner?.isSpinning) {
      this.out.write(text);
      return;
    }
    spinner.clear();
    this.out.write(text);
    spinner.render();
  }

  dispose(): void {
    this.spinner?.stop();
    this.spinner = undefined;
    this.running.clear();
  }

  private paint(colour: (s: string) => string, text: string): string {
    return this.colour ? colour(text) : text;
  }
}
