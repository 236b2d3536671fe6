/**
 * What a database's schema and data look like, read from the PostgreSQL catalog: every user table
 * with its columns, exact row counts, and a content checksum. Forward-only schemas (GORM
 * AutoMigrate, Prisma/TypeORM synchronize) keep no version table, so a snapshot is compared with the
 * live database through these instead: what a restore loses, and whether older code can still write
 * the newer schema. Reading runs SQL through a SqlClient; comparing is pure.
 */
import type { SqlClient } from './ports.js';
import { ARCHIVE_SCHEMA } from './data-at-risk.js';

export interface CatalogColumn {
  name: string;
  /** format_type(): "character varying(40)", "bigint", "numeric(10,2)". */
  type: string;
  notNull: boolean;
  /** A DEFAULT, a serial's nextval or an identity: an INSERT that omits the column still gets a value. */
  hasDefault: boolean;
  /** GENERATED ALWAYS AS (...) STORED: nobody writes it. */
  generated: boolean;
}

export interface CatalogTable {
  schema: string;
  name: string;
  columns: CatalogColumn[];
  /** Exact count(*), when counted. */
  rows?: number;
}

export interface Catalog {
  tables: CatalogTable[];
}

/** Schemas that are PostgreSQL's own, or the plugin's archive of an earlier rollback: never compared, dropped or restored. */
export const IGNORED_SCHEMAS = ['pg_catalog', 'information_schema', ARCHIVE_SCHEMA];
const USER_SCHEMA = `n.nspname NOT IN (${IGNORED_SCHEMAS.map((s) => `'${s}'`).join(', ')}) AND n.nspname !~ '^pg_(toast|temp)'`;

/** Every user table (plain and partitioned, not partitions) and its columns, in a stable order. */
export async function readCatalog(db: SqlClient): Promise<Catalog> {
  const { rows } = await db.query<{ schema: string; table: string; column: string | null; type: string | null; not_null: boolean | null; has_default: boolean | null; generated: boolean | null }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, (a.atthasdef OR a.attidentity <> '') AND a.attgenerated = '' AS has_default, a.attgenerated <> '' AS generated
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_SCHEMA}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      ORDER BY n.nspname, c.relname, a.attnum`,
  );
  const tables = new Map<string, CatalogTable>();
  for (const r of rows) {
    const key = `${r.schema}.${r.table}`;
    let t = tables.get(key);
    if (!t) tables.set(key, (t = { schema: r.schema, name: r.table, columns: [] }));
    if (r.column !== null) t.columns.push({ name: r.column, type: r.type!, notNull: r.not_null!, hasDefault: r.has_default!, generated: r.generated! });
  }
  return { tables: [...tables.values()] };
}

/** Each table's exact row count (count(*): a full scan of each table, the price of an exact answer). */
export async function countRows(db: SqlClient, catalog: Catalog): Promise<Catalog> {
  const tables: CatalogTable[] = [];
  for (const t of catalog.tables) {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(t)}`);
    tables.push({ ...t, rows: Number(rows[0]?.n ?? 0) });
  }
  return { tables };
}

/**
 * A checksum of the data and the table shapes: md5 over each table's name, columns and rows, rows
 * taken in the order of their own md5 so that physical order (VACUUM, updates) does not matter.
 * Taken when the snapshot is made and again before it is restored: a snapshot database someone
 * wrote to since is refused, not restored.
 */
export async function contentChecksum(db: SqlClient, catalog: Catalog): Promise<string> {
  const parts: string[] = [];
  for (const t of catalog.tables) {
    const { rows } = await db.query<{ sum: string | null }>(`SELECT md5(string_agg(h, '' ORDER BY h)) AS sum FROM (SELECT md5(x::text) AS h FROM ${qualified(t)} x) s`);
    parts.push(`${t.schema}.${t.name}(${t.columns.map((c) => `${c.name} ${c.type}`).join(',')})=${rows[0]?.sum ?? 'empty'}`);
  }
  const { rows } = await db.query<{ sum: string }>('SELECT md5($1) AS sum', [parts.join('\n')]);
  return `md5:${rows[0]!.sum}`;
}

export function qualified(t: { schema: string; name: string }): string {
  return `${ident(t.schema)}.${ident(t.name)}`;
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** What a restore of the snapshot into the live database loses, table by table. */
export interface SchemaLoss {
  /** Tables in both: live rows minus snapshot rows (net: rows updated since are also reverted, and not counted). */
  tables: Array<{ table: string; liveRows: number; snapshotRows: number; lost: number }>;
  /** Tables created since the snapshot: dropped with all their rows. */
  created: Array<{ table: string; rows: number }>;
  /** Columns added since to tables the snapshot has: dropped with their values. */
  columns: Array<{ table: string; column: string; type: string }>;
  /** Tables dropped since: the restore brings them back, with the snapshot's rows. */
  restored: Array<{ table: string; rows: number }>;
}

/** Pure: the loss of restoring `snapshot` over `live`; both catalogs counted. */
export function planLoss(snapshot: Catalog, live: Catalog): SchemaLoss {
  const byName = (c: Catalog) => new Map(c.tables.map((t) => [displayName(t), t]));
  const snap = byName(snapshot);
  const now = byName(live);
  const loss: SchemaLoss = { tables: [], created: [], columns: [], restored: [] };
  for (const [name, t] of now) {
    const before = snap.get(name);
    if (!before) {
      loss.created.push({ table: name, rows: t.rows ?? 0 });
      continue;
    }
    const liveRows = t.rows ?? 0;
    const snapshotRows = before.rows ?? 0;
    loss.tables.push({ table: name, liveRows, snapshotRows, lost: Math.max(0, liveRows - snapshotRows) });
    for (const c of t.columns) if (!before.columns.some((b) => b.name === c.name)) loss.columns.push({ table: name, column: c.name, type: c.type });
  }
  for (const [name, t] of snap) if (!now.has(name)) loss.restored.push({ table: name, rows: t.rows ?? 0 });
  return loss;
}

/** Rows a restore removes: net new rows of kept tables, plus every row of the tables created since. */
export function rowsLost(loss: SchemaLoss): number {
  return loss.tables.reduce((n, t) => n + t.lost, 0) + loss.created.reduce((n, t) => n + t.rows, 0);
}

/** One reason the older code cannot write the newer schema, with the statement that lifts it. */
export interface CompatibilityBlocker {
  /** schema.table or schema.table.column. */
  what: string;
  why: string;
  fix: string;
}

/**
 * Pure: can the code that ran on `target` (the snapshot's schema) still write `live`? Every table
 * the snapshot has is taken as one the older code writes (nothing says otherwise). Blockers: a
 * table or column it knows dropped or renamed since; a column added since that is NOT NULL without
 * a default (its INSERTs name no value for it); a column it knows that became NOT NULL; a type
 * changed to one that does not take every value of the old (a widening, e.g. varchar(40) to text or
 * integer to bigint, is fine). Not checked: new unique, check and foreign-key constraints, triggers.
 */
export function compatibilityBlockers(target: Catalog, live: Catalog): CompatibilityBlocker[] {
  const blockers: CompatibilityBlocker[] = [];
  const now = new Map(live.tables.map((t) => [displayName(t), t]));
  for (const old of target.tables) {
    const name = displayName(old);
    const t = now.get(name);
    if (!t) {
      blockers.push({ what: name, why: 'table dropped or renamed since: the older code reads and writes it', fix: `recreate it (or a view named ${name}), or restore the snapshot instead of --keep-schema` });
      continue;
    }
    for (const c of old.columns) {
      const cur = t.columns.find((x) => x.name === c.name);
      const col = `${name}.${c.name}`;
      const alter = `ALTER TABLE ${qualified(t)} ALTER COLUMN ${ident(c.name)}`;
      if (!cur) {
        blockers.push({ what: col, why: 'column dropped or renamed since: the older code writes it', fix: `ALTER TABLE ${qualified(t)} ADD COLUMN ${ident(c.name)} ${c.type}` });
        continue;
      }
      if (cur.type !== c.type && !widens(c.type, cur.type)) {
        blockers.push({ what: col, why: `type changed from ${c.type} to ${cur.type}, which does not take every ${c.type} value`, fix: `${alter} TYPE ${c.type}` });
      }
      if (cur.notNull && !c.notNull && !cur.hasDefault) {
        blockers.push({ what: col, why: 'became NOT NULL since, without a default: the older code may write NULL', fix: `${alter} DROP NOT NULL` });
      }
    }
    for (const c of t.columns) {
      if (old.columns.some((x) => x.name === c.name) || !c.notNull || c.hasDefault || c.generated) continue;
      blockers.push({
        what: `${name}.${c.name}`,
        why: 'column added since, NOT NULL without a default: the older code\'s INSERTs give it no value',
        fix: `ALTER TABLE ${qualified(t)} ALTER COLUMN ${ident(c.name)} SET DEFAULT <value>, or ... DROP NOT NULL`,
      });
    }
  }
  return blockers;
}

const INTEGER_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };

/** Whether a column of type `to` takes every value a column of type `from` did (a widening). */
export function widens(from: string, to: string): boolean {
  const varchar = (t: string) => /^character varying(?:\((\d+)\))?$/.exec(t);
  const numeric = (t: string) => /^numeric(?:\((\d+),(\d+)\))?$/.exec(t);
  if (to === 'text' && (varchar(from) || /^character\(\d+\)$/.test(from))) return true;
  const vf = varchar(from);
  const vt = varchar(to);
  if (vf && vt) return vt[1] === undefined || (vf[1] !== undefined && Number(vt[1]) >= Number(vf[1]));
  if (INTEGER_RANK[from] && INTEGER_RANK[to]) return INTEGER_RANK[to]! >= INTEGER_RANK[from]!;
  if (INTEGER_RANK[from] && numeric(to)?.[1] === undefined && numeric(to)) return true;
  if (from === 'real' && to === 'double precision') return true;
  const nf = numeric(from);
  const nt = numeric(to);
  if (nf && nt) {
    if (nt[1] === undefined) return true;
    if (nf[1] === undefined) return false;
    const [pf, sf, pt, st] = [nf[1], nf[2], nt[1], nt[2]].map(Number) as [number, number, number, number];
    return st >= sf && pt - st >= pf - sf;
  }
  return false;
}

function displayName(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}
