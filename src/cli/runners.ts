/** Builds the runner the user chose; the only place that knows every runner module. */
import { capturedMigrationSource } from '../adapters/captured-sources.js';
import { openMigrationSource, type MigrationSource } from '../adapters/migration-source.js';
import { trustedCapture, type CaptureRecord } from '../core/capture.js';
import { PermissionDeniedError, RefusedError, UsageError } from '../core/errors.js';
import type { NativeDriver, ProbePort, Runner } from '../core/ports.js';
import type { RunnerChoice } from '../core/rollback.js';
import { checkExecTarget, createExecRunner } from '../runners/exec.js';
import { createJobProbe, createJobRunner } from '../runners/job.js';
import type { LockWaitPolicy } from '../core/lock-wait.js';
import { createNativeRunner, type TrackFiles } from '../runners/native.js';
import { findTool } from '../tools/index.js';
import { splitRef } from '../core/database-url.js';
import type { Context } from './context.js';

export const RUNNERS = ['native', 'job', 'exec'] as const;

/** A tool's native driver, when the registry's tool offers one (a tool without one is refused, pointing to --runner job). */
const driverFor = (tool: string): NativeDriver | undefined => findTool(tool)?.offers.native;

/**
 * No --runner and no --source: native when the release's chart version has down files captured in
 * the cluster (README "Down files kept in the cluster"), else job. Decided once the release is read,
 * since the capture is keyed by the chart version that runs.
 */
export const DEFAULT_RUNNER = 'native if captured, else job';

/** Where the native runner's down files came from, for the plan. */
export type DownFilesOrigin =
  | { from: 'source'; origin: string }
  | { from: 'captured'; capture: CaptureRecord }
  /** Default runner: the captures could not be read (RBAC), so the job runner was chosen. */
  | { from: 'not-looked-up'; why: string };

export interface RunnerFactoryOptions {
  source?: string;
  allowMissingDowns?: boolean;
  /** Told which down files the native runner reads (or why captures were not looked at). */
  onDownFiles?: (origin: DownFilesOrigin) => void;
  /** --lock-timeout, --statement-timeout, --lock-retries for the native runner's downs. */
  lockWait?: Partial<LockWaitPolicy>;
  /** Told where the native runner reads each track's files (--verify-downs reads the same ones). */
  onSource?: (load: (track: string) => Promise<TrackFiles>) => void;
}

export function createRunnerFactory(ctx: Context, opts: RunnerFactoryOptions): (choice: RunnerChoice) => Promise<Runner> {
  const native = (source: MigrationSource) => (opts.onSource?.((track) => source.files(track)), createNativeRunner)({ connector: ctx.connector, loadSource: (track) => source.files(track), driverFor, allowMissingDowns: opts.allowMissingDowns, lockWait: opts.lockWait });
  return async (choice) => {
    if (opts.source !== undefined && (choice.name === 'native' || choice.name === DEFAULT_RUNNER)) {
      const source = openMigrationSource(opts.source, { tracks: choice.tracks, log: ctx.log });
      opts.onDownFiles?.({ from: 'source', origin: source.origin });
      return native(source);
    }
    if (choice.name === 'native' || choice.name === DEFAULT_RUNNER) {
      const captured = await capturedFor(ctx, choice, choice.name === DEFAULT_RUNNER, opts.onDownFiles);
      if (captured) {
        opts.onDownFiles?.({ from: 'captured', capture: captured.record });
        return native(capturedMigrationSource(captured.record, captured.content));
      }
      if (choice.name === 'native') {
        // Exit 12, not 2: found once the release was read (exit 2 is for what the command line alone shows).
        throw new RefusedError([`the native runner needs the current version's migration files: no --source, and no down files captured in the cluster for chart ${choice.release.version} of release ${choice.release.name}`],
          `pass --source DIR|FILE.tar.gz|URL, capture them (helm schema-rollback capture ${choice.release.name} --source DIR, while ${choice.release.version} runs), or use --runner job; nothing was changed`);
      }
      choice = { ...choice, name: 'job' };
    }
    if (!choice.workload) {
      throw new UsageError(`the ${choice.name} runner ${choice.name === 'exec' ? 'runs in a pod of' : 'clones'} the workload that holds the current version's code, and the chart names none`, {
        hint: 'give --workload KIND/NAME (annotation schema-rollback.io/workload), or use --runner native --source DIR',
      });
    }
    if (choice.name === 'exec') {
      checkExecTarget(choice.workload, choice.stop, choice.stopFrom);
      return createExecRunner({ kube: ctx.kube, workload: choice.workload, container: choice.container });
    }
    const [kind, name] = splitRef(choice.workload);
    return createJobRunner({
      kube: ctx.kube,
      workload: await (choice.read ?? ctx.kube).get(kind, name),
      container: choice.container,
      release: choice.release.name,
      namespace: ctx.namespace,
    });
  };
}

/**
 * The capture of the release's chart version, checked (trustedCapture refuses a damaged, mixed or
 * relabelled one, exit 12). For the default runner a capture the user may not read is no reason to
 * fail a rollback the job runner can do: it is said in the plan instead.
 */
async function capturedFor(ctx: Context, choice: RunnerChoice, optional: boolean, tell?: (origin: DownFilesOrigin) => void) {
  try {
    const found = await ctx.capturedSources.read(choice.release.name, choice.release.version);
    return trustedCapture(found, choice.release, choice.tracks);
  } catch (err) {
    if (!optional || !(err instanceof PermissionDeniedError)) throw err;
    tell?.({ from: 'not-looked-up', why: err.message.split('\n').slice(-1)[0]!.replace(/^\s*-\s*/, '') });
    return undefined;
  }
}

/** Where a chart version's heads are asked for when it does not say its revision: a Job from its rendered workload. */
export function createProbe(ctx: Context, release: string): ProbePort {
  return createJobProbe({ kube: ctx.kube, release, namespace: ctx.namespace, log: ctx.log });
}
