/**
 * The rollback planner: pure functions from what was read (the current chart's contract, the
 * target chart's contract, each version table) to what will be done per track, or why not. No I/O,
 * no async: the planner's tests need no doubles.
 */
import { BASE } from './contract.js';
import type { MigrationTool, TrackState, TrackStep, VersionTableRef } from './ports.js';
import type { TrackSpec } from './resolve.js';

export interface TrackInput {
  /** The track as the CURRENT (newer) chart describes it: tool, table, its expected revision. */
  current: TrackSpec;
  /** The revision the TARGET chart expects for this track; undefined when the target has no such track. */
  targetRevision: string | undefined;
  state: TrackState;
  tool: MigrationTool;
  table: VersionTableRef;
  /** When the table does not exist: the tables of the same name, or the tool's default name, in other schemas ("schema.table"). */
  tablesElsewhere?: string[];
}

export type TrackDecision =
  /** `warning`: the plan can go on, and the user should know this before saying yes. */
  | { kind: 'revert'; step: TrackStep; warning?: string }
  | { kind: 'skip'; track: string; reason: string }
  | { kind: 'refuse'; track: string; reason: string; hint: string };

const rev = (revisions: string[]) => (revisions.length === 0 ? BASE : revisions.join(','));

export function planTrack(input: TrackInput): TrackDecision {
  const { current, state, tool, table } = input;
  const track = current.name;
  const target = input.targetRevision;
  const at = rev(state.revisions);
  if (target === undefined) {
    return refuse(track, `the target chart has no track "${track}"`, 'give the target revision with --track ' + track + ' --target-revision REV, or fix the target chart\'s annotations');
  }
  if (state.dirty) {
    return refuse(
      track,
      `${tool.name} table ${tableName(table)} is dirty at ${at}: a migration step started and did not finish` +
        (tool.name === 'golang-migrate' ? ' (after a failed down, golang-migrate leaves the PREVIOUS version marked dirty; after a failed up, the version that failed)' : ''),
      tool.name === 'golang-migrate'
        ? `find which step failed. A failed DOWN leaves the version below the one it reverted, dirty, and PostgreSQL rolled the file back: the schema is still at the next version above ${at}, so "migrate -path DIR -database URL force NEXT". A failed UP of ${at} (the app starting) rolled back too: the schema is at the version below it, so "force PREVIOUS". Check the schema first, then run again (after this plugin's own failed run, its record names the exact version)`
        : 'inspect the schema, repair it by hand, then mark the true version clean with the tool, and run again',
    );
  }
  if (!state.tableExists && target !== BASE) {
    // Not "the target is newer than base": a missing table is nearly always a wrong --table/--schema.
    const elsewhere = input.tablesElsewhere ?? [];
    return refuse(
      track,
      `${tool.name} version table ${tableName(table)} does not exist${table.schema === undefined ? ' on the search_path' : ` in schema ${table.schema}`}` +
        (elsewhere.length > 0 ? `; version tables that do exist: ${elsewhere.join(', ')}` : `, nor a table named ${[...new Set([table.table, tool.defaultTable])].join(' or ')} in any other schema`),
      elsewhere.length > 0
        ? `name the table the app's ${tool.name} writes with --table and --schema (annotations schema-rollback.io/table, schema-rollback.io/schema), e.g. ${splitFlags(elsewhere[0]!)}`
        : `check the track's table and schema (--table, --schema) and the database in the URL: ${tool.name} has never run against this one`,
    );
  }
  if (state.revisions.length > 1) {
    return refuse(
      track,
      `${tableName(table)} holds several heads (${state.revisions.join(', ')}): the database is on several ${tool.name} branches, and one rollback moves one head to one revision`,
      `choose what to do with each branch: bring the other branches to where the target expects with the app's own tool first (alembic: "alembic downgrade BRANCH@REV" in the current image, e.g. "alembic downgrade feat@-1"), then run again with the one head left; ` +
        'if each branch keeps its own version table, declare one track per branch (schema-rollback.io/tracks with table:) and pick one with --track NAME',
    );
  }
  // Equal strings only: a prefix (alembic's f43d) may also be a whole revision id of its own, which
  // only the tool in the image can tell; the tool resolves it when the downs run (rollback's verify).
  if (at === target) return { kind: 'skip', track, reason: `already at ${target}` };
  const chartRevision = current.revision;
  const compare = tool.order?.compare;
  if (compare) {
    const cmp = (a: string, b: string) => (a === BASE ? (b === BASE ? 0 : -1) : b === BASE ? 1 : compare(a, b));
    if (chartRevision !== undefined && cmp(at, chartRevision) > 0) {
      return refuse(track, `the database (${at}) is ahead of the release's chart (${chartRevision}): its down files are not in this version`, 'roll back from the release that migrated the database that far, or pass --revision to say which revision the current release holds');
    }
    if (cmp(target, at) > 0) {
      return refuse(track, `the target revision ${target} is newer than the database's ${at}: that is an upgrade`, 'use helm upgrade; the application migrates up itself');
    }
    if (chartRevision !== undefined && cmp(at, chartRevision) < 0) {
      const step: TrackStep = { track, tool: tool.name, table, current: state.revisions, ...(state.applied ? { applied: state.applied } : {}), target, revisions: [] };
      return {
        kind: 'revert',
        step,
        warning: `the database (${at}) is behind the release's chart (${chartRevision}): the app has not migrated up to what its chart expects (a failed or pending migration?); the downs start from ${at}`,
      };
    }
  } else if (chartRevision !== undefined && at !== chartRevision) {
    return refuse(track, `the database (${at}) is not at the revision the release's chart expects (${chartRevision})`, 'check helm history and the version table; pass --revision REV if the release really holds another revision');
  }
  const step: TrackStep = { track, tool: tool.name, table, current: state.revisions, ...(state.applied ? { applied: state.applied } : {}), target, revisions: [] };
  return { kind: 'revert', step };
}

function refuse(track: string, reason: string, hint: string): TrackDecision {
  return { kind: 'refuse', track, reason, hint };
}

/** "app.schema_migrations" → "--schema app --table schema_migrations". */
function splitFlags(qualified: string): string {
  const dot = qualified.indexOf('.');
  return `--schema ${qualified.slice(0, dot)} --table ${qualified.slice(dot + 1)}`;
}

function tableName(t: VersionTableRef): string {
  return t.schema ? `${t.schema}.${t.table}` : t.table;
}
