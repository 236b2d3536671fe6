/**
 * The plugin run in the background through helm, for tests that act while a step is in flight:
 * wait for a line of its output, then signal the plugin's process (helm's one child) as a terminal's
 * Ctrl-C, a `kill` or the OOM killer would reach it. helm itself is left alone so that the test can
 * read the plugin's exit code through it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { RunResult } from './plugin.js';
import type { World } from './world.js';

export interface Running {
  /** Resolves once stderr has matched. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal to the plugin process (not to helm). */
  signal(sig: NodeJS.Signals): Promise<void>;
  done: Promise<RunResult>;
}

/** helm -n NAMESPACE schema-rollback ARGS, in the background, with its output as it comes. */
export function startInBackground(world: World, namespace: string, args: string[]): Running {
  const child = spawn(world.plugin.helmBin, ['-n', namespace, 'schema-rollback', ...args], { env: world.plugin.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ exitCode: code ?? 128, stdout, stderr })));
  return {
    done,
    async waitFor(re, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(stderr)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async signal(sig) {
      // helm is a Go program: the thread that started the plugin may be any of its threads.
      const tasks = readdirSync(`/proc/${child.pid}/task`);
      const children = tasks.flatMap((t) => readFileSync(`/proc/${child.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
      assert.equal(children.length, 1, 'helm runs the plugin as its one child');
      process.kill(Number(children[0]), sig);
    },
  };
}
