/**
 * The native rollback of the SQL-file tools whose drivers follow the tool's own source (dbmate,
 * sql-migrate, node-pg-migrate, goose), end to end and checked by the tools themselves: the built
 * binary installed into real Helm 4.1 (dbmate also 3.17), a release of the fixture chart sql-app
 * 2.0.0 whose Chart.yaml declares the tool's track, the Kubernetes API double, and a real
 * PostgreSQL migrated up to 2.0.0's revision by the tool's real CLI (dbmate and node-pg-migrate
 * from npm, sql-migrate from Debian; goose installs no CLI here, so its own bookkeeping from
 * test/harness/goose-up.ts), with user data in it. Then
 *
 *   helm -n sql schema-rollback notes --to 1.0.0 --source DIR --yes
 *
 * after which the tool's own status agrees with chart 1.0.0's revision, the version table holds
 * exactly the rows the tool leaves (the reverted ones deleted, the others untouched), the tool's
 * own up re-applies cleanly, and the schema after it is the schema from before the rollback. First,
 * each tool's own refusal through the binary, with nothing changed.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { MigrationFile } from '../../src/core/ports.js';
import { collectGooseFiles } from '../../src/tools/goose-native.js';
import { FIXTURE_CHARTS, materializeChartVersions, type ChartVersion } from '../harness/charts.js';
import { gooseUp } from '../harness/goose-up.js';
import { nodePgMigrateCli, schemaSnapshot, sqlMigrateCli, sqlMigrateInstalled, writeMigrations, type SchemaSnapshot } from '../harness/migration-clis.js';
import { helmVersions, kubectl, makeTempDir, repoRoot, run, type RunResult } from '../harness/plugin.js';
import { query } from '../harness/postgres.js';
import { startWorld, type World } from '../harness/world.js';
import { DBMATE, dbmateCli } from '../integration/native-cases/dbmate.js';

const NS = 'sql';
const RELEASE = 'notes';
const FIXTURES = join(repoRoot, 'test', 'fixtures');
/** Where the plugin copies the data at risk before the downs: not the app's schema, left out of the comparisons. */
const ARCHIVE_SCHEMA = 'schema_rollback_archive';

/** What a tool itself says is applied (where it can say) and pending. */
interface ToolStatus {
  applied?: string[];
  pending: string[];
}

interface SqlToolCase {
  tool: string;
  /** The migrations directory of chart 2.0.0's image, given as --source. */
  source: string;
  /** The revisions charts 1.0.0 and 2.0.0 ship (their schema-rollback.io/revision). */
  older: string;
  newer: string;
  /** What the rollback reverts, newest first, as the plan names them. */
  reverts: string[];
  helms: typeof helmVersions;
  /** Whether the tool's CLI is here; says why not otherwise. */
  installed(): boolean;
  /** The tool's own up of every file in `dir` (the app migrating on start). */
  up(url: string, dir: string): Promise<void>;
  /** The tool's own status of the database against `dir`. */
  status(url: string, dir: string): Promise<ToolStatus>;
  /** Its status once at chart 1.0.0's revision. */
  statusAtOlder: ToolStatus;
  /** The version table, every column, in the tool's order, and the column naming a migration. */
  rows: string;
  key: string;
  /** The tables of schema public at chart 1.0.0's revision: the downs ran, not only the bookkeeping. */
  tablesAtOlder: string[];
  /** User data, also in what the reverted migrations created; users(id) is kept by every revision. */
  seed: string;
  /** The tool's own refusal, through the binary: the source that triggers it, and what it says. */
  refusal: {
    what: string;
    source(): string;
    message: RegExp;
    fix: RegExp;
    /** The flag that opts into the tool's own behaviour, and what the dry-run plan then shows. */
    optIn?: { args: string[]; shows: RegExp };
  };
}

const readFiles = (dir: string): MigrationFile[] => readdirSync(dir).sort().map((name) => ({ name, body: readFileSync(join(dir, name), 'utf8') }));

/** A copy of a fixture directory without `drop` and with `add`: a source the rollback must refuse. */
function variant(dir: string, change: { drop?: string[]; add?: Record<string, string> }): string {
  const kept = readFiles(dir).filter((f) => !change.drop?.includes(f.name));
  return writeMigrations([...kept, ...Object.entries(change.add ?? {}).map(([name, body]) => ({ name, body }))], 'hsr-sql-source-');
}

/** A table of `| ID | APPLIED |` rows (sql-migrate status), split into applied and pending ids. */
function statusTable(out: string): ToolStatus & { applied: string[] } {
  const rows = [...out.matchAll(/^\|\s*(\S+)\s*\|\s*([^|]+?)\s*\|$/gm)].filter((m) => m[1] !== 'MIGRATION');
  return { applied: rows.filter((m) => m[2] !== 'no').map((m) => m[1]!), pending: rows.filter((m) => m[2] === 'no').map((m) => m[1]!) };
}

const SEED_USERS_TAGS = `INSERT INTO users (email, name) VALUES ('ana@example.com', 'ana'), ('bo@example.com', 'bo');
  INSERT INTO tags (user_id, label) VALUES (1, 'red'), (2, 'blue');`;

const dbmateSource = join(FIXTURES, 'dbmate');
const sqlMigrateSource = join(FIXTURES, 'sql-migrate-native');
const nodePgMigrateSource = join(FIXTURES, 'node-pg-migrate');
const gooseSource = join(FIXTURES, 'goose');
const helm4Only = helmVersions.filter((h) => h.major === 4);

const cases: SqlToolCase[] = [
  {
    tool: 'dbmate',
    source: dbmateSource,
    older: '20240101000000',
    newer: '20240301120000',
    reverts: ['20240301120000', '20240215093000'],
    helms: helmVersions,
    installed() {
      const here = spawnSync(DBMATE, ['--version'], { stdio: 'ignore' }).status === 0;
      if (!here) process.stderr.write('      (skipping dbmate: no dbmate binary in node_modules/.bin; npm install)\n');
      return here;
    },
    up: async (url, dir) => void (await dbmateCli(url, readFiles(dir), 'up')),
    async status(url, dir) {
      const out = await dbmateCli(url, readFiles(dir), 'status');
      return { applied: [...out.matchAll(/^\[X\] (\S+)$/gm)].map((m) => m[1]!), pending: [...out.matchAll(/^\[ \] (\S+)$/gm)].map((m) => m[1]!) };
    },
    statusAtOlder: { applied: ['20240101000000_create_users.sql'], pending: ['20240215093000_users_name.sql', '20240301120000_create_tags.sql'] },
    rows: 'SELECT * FROM schema_migrations ORDER BY version',
    key: 'version',
    tablesAtOlder: ['schema_migrations', 'users'],
    seed: "INSERT INTO users (name) VALUES ('ana'), ('bo'); INSERT INTO tags DEFAULT VALUES;",
    refusal: {
      what: 'an applied version with no file (dbmate would roll back an older file and leave its row)',
      source: () => variant(dbmateSource, { drop: ['20240301120000_create_tags.sql'] }),
      message: /database version 20240301120000 has no file among these dbmate migrations; dbmate rollback would silently roll back an older file instead and leave 20240301120000's row behind/,
      fix: /give the migrations of the release that is running now \(--source\)/,
    },
  },
  {
    tool: 'sql-migrate',
    source: sqlMigrateSource,
    older: '2_users_name.sql',
    newer: 'add_notes.sql',
    reverts: ['add_notes.sql', '10_tags_label_index.sql', '3_tags.sql'],
    helms: helm4Only,
    installed: sqlMigrateInstalled,
    up: async (url, dir) => void (await sqlMigrateCli(url, dir).up()),
    status: async (url, dir) => statusTable((await sqlMigrateCli(url, dir).call('status')).stdout),
    statusAtOlder: { applied: ['1_create_users.sql', '2_users_name.sql'], pending: ['3_tags.sql', '10_tags_label_index.sql', 'add_notes.sql'] },
    rows: 'SELECT * FROM gorp_migrations ORDER BY applied_at, id',
    key: 'id',
    tablesAtOlder: ['gorp_migrations', 'users'],
    seed: `${SEED_USERS_TAGS} INSERT INTO notes (user_id, body) VALUES (2, 'call ana');`,
    refusal: {
      what: 'an applied migration with no file (sql-migrate: unknown migration in database)',
      source: () => variant(sqlMigrateSource, { drop: ['add_notes.sql'] }),
      message: /sql-migrate: Unable to create migration plan because of add_notes\.sql: unknown migration in database \(no file add_notes\.sql among the migrations\)/,
      fix: /give the down files of the release that applied add_notes\.sql/,
    },
  },
  {
    tool: 'node-pg-migrate',
    source: nodePgMigrateSource,
    older: '2_users-name',
    newer: '20240101000000000_notes',
    reverts: ['20240101000000000_notes', '10_tags'],
    helms: helm4Only,
    installed: () => true,
    up: async (url, dir) => void (await nodePgMigrateCli(url, dir).up()),
    // node-pg-migrate has no status command: `up --dry-run` is how it tells what is not applied.
    status: async (url, dir) => ({ pending: await nodePgMigrateCli(url, dir).pending() }),
    statusAtOlder: { pending: ['10_tags', '20240101000000000_notes'] },
    rows: 'SELECT * FROM pgmigrations ORDER BY run_on, id',
    key: 'name',
    tablesAtOlder: ['pgmigrations', 'users'],
    seed: `${SEED_USERS_TAGS} INSERT INTO notes (user_id, body) VALUES (2, 'call ana');`,
    refusal: {
      what: 'a JavaScript migration to revert (its down is the app\'s code)',
      source: () =>
        variant(nodePgMigrateSource, {
          drop: ['20240101000000000_notes.sql'],
          add: { '20240101000000000_notes.js': "exports.up = (pgm) => { pgm.createTable('notes', { id: 'id', body: 'text' }); };\nexports.down = (pgm) => { pgm.dropTable('notes'); };\n" },
        }),
      message: /node-pg-migrate: 20240101000000000_notes\.js is a JavaScript\/TypeScript migration; the native runner runs only SQL migrations/,
      fix: /run this track with --runner job/,
    },
  },
  {
    tool: 'goose',
    source: gooseSource,
    older: '2',
    newer: '4',
    reverts: ['4', '3'],
    helms: helm4Only,
    installed: () => true,
    up: (url, dir) => gooseUp(url, readFiles(dir), '4'),
    // goose status: each migration file with the time its row says it was applied, or Pending.
    async status(url, dir) {
      const applied = new Set((await query<{ v: string }>(url, 'SELECT version_id::text AS v FROM goose_db_version WHERE is_applied')).map((r) => r.v));
      const files = collectGooseFiles(readFiles(dir)).migrations;
      return { applied: files.filter((m) => applied.has(m.version.toString())).map((m) => m.file.name), pending: files.filter((m) => !applied.has(m.version.toString())).map((m) => m.file.name) };
    },
    statusAtOlder: { applied: ['00001_create_users.sql', '00002_users_name.sql'], pending: ['00003_tags.sql', '00004_tags_label_index.sql'] },
    rows: 'SELECT id, version_id::text AS version_id, is_applied, tstamp FROM goose_db_version ORDER BY id',
    key: 'version_id',
    tablesAtOlder: ['goose_db_version', 'users'],
    seed: SEED_USERS_TAGS,
    refusal: {
      what: 'a file with no Down section (goose would delete its row running nothing)',
      source: () => {
        const tags = readFileSync(join(gooseSource, '00003_tags.sql'), 'utf8');
        return variant(gooseSource, { drop: ['00003_tags.sql'], add: { '00003_tags.sql': tags.slice(0, tags.indexOf('-- +goose Down')) } });
      },
      message: /track main: 3 -> 2: no down -- \+goose Down section in 00003_tags\.sql in .*; goose would move the table past 3 running nothing/,
      fix: /pass --allow-missing-downs to move past them as goose does/,
      optIn: { args: ['--allow-missing-downs', '--dry-run'], shows: /^main\s+3 -> 2\s+no down file/m },
    },
  },
];

/** Chart sql-app 1.0.0 and 2.0.0, each declaring the tool's one track at its revision. */
function chartVersions(c: SqlToolCase): ChartVersion[] {
  const contract = (revision: string) => ({
    'schema-rollback.io/tool': c.tool,
    'schema-rollback.io/revision': revision,
    'schema-rollback.io/workload': 'deployment/{{ .Release.Name }}-app',
    'schema-rollback.io/stop': 'deployment/{{ .Release.Name }}-app',
  });
  return [
    { version: '1.0.0', appVersion: '1.0.0', annotations: contract(c.older) },
    { version: '2.0.0', appVersion: '2.0.0', annotations: contract(c.newer) },
  ];
}

/** Every user schema but the plugin's copy of the data at risk. */
async function appSchema(url: string): Promise<SchemaSnapshot> {
  const snapshot = await schemaSnapshot(url);
  const app = (lines: string[]) => lines.filter((l) => !l.startsWith(ARCHIVE_SCHEMA));
  return { columns: app(snapshot.columns), indexes: app(snapshot.indexes), constraints: app(snapshot.constraints), functions: app(snapshot.functions) };
}

const publicTables = async (url: string) =>
  (await query<{ t: string }>(url, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).map((r) => r.t);

for (const c of cases) {
  for (const helm of c.helms) {
    describe(`e2e rollback, sql-file tools: ${c.tool} through ${helm.label}`, function () {
      this.timeout(300_000);
      let world: World;
      let url: string;
      /** The database as the tool left it at 2.0.0's revision, read before anything ran. */
      let migrated: { rows: Array<Record<string, unknown>>; schema: SchemaSnapshot; status: ToolStatus };
      const sr = (args: string[]): Promise<RunResult> => world.plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });
      const rollback = (source: string, ...more: string[]) => sr([RELEASE, '--to', '1.0.0', '--source', source, ...more]);
      const rows = () => query<Record<string, unknown>>(url, c.rows);
      const history = async () => JSON.parse((await world.plugin.helm(['history', RELEASE, '-n', NS, '-o', 'json'])).stdout).map((h: { chart: string }) => h.chart);
      const replicas = async () => (await run(kubectl, ['get', 'deployment', `${RELEASE}-app`, '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: world.plugin.env })).stdout;

      before(async function () {
        if (!c.installed()) this.skip();
        world = await startWorld(helm.bin, `hsr-sql-${c.tool}-`, { charts: [] });
        url = world.db.url;
        const charts = materializeChartVersions(join(FIXTURE_CHARTS, 'sql-app'), makeTempDir('hsr-sql-app-'), chartVersions(c));
        await world.repo.publish(charts.map((path) => ({ path })));
        await world.helmOk(['repo', 'update', 'fixtures']);
        await world.helmOk(['install', RELEASE, 'fixtures/sql-app', '--version', '2.0.0', '-n', NS, '--create-namespace', '--set', `database.url=${url}`]);
        await c.up(url, c.source);
        await query(url, c.seed);
        migrated = { rows: await rows(), schema: await appSchema(url), status: await c.status(url, c.source) };
        assert.deepEqual(migrated.status.pending, [], `${c.tool} up left migrations pending`);
      });

      after(async () => {
        await world?.close();
      });

      it(`refuses ${c.refusal.what}, naming it and the fix (exit 12), changing nothing`, async () => {
        const source = c.refusal.source();
        const r = await rollback(source, '--yes');
        assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, c.refusal.message);
        assert.match(r.stderr, c.refusal.fix);
        assert.deepEqual(await rows(), migrated.rows);
        assert.deepEqual(await appSchema(url), migrated.schema);
        assert.deepEqual(await history(), ['sql-app-2.0.0']);
        assert.equal(await replicas(), '2');
        if (c.refusal.optIn) {
          const allowed = await rollback(source, ...c.refusal.optIn.args);
          assert.equal(allowed.exitCode, 0, `${allowed.stdout}\n${allowed.stderr}`);
          assert.match(allowed.stdout, c.refusal.optIn.shows);
          assert.deepEqual(await rows(), migrated.rows);
        }
      });

      it(`rolls back natively to chart 1.0.0: ${c.tool}'s own status agrees, its table keeps exactly the rows it would`, async () => {
        const r = await rollback(c.source, '--yes');
        assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
        const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(r.stdout, new RegExp(`^main\\s+${esc(c.tool)}\\s+${esc(c.newer)}\\s+${esc(c.older)}\\s+${esc(c.reverts.join(', '))}\\s+native$`, 'm'));
        assert.match(r.stderr, new RegExp(`scaled deployment/${RELEASE}-app 2 -> 0`));
        assert.deepEqual(await history(), ['sql-app-2.0.0', 'sql-app-1.0.0']);
        assert.equal(await replicas(), '2', 'chart 1.0.0 renders the replicas back');

        assert.deepEqual(await c.status(url, c.source), c.statusAtOlder);
        // The tool's bookkeeping deletes the reverted migrations' rows and touches no other: the
        // rows left are the rows from before, every column (ids, timestamps) as it was.
        const after = await rows();
        assert.deepEqual(after, migrated.rows.filter((row) => !c.reverts.includes(String(row[c.key]))));
        assert.deepEqual(await publicTables(url), c.tablesAtOlder);
        assert.deepEqual(await query(url, 'SELECT id FROM users ORDER BY id'), [{ id: 1 }, { id: 2 }]);
      });

      it(`${c.tool}'s own up then re-applies cleanly, to the schema from before the rollback`, async () => {
        await c.up(url, c.source);
        assert.deepEqual(await c.status(url, c.source), migrated.status);
        assert.deepEqual((await rows()).map((row) => String(row[c.key])), migrated.rows.map((row) => String(row[c.key])));
        assert.deepEqual(await appSchema(url), migrated.schema);
        assert.deepEqual(await query(url, 'SELECT id FROM users ORDER BY id'), [{ id: 1 }, { id: 2 }]);
      });
    });
  }
}
