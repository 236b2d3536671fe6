/**
 * golang-migrate's migration files, without I/O: file names parsed as the tool parses them
 * (source/parse.go, source/migration.go, source/iofs), and the down steps `migrate goto V` (or
 * `migrate down -all` for base) runs from a given version (migrate.go read/readDown/newMigration).
 * Reference: shared/reference/migration-tools.md §1.
 */
import { RefusedError, UsageError } from '../core/errors.js';

/** source/parse.go Regex, verbatim: `<version>_<identifier>.<up|down>.<extension>`. */
export const MIGRATION_FILE_NAME = /^([0-9]+)_(.*)\.(down|up)\.(.*)$/;

const UINT64_MAX = 18446744073709551615n;

/** One file as read from a source: its base name and its text. */
export interface SourceFile {
  name: string;
  body: string;
}

/** One version of a migrations directory: its up and down files, either of which may be missing. */
export interface GolangMigration {
  /** The version as golang-migrate stores it: decimal, no leading zeros ("000013" → "13"). */
  version: string;
  /** The name part of the first file seen for this version (the tool pairs by version only). */
  identifier: string;
  up?: SourceFile;
  down?: SourceFile;
}

/** A parsed migrations directory (one track). */
export interface MigrationFiles {
  /** Where the files came from, for messages ("kagent.tgz:core/"). */
  origin: string;
  /** Ascending by version (numeric order, as the tool's index). */
  migrations: GolangMigration[];
  /** Names the tool would skip: not matching the pattern, or a version beyond uint64. */
  ignored: string[];
}

/**
 * Parses a directory's files the way golang-migrate's file/iofs source does: names that do not
 * match are skipped (as the tool skips them), a second file for the same version and direction is
 * an error (the tool's ErrDuplicateMigration; `1_a.up.sql` and `01_b.up.sql` are both version 1).
 */
export function parseMigrationFiles(files: readonly SourceFile[], origin: string): MigrationFiles {
  const byVersion = new Map<bigint, GolangMigration>();
  const ignored: string[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE_NAME.exec(file.name);
    // strconv.ParseUint(m[1], 10, 64) failing makes the tool skip the file, like a non-match.
    if (match === null || BigInt(match[1]!) > UINT64_MAX) {
      ignored.push(file.name);
      continue;
    }
    const version = BigInt(match[1]!);
    const direction = match[3] as 'up' | 'down';
    let migration = byVersion.get(version);
    if (migration === undefined) {
      migration = { version: version.toString(), identifier: match[2]! };
      byVersion.set(version, migration);
    }
    const existing = migration[direction];
    if (existing !== undefined) {
      throw new UsageError(`${origin}: two ${direction} files for golang-migrate version ${version}: ${existing.name} and ${file.name}`, {
        hint: 'golang-migrate refuses such a directory too ("duplicate migration file"); each version has at most one up and one down file',
      });
    }
    migration[direction] = file;
  }
  const migrations = [...byVersion.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  return { origin, migrations, ignored: ignored.sort() };
}

/** One down step: the version table goes from `from` to `to` (null = NilVersion, an empty table). */
export interface DownStep {
  from: string;
  to: string | null;
  /** The down file; undefined when the version has none (the version still moves, nothing runs). */
  file?: SourceFile;
  /** The down file's name golang-migrate would look for, from the up file's, when `file` is missing. */
  expectedFile?: string;
  /**
   * Versions between `from` and `to` without any file, which the tool steps over (its Prev() walks
   * the files' index): set only when the files are numbered one by one, where a hole means a missing
   * file; timestamped versions leave holes by design.
   */
  missing?: { first: string; last: string };
}

/**
 * Whether versions count up one by one (`migrate create -seq`: 1, 2, 3, ...) rather than by time
 * (20240301120000): the numbers span at most twice as many values as there are files. Only then
 * is a hole between two versions read as a missing file.
 */
export function numberedOneByOne(files: MigrationFiles): boolean {
  const index = files.migrations;
  if (index.length < 2) return false;
  const span = BigInt(index[index.length - 1]!.version) - BigInt(index[0]!.version) + 1n;
  return span <= 2n * BigInt(index.length);
}

/** `000011_tasks.up.sql` → `000011_tasks.down.sql`: the down file the tool would pair with an up file. */
function downNameFor(up: SourceFile | undefined): string | undefined {
  const m = up === undefined ? null : MIGRATION_FILE_NAME.exec(up.name);
  return m === null ? undefined : `${m[1]}_${m[2]}.down.${m[4]}`;
}

/**
 * The down steps `migrate goto target` runs from `current`, in order. `null` stands for golang-
 * migrate's NilVersion (no row): as `current`, nothing is applied; as `target`, "base", which
 * `goto` cannot express (V is a uint) but `down -all` reaches: the first file's down sets NilVersion.
 *
 * Refuses (RefusedError, nothing changed) where golang-migrate errors: current or target without any
 * file ("no migration found for version N"), and a target above current, which is an up.
 * current === target gives [] (the tool's ErrNoChange, which its CLI prints and exits 0 on).
 */
export function planGoto(files: MigrationFiles, current: string | null, target: string | null): DownStep[] {
  const index = files.migrations;
  const position = (version: string) => index.findIndex((m) => m.version === canonical(version));
  const known = index.length === 0 ? 'none' : `${index[0]!.version}..${index[index.length - 1]!.version} (${index.length} versions)`;

  // versionExists: the current version first, then the target, as migrate.go read() checks them.
  if (current !== null && position(current) < 0) {
    throw new RefusedError(
      [`database revision ${canonical(current)} is unknown to this version's migrations in ${files.origin} (golang-migrate: "no migration found for version ${canonical(current)}"); known: ${known}`],
      'the database is ahead of these files, or the files are not the ones that migrated it: give the migrations of the release that is running now (--source)',
    );
  }
  if (target !== null && position(target) < 0) {
    throw new RefusedError(
      [`target revision ${canonical(target)} is not among this version's migrations in ${files.origin} (golang-migrate: "no migration found for version ${canonical(target)}"); known: ${known}`],
      'check the target chart version\'s revision for this track, or give the migrations that contain it (--source)',
    );
  }
  if (current === target || (current !== null && target !== null && canonical(current) === canonical(target))) return [];
  if (current === null) {
    throw new RefusedError([`nothing is applied, so reaching version ${canonical(target!)} is an upgrade, not a rollback`]);
  }
  const from = position(current);
  const to = target === null ? -1 : position(target);
  if (to > from) {
    throw new RefusedError([`target version ${canonical(target!)} is newer than the database's ${canonical(current)}: that is an upgrade, not a rollback`]);
  }
  const steps: DownStep[] = [];
  const oneByOne = numberedOneByOne(files);
  // Walk Prev() one version at a time; below the first version lies NilVersion.
  for (let i = from; i > to; i--) {
    const migration = index[i]!;
    const step: DownStep = { from: migration.version, to: i === 0 ? null : index[i - 1]!.version };
    if (migration.down !== undefined) step.file = migration.down;
    else {
      const expected = downNameFor(migration.up);
      if (expected !== undefined) step.expectedFile = expected;
    }
    if (oneByOne && step.to !== null && BigInt(step.from) - BigInt(step.to) > 1n) {
      step.missing = { first: (BigInt(step.to) + 1n).toString(), last: (BigInt(step.from) - 1n).toString() };
    }
    steps.push(step);
  }
  return steps;
}

/** "000013" → "13": versions compare as numbers, as the tool's uint index does. */
function canonical(version: string): string {
  if (!/^[0-9]+$/.test(version)) {
    throw new UsageError(`golang-migrate version "${version}" is not a non-negative integer`);
  }
  return BigInt(version).toString();
}
