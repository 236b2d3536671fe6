/**
 * Ctrl-C, SIGTERM and SIGHUP during a rollback. While planning nothing has changed, so the plugin
 * exits at once (21), its children stopped. Once the run acts, the first signal lets the current
 * step finish and starts no other; the second cancels the step in flight where the runner can
 * (RunControl). Either way the run ends on a step boundary with its report, and exits 21.
 *
 * Under Helm, helm itself dies on Ctrl-C and the shell prompt returns while the plugin finishes
 * its step and prints its report; SIGTERM and SIGHUP reach the plugin alone.
 */
import { ExitCode } from '../core/errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface Interrupts {
  /** Aborted on the first signal once acting. */
  readonly stop: AbortSignal;
  /** Aborted on the second. */
  readonly abort: AbortSignal;
  /** From here on a signal no longer exits at once: the run stops on a step boundary. */
  acting(): void;
  dispose(): void;
}

export function watchInterrupts(stderr: NodeJS.WritableStream): Interrupts {
  const stop = new AbortController();
  const abort = new AbortController();
  let acting = false;
  const say = (text: string) => {
    try {
      stderr.write(`${text}\n`);
    } catch {
      // The terminal is gone (SIGHUP): the run goes on, its record in the cluster says how it ended.
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // After SIGHUP a write to the closed terminal fails with EIO: never let that end the run.
    if (signal === 'SIGHUP') for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);
    if (!acting) {
      say(`\n${signal}: interrupted while planning; nothing was changed.`);
      // The only exit outside main.ts: nothing is in flight, and the children are stopped on exit.
      process.exit(ExitCode.interrupted);
    }
    if (!stop.signal.aborted) {
      say(`\n${signal}: finishing the current step, then stopping (Ctrl-C again to cancel the step now).`);
      stop.abort(signal);
    } else if (!abort.signal.aborted) {
      say(`\n${signal}: cancelling the current step.`);
      abort.abort(signal);
    }
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    stop: stop.signal,
    abort: abort.signal,
    acting: () => {
      acting = true;
    },
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
    },
  };
}
