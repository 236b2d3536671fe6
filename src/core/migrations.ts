/**
 * What chart maintainers check against their migrations: the head a chart version should carry
 * (annotate), and whether a revision exists and is that head (verify). Pure: the files were read
 * by an adapter and parsed by the tool (its offers.history).
 */
import { BASE } from './contract.js';
import { MigrationsError, UsageError } from './errors.js';
import type { HistoryReader, MigrationFile, MigrationHistory, MigrationTool } from './ports.js';

/** One track's migrations, as read: where they came from and the tool's history of them. */
export interface TrackMigrations {
  origin: string;
  history: MigrationHistory;
}

/** The tool's reader of migration files; UsageError, before any file is read, for a tool that offers none. */
export function historyReader(tool: MigrationTool): HistoryReader {
  const reader = tool.offers.history;
  if (reader === undefined) throw new UsageError(`the plugin cannot read ${tool.name} migration files`, { hint: `give the track's revision in Chart.yaml by hand: ${tool.name} histories cannot be annotated or verified from files` });
  return reader;
}

/** Parses one track's files with its tool's reader; MigrationsError naming `origin` when they make no history. */
export function readHistory(reader: HistoryReader, files: readonly MigrationFile[], origin: string): TrackMigrations {
  try {
    return { origin, history: reader.read(files) };
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
    if (!tool.offers.history?.branches) throw new UsageError(`--branch picks among the branches of a history (alembic); ${tool.name} migrations form one line`, { hint: 'drop --branch' });
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
