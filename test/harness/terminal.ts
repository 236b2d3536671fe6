/**
 * A command in a real terminal (tmux), as an operator runs it: what the screen shows, keys typed
 * into it, its exit code. For what only a terminal brings out: the confirmation prompt, Ctrl-C at
 * it, the progress spinner.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './plugin.js';
import { run } from './run.js';

export interface Terminal {
  /** The screen (and up to 200 lines of scrollback); with escapes, the colour codes too. */
  screen(opts?: { escapes?: boolean }): Promise<string>;
  /** Waits (up to 60 s) until the screen matches, and returns it. */
  waitFor(re: RegExp): Promise<string>;
  /** tmux send-keys: 'y', 'Enter', 'C-c', ... */
  keys(...keys: string[]): Promise<unknown>;
  /** Waits (up to 60 s) for the command to end. */
  exitCode(): Promise<number>;
  close(): Promise<unknown>;
}

export async function hasTmux(): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v tmux'])).exitCode === 0;
}

/** Starts `argv` in a detached 220x60 tmux session of its own (its own server socket). */
export async function inTerminal(argv: string[], env: NodeJS.ProcessEnv): Promise<Terminal> {
  const dir = makeTempDir('hsr-tty-');
  const socket = join(dir, 'tmux.sock');
  const exitFile = join(dir, 'exit');
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // The session outlives the command a while, so that its last screen can still be read.
  await run('tmux', ['-S', socket, 'new-session', '-d', '-x', '220', '-y', '60', 'bash', '-c', `${quoted}; echo $? > ${exitFile}; sleep 30`], { env });
  const screen = async (opts: { escapes?: boolean } = {}) =>
    (await run('tmux', ['-S', socket, 'capture-pane', '-p', '-J', ...(opts.escapes ? ['-e'] : []), '-S', '-200'])).stdout;
  return {
    screen,
    async waitFor(re: RegExp) {
      for (let i = 0; i < 600 && !re.test(await screen()); i++) await new Promise((r) => setTimeout(r, 100));
      const text = await screen();
      assert.match(text, re);
      return text;
    },
    keys: (...keys: string[]) => run('tmux', ['-S', socket, 'send-keys', ...keys]),
    async exitCode() {
      for (let i = 0; i < 600 && !existsSync(exitFile); i++) await new Promise((r) => setTimeout(r, 100));
      return Number(readFileSync(exitFile, 'utf8').trim());
    },
    close: () => run('tmux', ['-S', socket, 'kill-server']),
  };
}
