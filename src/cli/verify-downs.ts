/**
 * The --verify-downs hook of the rollback command: after the plan is made, before it is printed
 * (and so before the question, also with --dry-run), the reverting tracks' downs are proven on the
 * --dev-url database (src/core/verify-downs.ts). Wiring only: sessions, files, the plan's tracks.
 */
import { BASE } from '../core/contract.js';
import { RefusedError } from '../core/errors.js';
import type { TrackFiles } from '../runners/native.js';
import type { RollbackPlan } from '../core/rollback.js';
import { DEFAULT_URL_VAR } from '../core/database-url.js';
import type { Runner, TrackStep } from '../core/ports.js';
import { checkDevDatabase, describeVerified, verifyDowns, type AlembicInImage, type VerifyDownsTrack } from '../core/verify-downs.js';
import { findTool } from '../tools/index.js';
import type { Context } from './context.js';

export interface VerifyDownsRequest {
  devUrl: string;
  reset: boolean;
  /** The native runner's source of the current version's files; undefined when the runner reads none (job, exec). */
  loadSource?: (track: string) => Promise<TrackFiles>;
  /** The plan's runner: the job runner runs alembic in the current image against the dev database. */
  runner?: Runner;
  /** --database-url-env: the variable the image reads the URL from (else the one the plan read it from, else DATABASE_URL). */
  urlVariable?: string;
}

/** Proves the plan's downs on the dev database; returns the plan's line, or throws RefusedError (exit 12). */
export async function verifyPlannedDowns(ctx: Context, plan: RollbackPlan, liveUrl: string, req: VerifyDownsRequest): Promise<string> {
  const steps = plan.decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  if (steps.length === 0) return 'Downs verified on the dev database: no track reverts, nothing to prove';
  const tracks: VerifyDownsTrack[] = [];
  for (const step of steps) {
    const image = step.tool === 'alembic' ? alembicInImage(ctx, plan, step, req) : undefined;
    if (image) {
      tracks.push({ track: step.track, tool: step.tool, table: step.table, files: [], origin: `the image of ${plan.workload ?? 'the workload'}`, current: step.current[0]!, target: step.target === BASE ? null : step.target, image });
      continue;
    }
    if (!req.loadSource) {
      throw new RefusedError(
        [`--verify-downs reads the current version's migration files, and runner ${plan.runner} reads none`],
        'give --source DIR|FILE.tar.gz|URL (or capture the files in the cluster) so the native runner reads them; nothing was changed',
      );
    }
    const source = await req.loadSource(step.track);
    const driver = findTool(step.tool)?.offers.native;
    tracks.push({
      track: step.track, tool: step.tool, table: step.table, files: source.files, origin: source.origin,
      current: step.current[0]!, target: step.target === BASE ? null : step.target,
      ...(driver ? { driver } : {}),
    });
  }
  const live = await ctx.connector.connect(liveUrl);
  try {
    const dev = await ctx.connector.connect(req.devUrl);
    try {
      await checkDevDatabase(live, dev, req.reset);
      return describeVerified(await verifyDowns(dev, tracks));
    } finally {
      await dev.close();
    }
  } finally {
    await live.close();
  }
}

/**
 * alembic in the current image with the job runner: the track's down command up to `downgrade`
 * (how the image calls alembic), run in Jobs whose env gives the dev URL in the variable the live
 * URL is read from. undefined with another runner (the track is refused then).
 */
function alembicInImage(ctx: Context, plan: RollbackPlan, step: TrackStep, req: VerifyDownsRequest & { devUrl: string }): AlembicInImage | undefined {
  const runner = req.runner;
  const tool = findTool('alembic');
  if (runner?.name !== 'job' || !runner.capture || !tool) return undefined;
  const variable = urlVariable(plan, req.urlVariable);
  const capture = runner.capture.bind(runner);
  return {
    alembic: alembicCall(step, '--verify-downs', 'alembic upgrade'), variable, tool,
    run: (argv) => capture(step, argv, { databaseUrl: req.devUrl, log: ctx.log, onOutput: () => {} }, { [variable]: req.devUrl }),
  };
}

/** The variable the image reads the database URL from: --database-url-env, else the one the plan read it from ("... env DATABASE_URL (Secret s key k)"), else DATABASE_URL. */
export function urlVariable(plan: Pick<RollbackPlan, 'databaseUrlSource'>, flag: string | undefined): string {
  return flag ?? / env (\S+)/.exec(plan.databaseUrlSource)?.[1] ?? DEFAULT_URL_VAR;
}

/** How the track's down command calls alembic (what comes before "downgrade"), for other alembic commands run the same way. */
export function alembicCall(step: TrackStep, flag: string, other: string): string[] {
  const command = step.command ?? [];
  const at = command.indexOf('downgrade');
  if (at <= 0) {
    throw new RefusedError([`track ${step.track}: its down command (${command.join(' ') || 'none'}) has no "downgrade" after the way it calls alembic, so ${flag} cannot call ${other} the same way`],
      `drop ${flag}, or give the track a down command like "alembic downgrade {{ .Revision }}"; nothing was changed`);
  }
  return command.slice(0, at);
}
