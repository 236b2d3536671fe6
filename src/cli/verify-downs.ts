/**
 * The --verify-downs hook of the rollback command: after the plan is made, before it is printed
 * (and so before the question, also with --dry-run), the reverting tracks' downs are proven on the
 * --dev-url database (src/core/verify-downs.ts). Wiring only: sessions, files, the plan's tracks.
 */
import { BASE } from '../core/contract.js';
import { RefusedError } from '../core/errors.js';
import type { TrackFiles } from '../runners/native.js';
import type { RollbackPlan } from '../core/rollback.js';
import { checkDevDatabase, describeVerified, verifyDowns, type VerifyDownsTrack } from '../core/verify-downs.js';
import { findTool } from '../tools/index.js';
import type { Context } from './context.js';

export interface VerifyDownsRequest {
  devUrl: string;
  reset: boolean;
  /** The native runner's source of the current version's files; undefined when the runner reads none (job, exec). */
  loadSource?: (track: string) => Promise<TrackFiles>;
}

/** Proves the plan's downs on the dev database; returns the plan's line, or throws RefusedError (exit 12). */
export async function verifyPlannedDowns(ctx: Context, plan: RollbackPlan, liveUrl: string, req: VerifyDownsRequest): Promise<string> {
  const steps = plan.decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  if (steps.length === 0) return 'Downs verified on the dev database: no track reverts, nothing to prove';
  if (!req.loadSource) {
    throw new RefusedError(
      [`--verify-downs reads the current version's migration files, and runner ${plan.runner} reads none`],
      'give --source DIR|FILE.tar.gz|URL (or capture the files in the cluster) so the native runner reads them; nothing was changed',
    );
  }
  const tracks: VerifyDownsTrack[] = [];
  for (const step of steps) {
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
