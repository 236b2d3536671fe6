/**
 * pressly/goose. Its version table `goose_db_version(id, version_id bigint, is_applied bool,
 * tstamp)` keeps one row per applied version plus a version-0 row written when goose creates the
 * table; a down DELETEs the version's rows (since v2.4.4; older goose INSERTed (version, false)).
 * The current version is read as goose's EnsureDBVersion reads it: rows newest first (id DESC),
 * the first version whose newest row is applied. Version 0 is "nothing applied" (base).
 * Files: `<version>_<name>.sql` or `.go` (not `_test.go`); the version is the number before the
 * first underscore, as an int64, greater than zero. Reference: shared/reference/migration-tools.md §2.
 */
import { MigrationsError, VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { compareDecimal, linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';
import { gooseNative } from './goose-native.js';

const name = 'goose';
const defaultTable = 'goose_db_version';
const tableShape = 'goose_db_version(id integer primary key, version_id bigint not null, is_applied boolean not null, tstamp timestamp)';
const INT64_MAX = 9223372036854775807n;

function checkRevision(revision: string): string | undefined {
  if (!/^[0-9]+$/.test(revision)) return `goose versions are positive integers (the number that starts the migration file names), not "${revision}"`;
  if (revision.length > 1 && revision.startsWith('0')) {
    return `write goose version "${revision}" without leading zeros, as "${BigInt(revision)}": the tool stores the number, not the file name's digits`;
  }
  if (BigInt(revision) > INT64_MAX) return `goose version ${revision} does not fit the tool's bigint version_id column`;
  return undefined;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  let rows: Array<{ version_id: unknown; is_applied: unknown }>;
  try {
    ({ rows } = await db.query<{ version_id: unknown; is_applied: unknown }>(`SELECT version_id::text AS version_id, is_applied FROM ${qualifiedName(ref)} ORDER BY id DESC`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, ref, err) ?? err;
  }
  // Rows newest first (id DESC): a version's first row is its newest and says whether it is applied
  // (a legacy down INSERTed (version, false)); the current version is the first applied one met.
  const seen = new Set<string>();
  const applied: string[] = [];
  for (const row of rows) {
    if (typeof row.version_id !== 'string' || typeof row.is_applied !== 'boolean') {
      throw new VersionTableError(`goose table ${displayName(ref)} holds (${JSON.stringify(row.version_id)}, ${JSON.stringify(row.is_applied)}), not (version, applied)`, {
        hint: `check the track's version table: goose creates ${tableShape}`,
      });
    }
    if (seen.has(row.version_id)) continue;
    seen.add(row.version_id);
    if (row.is_applied) applied.push(row.version_id);
  }
  const current = applied[0];
  return { tableExists: true, revisions: current === undefined || current === '0' ? [] : [current], dirty: false, applied: applied.filter((v) => v !== '0') };
}

/** goose's migration file names: `<int64 > 0>_<anything>.sql|.go`, `_test.go` files skipped. */
function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  const byVersion = new Map<string, string>();
  const ignored: string[] = [];
  for (const { name: file } of files) {
    const m = /^([0-9]+)_.*\.(sql|go)$/.exec(file);
    if (m === null || file.endsWith('_test.go')) {
      ignored.push(file);
      continue;
    }
    const version = BigInt(m[1]!);
    if (version < 1n || version > INT64_MAX) throw new MigrationsError(`${file}: goose versions are between 1 and ${INT64_MAX}`);
    const key = version.toString();
    const other = byVersion.get(key);
    if (other !== undefined) throw new MigrationsError(`two goose migrations for version ${key}: ${other} and ${file}`, { hint: 'goose refuses this too ("duplicate version"); renumber one of them' });
    byVersion.set(key, file);
  }
  return linearHistory([...byVersion.keys()].sort(compareDecimal), ignored);
}

export const goose: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  order: { compare: compareDecimal },
  offers: {
    native: gooseNative,
    history: { read: readMigrations, about: { files: '`N_name.sql`, `N_name.go` (not `_test.go`)', revision: '`N` without leading zeros', head: 'the highest N' } },
  },
};
