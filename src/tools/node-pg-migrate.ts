/**
 * node-pg-migrate. Its version table `pgmigrations(id serial primary key, name varchar(255),
 * run_on timestamp)` holds one row per applied migration, named by the file's base name without
 * its extension (`1700000000000_add-tags`). The current revision is the last one run (ORDER BY
 * run_on, id, as the tool lists them). Files: every file of the directory not starting with a dot
 * (the default ignore pattern), ordered as the tool orders them: by the number that starts the
 * name (17 digits are a UTC date, yyyyMMddHHmmssSSS), then by name, numerically.
 * Reference: shared/reference/migration-tools.md §5.
 */
import { VersionTableError } from '../core/errors.js';
import type { MigrationFile, MigrationHistory, MigrationTool, SqlClient, TrackState, VersionTableRef } from '../core/ports.js';
import { linearHistory } from './linear-history.js';
import { displayName, qualifiedName, sqlState, UNDEFINED_TABLE, versionTableReadError } from './sql.js';
import { nodePgMigrateNative } from './node-pg-migrate-native.js';

const name = 'node-pg-migrate';
const defaultTable = 'pgmigrations';
const tableShape = 'pgmigrations(id serial primary key, name varchar(255) not null, run_on timestamp not null)';

function checkRevision(revision: string): string | undefined {
  if (revision.length > 255) return `node-pg-migrate name "${revision}" does not fit the tool's varchar(255) column`;
  if (/\.(js|ts|cjs|mjs|sql)$/.test(revision)) return `node-pg-migrate records migrations without their extension: write "${revision.replace(/\.[^.]+$/, '')}"`;
  return undefined;
}

async function readState(db: SqlClient, ref: VersionTableRef): Promise<TrackState> {
  let rows: Array<{ name: unknown }>;
  try {
    ({ rows } = await db.query<{ name: unknown }>(`SELECT name FROM ${qualifiedName(ref)} ORDER BY run_on DESC, id DESC`));
  } catch (err) {
    if (sqlState(err) === UNDEFINED_TABLE) return { tableExists: false, revisions: [], dirty: false };
    throw versionTableReadError({ name, tableShape }, ref, err) ?? err;
  }
  const row = rows[0];
  if (row === undefined) return { tableExists: true, revisions: [], dirty: false };
  if (typeof row.name !== 'string' || row.name === '') {
    throw new VersionTableError(`node-pg-migrate table ${displayName(ref)} holds name ${JSON.stringify(row.name)}, not a migration name`, {
      hint: `check the track's version table: node-pg-migrate creates ${tableShape}`,
    });
  }
  const applied = rows.map((r) => r.name).filter((n): n is string => typeof n === 'string');
  return { tableExists: true, revisions: [row.name], dirty: false, applied };
}

/** getNumericPrefix: the leading digits; 17 digits are yyyyMMddHHmmssSSS in UTC. */
function numericPrefix(file: string): number {
  const digits = /^(\d+)/.exec(file)?.[1];
  if (digits === undefined) return 0;
  if (digits.length === 17) {
    const [y, mo, d, h, mi, s, ms] = [0, 4, 6, 8, 10, 12, 14].map((at, i, all) => Number(digits.slice(at, all[i + 1] ?? 17)));
    return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!);
  }
  return Number(digits);
}

/** compareMigrationFileNames: numeric prefix, then localeCompare with numeric collation. */
export function compareNodePgMigrateFiles(a: string, b: string): number {
  return (
    numericPrefix(a) - numericPrefix(b) ||
    a.localeCompare(b, undefined, { usage: 'sort', numeric: true, sensitivity: 'variant', ignorePunctuation: true })
  );
}

function readMigrations(files: readonly MigrationFile[]): MigrationHistory {
  const used = files.map((f) => f.name).filter((n) => !n.startsWith('.'));
  const ignored = files.map((f) => f.name).filter((n) => n.startsWith('.'));
  const names = used.sort(compareNodePgMigrateFiles).map((n) => n.replace(/\.[^.]*$/, ''));
  return linearHistory(names, ignored);
}

export const nodePgMigrate: MigrationTool = {
  name,
  defaultTable,
  checkRevision,
  readState,
  offers: {
    native: nodePgMigrateNative,
    history: {
      read: readMigrations,
      about: { files: 'every file not starting with `.`', revision: 'the name without extension (`1700000000001_tags`)', head: 'the last by numeric prefix (17 digits are a UTC date), then by name' },
    },
  },
};
