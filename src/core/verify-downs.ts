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
import type { MigrationFile, MigrationTool, NativeDriver, SqlClient, VersionTableRef } from './ports.js';
import { IGNORED_SCHEMAS } from './schema-catalog.js';
import { describeDifference, diffShapes, readSchemaShape, type SchemaShape } from './schema-shape.js';

/**
 * alembic's CLI in the CURRENT image (a Job cloned from the release's workload), pointed at the dev
 * database: its ups and downs are Python, run only by alembic there.
 */
export interface AlembicInImage {
  /** What comes before `downgrade` in the track's down command: ['alembic'], ['poetry', 'run', 'alembic', '-c', 'x.ini']. */
  alembic: string[];
  /** The tool (alembic): its version table read on the dev database, its revision names compared. */
  tool: Pick<MigrationTool, 'readState' | 'order'>;
  /** The env var the dev URL is given in (the one the live URL is read from). */
  variable: string;
  /** Runs argv in the image with the dev URL in `variable`; its output lines. Throws when it fails. */
  run(argv: string[]): Promise<string[]>;
}

export interface VerifyDownsTrack {
  track: string;
  tool: string;
  /** The tool's native driver with planUps and runUp; absent: the track is refused unless `image` runs it. */
  driver?: NativeDriver;
  /** alembic with the job runner: its CLI in the current image (no files are read then). */
  image?: AlembicInImage;
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
    .filter((t) => !(t.tool === 'alembic' && t.image) && (!t.driver?.planUps || !t.driver.runUp))
    .map((t) =>
      t.tool === 'alembic'
        ? `track ${t.track}: alembic's ups and downs are Python, run only by alembic in the app's image: --verify-downs runs them there with the job runner (--runner job), not with runner native or exec`
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
      const result = t.tool === 'alembic' && t.image ? await verifyAlembicTrack(dev, t, t.image) : await verifyTrack(dev, t);
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

/**
 * An alembic track in the current image, one Job per alembic command (each Job's cost: a pod's start
 * and alembic's import, seconds in a cluster), because the schema is read here between steps.
 * First `alembic current` must find the dev database empty: an env.py that does not take the URL
 * from the variable given would reach another database, and nothing is run then. Then `alembic
 * upgrade +1` from base until the current revision, the version table read after each (it must hold
 * the next revision, in the dev database: what proves alembic wrote there) and the schema recorded;
 * then `alembic downgrade PREVIOUS` one revision at a time to the target, each compared with the
 * schema recorded at the revision it lands on.
 */
async function verifyAlembicTrack(dev: SqlClient, t: VerifyDownsTrack, image: AlembicInImage): Promise<VerifiedTrack | string> {
  const table = { ...t.table, schema: t.table.schema ?? 'public' };
  const names = (wanted: string, stored: string) => image.tool.order?.names?.(wanted, stored) ?? wanted === stored;
  const exclude = [{ schema: table.schema, table: table.table }];
  const run = async (argv: string[]): Promise<string | undefined> => {
    try {
      await image.run([...image.alembic, ...argv]);
      return undefined;
    } catch (err) {
      return messageOf(err);
    }
  };
  let seen: string[];
  try {
    seen = parseCurrent(await image.run([...image.alembic, 'current']));
  } catch (err) {
    return `alembic current, run in the image with the dev URL in ${image.variable}, fails: ${messageOf(err)}`;
  }
  if (seen.length > 0) {
    return `alembic in the image, given the dev URL in ${image.variable}, reads a database at ${seen.join(', ')}, not the empty dev database: its env.py does not take the URL from ${image.variable} (name the variable with --database-url-env); nothing was run`;
  }
  const atNow = async () => (await image.tool.readState(dev, table)).revisions;
  const shapes = new Map<string, SchemaShape>([['base', await readSchemaShape(dev, exclude)]]);
  const path: string[] = [];
  while (path.length === 0 || !names(t.current, path[path.length - 1]!)) {
    const from = path[path.length - 1] ?? 'base';
    const failed = await run(['upgrade', '+1']);
    if (failed) return `alembic upgrade +1 from ${from} fails on the dev database (the check builds every revision's schema from empty, up to ${t.current}): ${failed}`;
    const now = await atNow();
    if (now.length !== 1 || now[0] === from || path.includes(now[0]!)) {
      return `after alembic upgrade +1 from ${from} the dev database's ${table.table} holds ${now.join(', ') || 'nothing'}: alembic did not write one next revision there (an env.py that does not take the URL from ${image.variable}, or a branching history, which this check does not follow); no down was run`;
    }
    path.push(now[0]!);
    shapes.set(now[0]!, await readSchemaShape(dev, exclude));
  }
  const stop = t.target === null ? -1 : path.findIndex((r) => names(t.target!, r));
  if (t.target !== null && stop < 0) return `target ${t.target} is not on the image's revisions from base to ${t.current} (${path.join(' -> ')})`;
  let steps = 0;
  for (let i = path.length - 1; i > stop; i--) {
    const revision = path[i]!;
    const to = i > 0 ? path[i - 1]! : 'base';
    const failed = await run(['downgrade', to]);
    if (failed) return `the downgrade of ${revision} (alembic downgrade ${to}) fails on the schema the upgrades give at ${revision}: ${failed}`;
    steps++;
    const now = await atNow();
    if (now.join(',') !== (to === 'base' ? '' : to)) return `after the downgrade of ${revision} the dev database's ${table.table} holds ${now.join(', ') || 'nothing'}, not ${to}`;
    const diff = diffShapes(shapes.get(to)!, await readSchemaShape(dev, exclude));
    if (diff.length > 0) {
      const at = to === 'base' ? 'base (nothing applied)' : to;
      const shown = diff.slice(0, 5).map((d) => describeDifference(d));
      return `the downgrade of revision ${revision} (${revision} -> ${at}) ${shown.join('; ')}${diff.length > 5 ? `; and ${diff.length - 5} more` : ''}, unlike the schema the upgrades give at ${at}`;
    }
  }
  return { track: t.track, ups: path.length, steps };
}

/** The revisions `alembic current` prints ("a9c4e2f70d15 (head)"); its INFO log lines are not. */
export function parseCurrent(lines: readonly string[]): string[] {
  return lines.flatMap((line) => {
    const m = /^([0-9A-Za-z_]+)(?: \([^()]*\))*\s*$/.exec(line.trim());
    return m ? [m[1]!] : [];
  });
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
