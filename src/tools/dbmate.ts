/**
 * dbmate. Its version table `schema_migrations(version varchar(128) primary key)` holds one row per
 * applied migration, the version being the digits that start the file name, exactly as written
 * (a timestamp such as 20151129054053). The current version is the greatest, read as dbmate reads
 * it (`ORDER BY version DESC`). Files: `<digits>_<name>.sql`, in file-name order.
 * Reference: shared/reference/migration-tools.md §3.
 */
import { VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';
import { dbmateNative } from './dbmate-native.js';

const name = 'dbmate';
const defaultTable = 'schema_migrations';
const tableShape = 'schema_migrations(version varchar(128) primary key)';
/** dbmate's migrationFileRegexp. */
const FILE_NAME = /^(\d+)_.*\.sql$/;

function checkRevision(revision: string): string | undefined {
  if (!/^[0-9]+$/.test(revision)) return `dbmate versions are the digits that start the migration file names (e.g. 20151129054053), not "${revision}"`;
  if (revision.length > 128) return `dbmate version ${revision} does not fit the tool's varchar(128) column`;
  return undefined;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  let rows: Array<{ version: unknown }>;
  try {
    ({ rows } = await db.query<{ version: unknown }>(`SELECT version FROM ${qualifiedName(ref)} ORDER BY version DESC`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, ref, err) ?? err;
  }
  const row = rows[0];
  if (row === undefined) return { tableExists: true, revisions: [], dirty: false };
  if (typeof row.version !== 'string' || row.version === '') {
    throw new VersionTableError(`dbmate table ${displayName(ref)} holds version ${JSON.stringify(row.version)}, not a version string`, {
      hint: `check the track's version table: dbmate creates ${tableShape}`,
    });
  }
  const applied = rows.map((r) => r.version).filter((v): v is string => typeof v === 'string');
  return { tableExists: true, revisions: [row.version], dirty: false, applied };
}

function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  const ignored: string[] = [];
  const found: Array<[string, string]> = [];
  for (const { name: file } of files) {
    const m = FILE_NAME.exec(file);
    if (m === null) ignored.push(file);
    else found.push([file, m[1]!]);
  }
  found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return linearHistory(found.map(([, version]) => version), ignored);
}

export const dbmate: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  offers: {
    native: dbmateNative,
    history: { read: readMigrations, about: { files: '`DIGITS_name.sql`', revision: 'the digits as written (`20240301120000`)', head: 'the last file by name' } },
  },
};
