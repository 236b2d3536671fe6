/**
 * `goose up-to V` for tests (there is no goose CLI here): goose's own bookkeeping as its source
 * writes it (migrate.go createVersionTable: the table and its version-0 row in one transaction;
 * migration_sql.go runSQLMigration: each up statement, then INSERT (version_id, is_applied) VALUES
 * ($1, true), in one transaction unless NO TRANSACTION). The statements come from the plugin's port
 * of goose's parser. Kept in test/: the plugin itself never runs ups.
 */
import pg from 'pg';
import type { MigrationFile } from '../../src/core/ports.js';
import { GOOSE_TABLE_DDL, collectGooseFiles } from '../../src/tools/goose-native.js';
import { parseGooseSql } from '../../src/tools/goose-sql.js';
import { quoteIdent } from '../../src/tools/sql.js';

export { GOOSE_TABLE_DDL };

export interface GooseUpOptions {
  layout?: keyof typeof GOOSE_TABLE_DDL;
  /** The table as goose's -table flag names it (unqualified: resolved through search_path). */
  table?: string;
}

/** Applies every file up to and including `version` that the table does not list yet, oldest first. */
export async function gooseUp(url: string, files: readonly MigrationFile[], version: string, opts: GooseUpOptions = {}): Promise<void> {
  const table = opts.table ?? quoteIdent('goose_db_version');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const exists = (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table])).rows[0]?.t;
    if (!exists) {
      await client.query('BEGIN');
      await client.query(GOOSE_TABLE_DDL[opts.layout ?? 'identity'](table));
      await client.query(`INSERT INTO ${table} (version_id, is_applied) VALUES ($1, $2)`, [0, true]);
      await client.query('COMMIT');
    }
    const applied = new Set((await client.query<{ v: string }>(`SELECT version_id::text AS v FROM ${table} WHERE is_applied`)).rows.map((r) => r.v));
    for (const m of collectGooseFiles(files).migrations) {
      if (m.version > BigInt(version) || applied.has(m.version.toString())) continue;
      const { statements, useTx } = parseGooseSql(m.file.body, 'up');
      if (useTx) await client.query('BEGIN');
      for (const statement of statements) await client.query(statement);
      await client.query(`INSERT INTO ${table} (version_id, is_applied) VALUES ($1, $2)`, [m.version.toString(), true]);
      if (useTx) await client.query('COMMIT');
    }
  } finally {
    await client.end();
  }
}
