/**
 * The one question a rollback asks before it acts. Refused (exit 15, aborted) when stdin
 * is not a terminal, so a script never hangs on it; Ctrl-C at the prompt reaches readline (raw
 * mode), not the process, and Ctrl-D closes it: both are a "no", never a hang or a silent exit 0.
 */
import { ExitCode, RollbackError } from '../core/errors.js';
import { readlinePromises } from '../adapters/lazy-builtins.js';
import type { CommandIo } from './app.js';

export async function askConfirmation(io: CommandIo, question: string, accepts: (answer: string) => boolean): Promise<boolean> {
  const stdin = io.stdin as NodeJS.ReadStream | undefined;
  if (!stdin?.isTTY) {
    throw new RollbackError(ExitCode.aborted, 'refusing to act without confirmation: standard input is not a terminal', { hint: 'pass --yes (after reading the plan, e.g. with --dry-run)' });
  }
  const { createInterface } = readlinePromises();
  const rl = createInterface({ input: stdin, output: io.stderr });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      rl.once('SIGINT', () => resolve(undefined));
      rl.once('close', () => resolve(undefined));
      rl.question(question).then(resolve, () => resolve(undefined));
    });
    return answer !== undefined && accepts(answer.trim());
  } finally {
    rl.close();
  }
}
