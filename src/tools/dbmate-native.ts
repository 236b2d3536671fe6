/**
 * dbmate's native driver: the plugin runs a dbmate migrations directory's down blocks itself, with
 * dbmate's own bookkeeping (amacneil/dbmate v2: pkg/dbmate/migration.go parse, db.go FindMigrations
 * and Rollback, pkg/driver/postgres). Reference: shared/reference/migration-tools.md §3.
 *
 * - Files: `^(\d+).*\.sql$`, ordered by file name; the version is the leading digits as written.
 * - `dbmate rollback` reverts exactly one migration, the last applied one in file-name order. The
 *   plugin loops it down to the target, one down per version.
 * - One down: the whole down block in ONE query, then `delete from <schema>.<table> where version
 *   = $1`, both in one transaction unless the block says `-- migrate:down transaction:false`. An
 *   empty down block is allowed (nothing runs, the row goes); a missing one is dbmate's parse error.
 * - dbmate takes no lock.
 * - Refused where dbmate would go wrong silently: an applied version with no file (dbmate rolls
 *   back an older file instead and leaves the row behind, migration-tools.md §3), two files for one
 *   version (dbmate would run one of them), and files with several up/down sections, which dbmate
 *   2.36 itself rolls back in file order and half-records (issue #820).
 */
import { MigrationsError, RefusedError } from '../core/errors.js';
import type { MigrationFile, NativeDown, NativeDriver, NativeTable, NativeUp, SqlClient, VersionTableRef } from '../core/ports.js';
import { linearUps, runUpStatements } from './native-ups.js';
import { runSqlFileStep, tableMismatch } from './sql-file-steps.js';
import { qualifiedName, quoteLiteral } from './sql.js';

/** FindMigrations' migrationFileRegexp (RE2: `.` stops at "\n", `\d` is ASCII). */
const FILE_NAME = /^([0-9]+)[^\n]*\.sql$/;

// migration.go's directives. RE2 `\s` is [\t\n\f\r ]; `(?m)^` is the text's start or after "\n",
// `(?m)$` the text's end or before "\n" (JavaScript's /m would also break at "\r").
const WS = '[\\t\\n\\f\\r ]';
const UP = new RegExp(`(?<![^\\n])--${WS}*migrate:up(?:${WS}*(?=\\n|$)|${WS}+[^\\t\\n\\f\\r ]+)`, 'g');
const DOWN = new RegExp(`(?<![^\\n])--${WS}*migrate:down(?:${WS}*(?=\\n|$)|${WS}+[^\\t\\n\\f\\r ]+)`, 'g');
const BLOCK_DIRECTIVE = new RegExp(`^--${WS}*migrate:(up|down)`);

/** dbmate's parse errors, verbatim. */
export const DBMATE_PARSE_ERRORS = {
  missingUp: "dbmate requires each migration to define an up block with '-- migrate:up'",
  missingDown: "dbmate requires each migration to define a down block with '-- migrate:down'",
  unexpectedStatement: "dbmate does not support statements preceding the '-- migrate:up' block",
} as const;

export interface DbmateSection {
  up: string;
  down: string;
  upTransaction: boolean;
  downTransaction: boolean;
}

/** parseMigrationContents: one section per `-- migrate:up`; throws Error with dbmate's message. */
export function parseDbmateMigration(contents: string): DbmateSection[] {
  const ups = [...contents.matchAll(UP)].map((m) => m.index);
  if (ups.length === 0) throw new Error(DBMATE_PARSE_ERRORS.missingUp);
  const before = contents.slice(0, ups[0]).split('\n');
  if (before.some((line) => !/^[\t\n\f\r ]*$/.test(line) && !/^[\t\n\f\r ]*--/.test(line))) throw new Error(DBMATE_PARSE_ERRORS.unexpectedStatement);
  const sections = ups.map((start, i) => contents.slice(start, ups[i + 1] ?? contents.length));
  if (sections.some((s) => [...s.matchAll(DOWN)].length > 1)) throw new Error(DBMATE_PARSE_ERRORS.missingUp);
  return sections.map((section) => {
    const down = [...section.matchAll(DOWN)][0]?.index;
    // A section starts at its up directive, so dbmate's ErrParseWrongOrder cannot happen here.
    if (down === undefined) throw new Error(DBMATE_PARSE_ERRORS.missingDown);
    const [up, downBlock] = [section.slice(0, down), section.slice(down)];
    return { up, down: downBlock, upTransaction: transaction(up), downTransaction: transaction(downBlock) };
  });
}

/** parseMigrationOptions(block).Transaction(): `key:value` words on the directive line; only transaction:false counts. */
function transaction(block: string): boolean {
  const line = block.split('\n', 1)[0]!.replace(BLOCK_DIRECTIVE, '').trim();
  const options = new Map<string, string>();
  if (line !== '') {
    for (const pair of line.split(/[\t\n\f\r ]+/)) {
      const kv = pair.split(':');
      if (kv.length === 2) options.set(kv[0]!, kv[1]!);
    }
  }
  return options.get('transaction') !== 'false';
}

/** FindMigrations: matching names, in Go's byte-wise string order of file names. */
function dbmateFiles(files: readonly MigrationFile[]): { migrations: Array<{ version: string; file: MigrationFile }>; ignored: string[] } {
  const migrations: Array<{ version: string; file: MigrationFile }> = [];
  const ignored: string[] = [];
  for (const file of files) {
    const m = FILE_NAME.exec(file.name);
    if (m === null) ignored.push(file.name);
    else migrations.push({ version: m[1]!, file });
  }
  migrations.sort((a, b) => Buffer.compare(Buffer.from(a.file.name), Buffer.from(b.file.name)));
  const seen = new Map<string, string>();
  for (const { version, file } of migrations) {
    const other = seen.get(version);
    if (other !== undefined) {
      throw new MigrationsError(`two dbmate migrations for version ${version}: ${other} and ${file.name}`, {
        hint: 'dbmate keeps one row per version, so it would roll back only one of them: renumber one',
      });
    }
    seen.set(version, file.name);
  }
  return { migrations, ignored: ignored.sort() };
}

function planDowns(files: readonly MigrationFile[], current: string | null, target: string | null): { downs: NativeDown[]; ignored: string[] } {
  const { migrations, ignored } = dbmateFiles(files);
  if (current === target) return { downs: [], ignored };
  if (current === null) throw new RefusedError([`nothing is applied, so reaching dbmate version ${target} is an upgrade, not a rollback`]);
  const at = (v: string) => migrations.findIndex((m) => m.version === v);
  const from = at(current);
  if (from < 0) {
    throw new RefusedError(
      [`database version ${current} has no file among these dbmate migrations; dbmate rollback would silently roll back an older file instead and leave ${current}'s row behind`],
      'give the migrations of the release that is running now (--source), which include its newest migration',
    );
  }
  const to = target === null ? -1 : at(target);
  if (to < 0 && target !== null) {
    throw new RefusedError([`target version ${target} is not among these dbmate migrations`], "check the target chart version's revision for this track, or give the migrations that contain it (--source)");
  }
  if (to > from) throw new RefusedError([`dbmate version ${target} comes after the database's ${current}: that is an upgrade, not a rollback`]);
  const problems: string[] = [];
  const downs: NativeDown[] = [];
  for (let i = from; i > to; i--) {
    const { version, file } = migrations[i]!;
    let sections: DbmateSection[];
    try {
      sections = parseDbmateMigration(file.body);
    } catch (err) {
      throw new MigrationsError(`${file.name}: ${(err as Error).message}`, { hint: 'dbmate cannot run this file either: fix its -- migrate:up / -- migrate:down blocks' });
    }
    if (sections.length > 1) problems.push(`${file.name} has ${sections.length} up/down sections; dbmate 2.36 rolls such files back in file order and deletes the row after the first (dbmate issue #820)`);
    const section = sections[0]!;
    downs.push({ from: version, to: i === 0 ? null : migrations[i - 1]!.version, file: file.name, sql: section.down, transactional: section.downTransaction });
  }
  if (problems.length > 0) throw new RefusedError(problems, 'split the file into one migration per section (one up and one down each), or roll it back by hand');
  return { downs, ignored };
}

/**
 * dbmate's migrations table: schema-qualified when configured, else the URL's first search_path
 * entry, else current_schema(), else public. The plugin's session already applies the URL, so
 * current_schema() is the schema dbmate falls back to (a search_path naming a schema that does not
 * exist is the one difference: dbmate would create it; here current_schema() skips it).
 */
async function open(db: SqlClient, ref: VersionTableRef): Promise<NativeTable> {
  if (ref.schema !== undefined) return { schema: ref.schema, table: ref.table, locks: [] };
  const { rows } = await db.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  return { schema: rows[0]?.schema ?? 'public', table: ref.table, locks: [] };
}

async function runDown(db: SqlClient, table: NativeTable, down: NativeDown): Promise<void> {
  const name = qualifiedName(table);
  await runSqlFileStep(db, {
    from: down.from,
    // tx.Exec(section.Down): the block as one query, directive comment and all.
    statements: [down.sql],
    transactional: down.transactional,
    bookkeeping: `delete from ${name} where version = ${quoteLiteral(down.from)}`,
    check: async (session) => {
      // What `dbmate rollback` would pick must be this version, and the one after it the plan's next.
      const { rows } = await session.query<{ version: string }>(`select version from ${name} order by version desc limit 2`);
      const [now, next] = [rows[0]?.version ?? null, rows[1]?.version ?? null];
      if (now !== down.from || next !== down.to) {
        throw tableMismatch(
          down.from,
          now,
          `dbmate table ${table.schema}.${table.table} holds ${now ?? 'nothing'} then ${next ?? 'nothing'}; the plan reverts ${down.from} to ${down.to ?? 'nothing'} ` +
            '(a version applied without its file here, or out of order): plan again with the migrations that applied it',
        );
      }
    },
  });
}

/** `dbmate up` over the files up to `target`: each file's first section's up block (a file of several sections is refused by planDowns' rule). */
function planUps(files: readonly MigrationFile[], current: string | null, target: string): NativeUp[] {
  const { migrations } = dbmateFiles(files);
  const byVersion = new Map(migrations.map((m) => [m.version, m.file]));
  return linearUps(migrations.map((m) => m.version), current, target, 'dbmate').map((version) => {
    const file = byVersion.get(version)!;
    const section = parseDbmateMigration(file.body)[0]!;
    return { version, file: file.name, statements: [section.up], transactional: section.upTransaction };
  });
}

/** postgres.go CreateMigrationsTable (create table if not exists ... (version varchar(128) primary key)), then InsertMigration. */
async function runUp(db: SqlClient, table: NativeTable, up: NativeUp): Promise<void> {
  const name = qualifiedName(table);
  await db.query(`create table if not exists ${name} (version varchar(128) primary key)`);
  await runUpStatements(db, up, { text: `insert into ${name} (version) values ($1)`, params: [up.version] });
}

export const dbmateNative: NativeDriver = { planDowns, open, runDown, planUps, runUp };
