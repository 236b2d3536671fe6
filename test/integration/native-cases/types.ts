/**
 * What one SQL-file tool gives the native conformance suite (test/integration/native-conformance.test.ts):
 * its driver, a small migrations directory written in the tool's own format, and the tool's own way
 * to migrate up and to read its version table. The suite runs the same cases for every tool on
 * PostgreSQL 14 to 18: plan, downs to a target and to base, a failure mid-file, the re-run, lock
 * contention and the version table exactly as the tool leaves it.
 */
import type { MigrationFile, NativeDriver } from '../../../src/core/ports.js';

export interface ConformanceCase {
  /** The tool's registry name ("goose"). */
  tool: string;
  driver: NativeDriver;
  /** The version table's default name. */
  table: string;
  /**
   * A migrations directory of at least four versions, oldest first, each creating one table
   * `t_<n>` (n = 1, 2, ...) in its up and dropping it in its down, in the tool's file format.
   * With `failingDownOf`, that version's down first drops its table, then fails (a statement
   * that raises), so a transactional driver must leave the table in place.
   */
  files(options?: { failingDownOf?: string }): MigrationFile[];
  /** The versions those files define, oldest first, exactly as the version table stores them. */
  versions: string[];
  /**
   * Migrates an empty database up to `version` as the tool does: through the real CLI where one
   * installs here (dbmate, node-pg-migrate, sql-migrate), else with the tool's own bookkeeping
   * statements as its source writes them (golang-migrate, goose).
   */
  migrateUp(url: string, files: MigrationFile[], version: string): Promise<void>;
  /**
   * The version table's rows, normalised for comparison (timestamps and generated ids left out,
   * order kept as the tool reads it), e.g. goose: [{version_id: '0', is_applied: true}, ...].
   */
  readRows(url: string): Promise<unknown[]>;
  /** The rows the tool's own CLI leaves when the table is at `version` (null: base). */
  rowsAt(version: string | null): unknown[];
  /** Whether a failed down leaves golang-migrate's dirty flag (true) or the table unchanged (false). */
  marksDirty: boolean;
  /**
   * With marksDirty: the tool's own repair of a dirty table, marking `version` clean as its CLI
   * does (golang-migrate: `migrate force V`), which the suite applies as the runner's hint says.
   */
  force?(url: string, version: string): Promise<void>;
}
