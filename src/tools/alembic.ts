/**
 * alembic (SQLAlchemy). Its version table holds one row per current head: `version_num
 * varchar(32)`; no row at base, and the table stays after `downgrade base`. By default the table
 * name is unqualified and resolved through search_path, as alembic does.
 * Reference: shared/reference/migration-tools.md §4.
 */
import { VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { readAlembicHistory } from './alembic-graph.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';

const name = 'alembic';
const defaultTable = 'alembic_version';
const tableShape = 'alembic_version(version_num varchar(32) not null primary key)';

/** alembic's version_num column is VARCHAR(32). */
const MAX_REVISION_LENGTH = 32;
/** alembic.script.revision._revision_illegal_chars: they carry meaning in relative revisions (feat@head, -1, +2). */
const ILLEGAL_CHARS = ['@', '-', '+'];
/** Symbolic names alembic resolves itself; a contract must name a real revision. */
const SYMBOLIC = new Set(['head', 'heads', 'base']);

function checkRevision(revision: string): string | undefined {
  if (revision.length === 0) return 'an alembic revision cannot be empty';
  if (/\s/.test(revision)) return `alembic revision "${revision}" contains whitespace`;
  if (revision.length > MAX_REVISION_LENGTH) {
    return `alembic revision "${revision}" is ${revision.length} characters long; alembic's version_num column holds at most ${MAX_REVISION_LENGTH}`;
  }
  const illegal = ILLEGAL_CHARS.filter((c) => revision.includes(c));
  if (illegal.length > 0) {
    return `alembic revision "${revision}" contains ${illegal.map((c) => `'${c}'`).join(', ')}, which alembic does not allow in revision identifiers`;
  }
  if (SYMBOLIC.has(revision)) return `"${revision}" is a symbolic alembic name; give the revision id itself (e.g. "a1b2c3d4e5f6")`;
  return undefined;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  let rows: Array<{ version_num: unknown }>;
  try {
    ({ rows } = await db.query<{ version_num: unknown }>(`SELECT version_num FROM ${qualifiedName(ref)}`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, ref, err) ?? err;
  }
  const revisions = rows.map((row) => {
    if (typeof row.version_num !== 'string' || row.version_num.length === 0) {
      throw new VersionTableError(`alembic table ${displayName(ref)} holds version_num ${JSON.stringify(row.version_num)}, not a revision id`, {
        hint: `check the track's version table: alembic creates ${tableShape}`,
      });
    }
    return row.version_num;
  });
  // One row per head, in no particular order: sorted so that output and comparisons are stable.
  revisions.sort();
  return { tableExists: true, revisions, dirty: false };
}

/** The revision graph of versions/*.py, read statically (alembic-graph.ts). */
function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  const { graph: _graph, ...history } = readAlembicHistory(files);
  return history;
}

/**
 * The down command when the contract gives none: alembic's own CLI in the app's image, from its
 * working directory (where alembic.ini is). One command walks every down to the target in one
 * transaction on PostgreSQL, and writes alembic_version itself.
 */
const defaultDownCommand = ['alembic', 'downgrade', '{{ .Revision }}'] as const;

/** Offline mode: a downgrade needs an explicit FROM:TO range (reference §4). */
const offlineDownCommand = ['alembic', 'downgrade', '{{ .From }}:{{ .Revision }}', '--sql'] as const;

/**
 * `alembic heads`, called the way the track's down command calls alembic: what comes before its
 * `downgrade` (poetry run alembic -c conf/alembic.ini) with `heads` after it. It reads only the script
 * directory: no env.py, no database. undefined when the command has no `downgrade` to anchor on.
 */
function headsCommand(downCommand: readonly string[] | undefined): string[] | undefined {
  const command = downCommand ?? defaultDownCommand;
  const at = command.indexOf('downgrade');
  return at > 0 ? [...command.slice(0, at), 'heads'] : undefined;
}

/**
 * One line per head, as alembic's command.heads prints them (Script._head_only with branches, no
 * tree indicators): "f43d21f9cdb8 (head)", "e0005 (feat) (head)". Lines that are not heads (a
 * warning, a wrapper's banner) are skipped.
 */
const HEAD_LINE = /^([^\s()]+)(?: \([^()]*\))? \(head\)\s*$/;

function parseHeads(lines: readonly string[]): string[] {
  return lines.flatMap((line) => {
    const m = HEAD_LINE.exec(line.trim());
    return m ? [m[1]!] : [];
  });
}

/**
 * alembic resolves an id exactly, else as the prefix of exactly one revision id, when the prefix
 * has at least 4 characters (RevisionMap._revision_for_ident; several matches are an error, so a
 * downgrade to an ambiguous prefix fails before any SQL). After `alembic downgrade f43d` the table
 * holds f43d21f9cdb8.
 */
function names(wanted: string, stored: string): boolean {
  return stored === wanted || (wanted.length >= 4 && stored.length > 3 && stored.startsWith(wanted));
}

export const alembic: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  order: { names },
  offers: {
    history: {
      read: readMigrations,
      filesIn: 'versions',
      branches: true,
      about: {
        files: '`versions/*.py` (not `__init__.py`): module-level `revision`, `down_revision` (a string, `None`, or a tuple for a merge), `branch_labels`, `depends_on`, plain or type-annotated; literals only, a computed id is refused with the file named',
        revision: 'the revision id',
        head: "the revision no other names as its `down_revision`; several heads is an error (exit 16) unless `--branch LABEL` names the branch (the head that descends from the label's revision, as `alembic heads` / `LABEL@head` find it)",
      },
    },
    image: { down: defaultDownCommand, offlineDown: offlineDownCommand, heads: { command: headsCommand, parse: parseHeads } },
  },
};
