/**
 * The rollback's --rehearse flags (README "Rehearsal on a clone") and the hook that runs the
 * rehearsal between the plan and the question (src/core/rehearsal.ts does the work).
 */
import type { Argv } from 'yargs';
import { createPgCopy, createPodCopy } from '../adapters/pg-copy.js';
import { RefusedError, UsageError } from '../core/errors.js';
import { DEFAULT_REHEARSE_MAX_BYTES, rehearsalLines, rehearse, type CopyPlace, type RehearsalReport } from '../core/rehearsal.js';
import { findDatabasePod } from '../core/snapshot.js';
import { parseCurrent } from '../core/verify-downs.js';
import { alembicCall, urlVariable } from './verify-downs.js';
import type { Prepared } from '../core/rollback.js';
import type { TrackStep } from '../core/ports.js';
import { parseSize } from './commands/rollback.js';
import type { Context } from './context.js';

export interface RehearsalFlags {
  rehearse?: boolean;
  /** A dev database of your own: --rehearse copies the live one into it (shared with --verify-downs). */
  devUrl?: string;
  rehearseMaxSize?: string;
  /** Where pg_dump | pg_restore run: where the plugin runs, or in the database's pod; default auto. */
  rehearseCopy?: CopyPlace;
  /** The database's pod and container (shared with snapshot and the forward-only restore). */
  dbPod?: string;
  dbContainer?: string;
  /** --dev-reset (shared with --verify-downs): empty a dev database that is not. */
  devReset?: boolean;
  runner?: string;
  /** --database-url-env: the variable the image reads its URL from (the job runner's Jobs get the dev URL there). */
  databaseUrlEnv?: string;
  forwardOnly?: boolean;
  keepSchema?: boolean;
}

const GROUP = 'Rehearsal on a clone (README "Rehearsal on a clone"):';

export function rehearsalOptions<T>(y: Argv<T>): Argv<T & RehearsalFlags> {
  return y
    .option('rehearse', { type: 'boolean', group: GROUP, describe: 'Before asking, copy the live database into --dev-url and run the downs there with the same runner: each step\'s time, the table locks it took, the rows and columns it lost. Nothing on the live database changes' })
    .option('rehearse-max-size', { type: 'string', group: GROUP, describe: 'Refuse the rehearsal when the live database is larger than this (bytes, or with KB, MB, GB, KiB, MiB, GiB); default 1GiB' })
    .option('rehearse-copy', { type: 'string', choices: ['auto', 'local', 'pod'] as const, group: GROUP, describe: "Where the copy's pg_dump | pg_restore run: local (where the plugin runs), pod (kubectl exec in the database's pod, --db-pod, whose pg_dump is the server's major; the pod must reach --dev-url too). Default auto: local when its pg_dump reads the live server's major, else pod" }) as unknown as Argv<T & RehearsalFlags>;
}

/** What the command line alone shows wrong (exit 2, nothing read or changed). */
export function checkRehearsalUsage(argv: RehearsalFlags): void {
  if (!argv.rehearse) {
    const flag = argv.rehearseMaxSize !== undefined ? '--rehearse-max-size' : argv.rehearseCopy !== undefined ? '--rehearse-copy' : undefined;
    if (flag) throw new UsageError(`${flag} is for --rehearse`, { hint: `add --rehearse --dev-url URL, or drop ${flag}` });
    return;
  }
  if (!argv.devUrl) throw new UsageError('--rehearse needs --dev-url: the database the live one is copied into', { hint: 'give --dev-url postgres://USER@HOST/EMPTY_DB (never the live database)' });
  if (argv.runner === 'exec') {
    throw new UsageError('--rehearse runs the downs with the native runner (or the job runner for alembic), not --runner exec', {
      hint: 'use --runner native (--source DIR, or captured down files), or --runner job for alembic tracks; the exec runner runs in a pod of the app, whose URL cannot be swapped for the dev one',
    });
  }
  if (argv.forwardOnly || argv.keepSchema) throw new UsageError('--rehearse rehearses the downs; a forward-only schema has none', { hint: 'drop --rehearse' });
  if (argv.rehearseMaxSize !== undefined) parseSize(argv.rehearseMaxSize, '--rehearse-max-size');
}

export interface Rehearsal {
  data: RehearsalReport;
  text: string;
  /** Exit 12 after the report is printed, when a step failed on the copy: the live run would fail there too. */
  refuseIfFailed(): void;
}

export async function rehearseIfAsked(ctx: Context, env: NodeJS.ProcessEnv, prepared: Prepared, argv: RehearsalFlags, onProgress: (line: string) => void): Promise<Rehearsal | undefined> {
  if (!argv.rehearse || !argv.devUrl) return undefined;
  const steps = prepared.plan.decisions.flatMap((d): TrackStep[] => (d.kind === 'revert' ? [d.step] : []));
  const podCopier = async () => createPodCopy(ctx.dbPod, await findDatabasePod(ctx.dbPod, prepared.appUrl, prepared.plan.release.namespace, argv.dbPod), argv.dbContainer);
  const runner = prepared.runner;
  const capture = runner.name === 'job' ? runner.capture?.bind(runner) : undefined;
  const variable = urlVariable(prepared.plan, argv.databaseUrlEnv);
  // The job runner: alembic's read-only "current", called as the down command calls alembic, proves the image reads the copy.
  const inImage = capture && {
    variable, tools: ['alembic'],
    currentRevisions: async (step: TrackStep) => parseCurrent(await capture(step, [...alembicCall(step, '--rehearse', 'alembic current'), 'current'], { databaseUrl: argv.devUrl!, log: ctx.log, onOutput: () => undefined }, { [variable]: argv.devUrl! })),
  };
  const data = await rehearse({ connector: ctx.connector, copier: createPgCopy({ env, log: ctx.log }), podCopier, log: ctx.log }, runner, steps, {
    ...(inImage ? { inImage } : {}),
    liveUrl: prepared.databaseUrl,
    appUrl: prepared.appUrl,
    copyPlace: argv.rehearseCopy ?? 'auto',
    devUrl: argv.devUrl,
    maxBytes: argv.rehearseMaxSize === undefined ? DEFAULT_REHEARSE_MAX_BYTES : parseSize(argv.rehearseMaxSize, '--rehearse-max-size'),
    reset: argv.devReset === true,
    onProgress,
  });
  return {
    data,
    text: `\n${rehearsalLines(data).join('\n')}\n`,
    refuseIfFailed() {
      const failed = data.steps.find((s) => s.outcome === 'failed');
      if (failed) {
        throw new RefusedError([`the rehearsal failed at track ${failed.track} on the copy: ${failed.error?.split('\n')[0] ?? ''}`],
          'fix the down that failed (the report above names it), then rehearse again; nothing changed on the live database');
      }
    },
  };
}
