/**
 * rubenv/sql-migrate. Its version table `gorp_migrations(id text primary key, applied_at
 * timestamptz)` holds one row per applied migration, the id being the migration's file name
 * (`3_add_tags.sql`). Migrations are ordered as the tool's Migration.Less orders them: by the
 * number that starts the id when both have one, numbered before unnumbered, then by id; the
 * current revision is the last applied one in that order, as PlanMigration takes it.
 */
import { VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';
import { sqlMigrateNative } from './sql-migrate-native.js';

const name = 'sql-migrate';
const defaultTable = 'gorp_migrations';
const tableShape = 'gorp_migrations(id text primary key, applied_at timestamp with time zone)';

function checkRevision(revision: string): string | undefined {
  if (!revision.endsWith('.sql')) return `sql-migrate revisions are migration file names as the tool records them (e.g. "3_add_tags.sql"), not "${revision}"`;
  return undefined;
}

/** sql-migrate's Migration.Less, as a comparator. */
export function compareSqlMigrateIds(a: string, b: string): number {
  const [na, nb] = [/^(\d+)/.exec(a)?.[1], /^(\d+)/.exec(b)?.[1]];
  if (na !== undefined && nb !== undefined && BigInt(na) !== BigInt(nb)) return BigInt(na) < BigInt(nb) ? -1 : 1;
  if (na !== undefined && nb === undefined) return -1;
  if (na === undefined && nb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  let rows: Array<{ id: unknown }>;
  try {
    ({ rows } = await db.query<{ id: unknown }>(`SELECT id FROM ${qualifiedName(ref)}`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, ref, err) ?? err;
  }
  const ids = rows.map((row) => {
    if (typeof row.id !== 'string' || row.id === '') {
      throw new VersionTableError(`sql-migrate table ${displayName(ref)} holds id ${JSON.stringify(row.id)}, not a migration name`, {
        hint: `check the track's version table: sql-migrate creates ${tableShape}`,
      });
    }
    return row.id;
  });
  ids.sort(compareSqlMigrateIds);
  return { tableExists: true, revisions: ids.length === 0 ? [] : [ids[ids.length - 1]!], dirty: false, applied: ids };
}

/** FileMigrationSource: every *.sql file at the top of the directory. */
function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  const ids = files.map((f) => f.name).filter((n) => n.endsWith('.sql'));
  const ignored = files.map((f) => f.name).filter((n) => !n.endsWith('.sql'));
  return linearHistory(ids.sort(compareSqlMigrateIds), ignored);
}

export const sqlMigrate: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  order: { compare: compareSqlMigrateIds },
  offers: {
    native: sqlMigrateNative,
    history: {
      read: readMigrations,
      about: { files: '`*.sql`', revision: 'the file name (`10_create_tags.sql`)', head: "the last in sql-migrate's order: numbered ids by number, then unnumbered ids by name" },
    },
  },
};
