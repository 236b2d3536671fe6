/**
 * What chart maintainers check against their migrations: the head a chart version should carry
 * (annotate), and whether a revision exists and is that head (verify). Pure: the files were read
 * by an adapter and parsed by the tool (MigrationTool.readMigrations).
 */
import { BASE } from './contract.js';
import { MigrationsError, UsageError } from './errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool } from './ports.js';

/** One track's migrations, as read: where they came from and the tool's history of them. */
export interface TrackMigrations {
  origin: string;
  history: MigrationHistory;
}

/** Parses one track's files with its tool; UsageError for a tool that cannot read files. */
export function readHistory(tool: MigrationTool, files: readonly MigrationFile[], origin: string): TrackMigrations {
  if (tool.readMigrations === undefined) throw new UsageError(`the plugin cannot read ${tool.name} migration files`);
  try {
    return { origin, history: tool.readMigrations(files) };
  } catch (err) {
    if (err instanceof MigrationsError) throw new MigrationsError(`${origin}: ${err.message}`, { hint: err.hint });
    throw err;
  }
}

/**
 * The head a chart version should carry. `branch` (alembic: a branch label, or a revision id) picks
 * the head that descends from it. No migrations is BASE. Several heads without a branch, or a branch
 * with several heads, is a MigrationsError naming them.
 */
export function findHead(tool: MigrationTool, migrations: TrackMigrations, branch?: string): string {
  const { history, origin } = migrations;
  if (history.revisions.length === 0) return BASE;
  let heads = history.heads;
  let what = `${origin} has`;
  if (branch !== undefined) {
    if (tool.name !== 'alembic') throw new UsageError(`--branch is for alembic histories; ${tool.name} migrations form one line`);
    const root = history.branches[branch] ?? (history.revisions.includes(branch) ? branch : undefined);
    if (root === undefined) {
      const labels = Object.keys(history.branches).sort();
      throw new MigrationsError(`${origin} has no branch label or revision "${branch}"`, { hint: labels.length > 0 ? `branch labels: ${labels.join(', ')}` : 'the files declare no branch_labels' });
    }
    heads = heads.filter((h) => h === root || history.isAncestor(root, h));
    what = `branch ${branch} of ${origin} has`;
  }
  if (heads.length === 1) return heads[0]!;
  const labels = Object.entries(history.branches).map(([label, rev]) => `${label} (${rev})`).sort();
  throw new MigrationsError(`${what} ${heads.length} heads: ${heads.join(', ')}`, {
    hint:
      heads.length === 0
        ? 'the history has a cycle or no revision; check down_revision'
        : `merge them ("alembic merge heads"), or name the branch this chart carries with --branch LABEL${labels.length > 0 ? ` (labels: ${labels.join(', ')})` : ''}`,
  });
}

/** true when `revision` is BASE or one of the migrations' revisions. */
export function hasRevision(migrations: TrackMigrations, revision: string): boolean {
  return revision === BASE || migrations.history.revisions.includes(revision);
}
