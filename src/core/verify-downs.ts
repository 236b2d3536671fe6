/**
 * --verify-downs: the downs proven on a throwaway database (--dev-url) before the live one is
 * touched. Per reverting track, from an empty scratch database: the current version's ups, one at a
 * time, recording the schema each version leaves; then the current version's downs back to the
 * target, comparing the schema after each down with the one the ups gave at the version it lands
 * on. A down that forgets an index, leaves a column or drops too much is named with what it leaves,
 * at its own step (a column an earlier down leaves on a table a later down drops is invisible at the
 * target, so every step is compared, not only the last). The ups up to the target are the first
 * part of the same run: ups are deterministic, so building the target's schema again from empty
 * would repeat the same statements.
 *
 * Guards (nothing is ever dropped in a database the user did not say is throwaway): the dev
 * database must not be the live one (same server and database, however the URLs are spelled), and
 * must be empty unless --dev-reset says to empty it. Between tracks it is emptied again: that is
 * what this run created.
 *
 * Runs on SqlClients given by the caller; knows no socket or file.
 */
import { RefusedError, RollbackError } from './errors.js';
import type { MigrationFile, NativeDriver, SqlClient, VersionTableRef } from './ports.js';
import { IGNORED_SCHEMAS } from './schema-catalog.js';
import { describeDifference, diffShapes, readSchemaShape, type SchemaShape } from './schema-shape.js';

export interface VerifyDownsTrack {
  track: string;
  tool: string;
  /** The tool's native driver with planUps and runUp; absent: the track is refused (alembic: no native driver). */
  driver?: NativeDriver;
  table: VersionTableRef;
  /** The CURRENT version's migration files and where they came from. */
  files: MigrationFile[];
  origin: string;
  current: string;
  /** null: base. */
  target: string | null;
}

export interface VerifiedTrack {
  track: string;
  /** The ups run from empty to the current version. */
  ups: number;
  /** The downs run and compared, one schema comparison each. */
  steps: number;
}

export interface VerifyDownsResult {
  tracks: VerifiedTrack[];
}

/** Where a database is: equal for two sessions on the same server and database, however they were reached. */
async function whereIs(db: SqlClient): Promise<string> {
  const { rows } = await db.query<{ at: string }>(
    `SELECT pg_postmaster_start_time()::text || '/' || COALESCE(inet_server_port()::text, 'socket') || '/' ||
            (SELECT oid FROM pg_database WHERE datname = current_database())::text AS at`,
  );
  return rows[0]!.at;
}

/** Refuses a dev database that is the live one, or one that holds anything unless `reset`; empties it when `reset`. */
export async function checkDevDatabase(live: SqlClient, dev: SqlClient, reset: boolean): Promise<void> {
  const [a, b] = await Promise.all([whereIs(live), whereIs(dev)]);
  if (a === b) {
    throw new RefusedError(
      ['--dev-url names the live database (the same server and database as the release\'s): --verify-downs runs ups and downs there and empties it'],
      'give --dev-url the URL of a throwaway PostgreSQL database (an empty one created for this, e.g. createdb scratch); nothing was changed',
    );
  }
  // Columns, constraints, indexes and triggers come with their table: the tables etc. are what it holds.
  const held = (await readSchemaShape(dev)).objects.filter((o) => !['column', 'constraint', 'index', 'trigger'].includes(o.kind));
  if (held.length === 0) return;
  if (!reset) {
    const sample = held.slice(0, 3).map((o) => `${o.kind} ${o.name}`).join(', ');
    throw new RefusedError(
      [`the dev database is not empty (${held.length} objects: ${sample}${held.length > 3 ? ', ...' : ''}): --verify-downs builds the schemas from empty`],
      'give --dev-url an empty database, or add --dev-reset to drop everything in it first (only for a database that is throwaway); nothing was changed',
    );
  }
  await emptyDatabase(dev);
}

/** Drops every user schema (with all it holds) and extension, and recreates an empty public schema. */
export async function emptyDatabase(db: SqlClient): Promise<void> {
  const system = IGNORED_SCHEMAS.filter((s) => s !== 'public').map((s) => `'${s}'`).join(', ');
  await db.query(`DO $$
    DECLARE s text;
    BEGIN
      FOR s IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', s); END LOOP;
      FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN (${system}) AND nspname !~ '^pg_' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP;
      CREATE SCHEMA public;
      GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC;
    END $$`);
}

/** Refusals before any scratch work: tracks whose tool cannot run ups here. */
export function unverifiable(tracks: readonly VerifyDownsTrack[]): string[] {
  return tracks
    .filter((t) => !t.driver?.planUps || !t.driver.runUp)
    .map((t) =>
      t.tool === 'alembic'
        ? `track ${t.track}: --verify-downs runs ups and downs from SQL files; alembic's are Python, run only by alembic in the app's image, which this check does not do yet`
        : `track ${t.track}: --verify-downs has no way to run ${t.tool}'s ups (no native driver with ups)`,
    );
}

/**
 * Proves each track's downs on `dev` (checked with checkDevDatabase first). Throws RefusedError
 * (exit 12) naming each track's first faulty step; nothing is done on the live database.
 */
export async function verifyDowns(dev: SqlClient, tracks: readonly VerifyDownsTrack[]): Promise<VerifyDownsResult> {
  const cannot = unverifiable(tracks);
  if (cannot.length > 0) throw new RefusedError(cannot, 'drop --verify-downs for these tracks (prove their downs in CI instead), or roll back without it; nothing was changed');
  const problems: string[] = [];
  const verified: VerifiedTrack[] = [];
  try {
    for (const [i, t] of tracks.entries()) {
      if (i > 0) await emptyDatabase(dev);
      const result = await verifyTrack(dev, t);
      if (typeof result === 'string') problems.push(`track ${t.track}: ${result}`);
      else verified.push(result);
    }
  } finally {
    // Left empty as it was found (or reset to): everything in it now was made by this check, and
    // --rehearse, which may come next, copies the live database into an empty one.
    await emptyDatabase(dev);
  }
  if (problems.length > 0) {
    throw new RefusedError(problems, 'fix the down file named (it must undo exactly what its up did), release it, and roll back then; the live database was not touched');
  }
  return { tracks: verified };
}

/** One track from empty; a string says what is wrong. */
async function verifyTrack(dev: SqlClient, t: VerifyDownsTrack): Promise<VerifiedTrack | string> {
  const driver = t.driver!;
  const table = await driver.open(dev, t.table);
  const exclude = [{ schema: table.schema, table: table.table }];
  const shapes = new Map<string | null, SchemaShape>([[null, await readSchemaShape(dev, exclude)]]);
  let ups;
  try {
    ups = driver.planUps!(t.files, null, t.current);
  } catch (err) {
    return `cannot plan the ups from empty to ${t.current} in ${t.origin}: ${messageOf(err)}`;
  }
  for (const up of ups) {
    try {
      await driver.runUp!(dev, table, up);
    } catch (err) {
      return `up ${up.file} fails from an empty database (the check builds every version's schema from empty): ${messageOf(err)}`;
    }
    shapes.set(up.version, await readSchemaShape(dev, exclude));
  }
  const { downs } = driver.planDowns(t.files, t.current, t.target, t.origin);
  let steps = 0;
  for (const down of downs) {
    const name = down.file ?? down.expectedFile ?? `the down of ${down.from}`;
    try {
      await driver.runDown(dev, table, down);
    } catch (err) {
      return `down ${name} fails on the schema the ups give at ${down.from}: ${messageOf(err)}`;
    }
    steps++;
    const expected = shapes.get(down.to);
    if (!expected) return `down ${name} lands on ${down.to ?? 'base'}, which no up gave`;
    const diff = diffShapes(expected, await readSchemaShape(dev, exclude));
    if (diff.length > 0) {
      const at = down.to === null ? 'base (nothing applied)' : down.to;
      const shown = diff.slice(0, 5).map((d) => `${describeDifference(d)}`);
      return `down ${name} (${down.from} -> ${at}) ${shown.join('; ')}${diff.length > 5 ? `; and ${diff.length - 5} more` : ''}, unlike the schema the ups give at ${at}`;
    }
  }
  return { track: t.track, ups: ups.length, steps };
}

function messageOf(err: unknown): string {
  if (err instanceof RollbackError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The plan's line, e.g. "downs verified on the dev database: 7 steps, schemas equal at each (core: 5, vector: 2)". */
export function describeVerified(result: VerifyDownsResult): string {
  const steps = result.tracks.reduce((n, t) => n + t.steps, 0);
  const per = result.tracks.map((t) => `${t.track}: ${t.steps} after ${t.ups} ups from empty`).join(', ');
  return `Downs verified on the dev database: ${steps} step${steps === 1 ? '' : 's'}, schemas equal at each (${per})`;
}
