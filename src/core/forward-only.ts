/**
 * Rolling back a release whose schema only moves forward (GORM AutoMigrate, Prisma/TypeORM
 * synchronize, a chart that says so with schema-rollback.io/forward-only or --forward-only). There
 * are no downs; two honest paths, both from the snapshot of the target version
 * (src/core/snapshot.ts):
 *
 * - restore (default): the plan shows what is lost (rows written since, per table; tables and
 *   columns created since); then the workloads that migrate on start are stopped, the snapshot is
 *   restored over the live database in one transaction, and `helm upgrade --version TARGET` hands off.
 * - keep the newer schema (--keep-schema): hand off only, once the older code is found able to
 *   write the newer schema (compatibilityBlockers); refused otherwise, naming each blocker.
 *
 * gather() reads, plan() is pure, execute() acts under the release's run lock.
 */
import { valid as semverValid, gte as semverGte } from 'semver';
import { parseContract } from './contract.js';
import { splitRef } from './database-url.js';
import { CommandFailedError, HandoffFailedError, InterruptedError, RefusedError } from './errors.js';
import type { ChartInfo, ChartPort, HelmPort, HelmUpgradePort, KubeScalePort, ReleaseInfo, UpgradeRequest } from './ports.js';
import { helmSays } from './rollback.js';
import { planStops, restartWorkloads, stopWorkloads, type WorkloadStop } from './workload-stops.js';
import { checkRunLockFree, RunJournal, takeRunLock } from './run-lock.js';
import {
  compatibilityBlockers, contentChecksum, countRows, IGNORED_SCHEMAS, planLoss, readCatalog, rowsLost,
  type Catalog, type CompatibilityBlocker, type SchemaLoss,
} from './schema-catalog.js';
import { checkPodClient, openReleaseDatabase, passwordsApart, runInPod, serverFacts, withDatabase, type DatabaseAccess, type SnapshotDeps, type SnapshotRecord } from './snapshot.js';
import { inStep, type StepListener } from './steps.js';
import type { SqlClient } from './ports.js';

export interface ForwardOnlyDeps extends SnapshotDeps {
  helm: HelmPort & ChartPort & HelmUpgradePort;
  kube: SnapshotDeps['kube'] & KubeScalePort;
}

export interface ForwardOnlyOptions extends DatabaseAccess {
  release: string;
  to: string;
  chart?: string;
  keepSchema: boolean;
  /** --forward-only: for a chart that does not say so. */
  flagged: boolean;
  /** --stop: replaces the chart's schema-rollback.io/stop. */
  stop?: string[];
  extraHelmArgs: string[];
  progress?: StepListener;
}

/** What gather() read; nothing was changed. */
export interface ForwardOnlyFacts {
  release: ReleaseInfo;
  target: ChartInfo & { ref: string };
  engine: string;
  /** The snapshot of the target version, if the release has one. */
  snapshot?: SnapshotRecord;
  /** The snapshot's schema (and rows, for a restore), and the live database's. */
  snapshotCatalog?: Catalog;
  live?: Catalog;
  keepSchema: boolean;
  stop: WorkloadStop[];
  handoff: UpgradeRequest;
  /** helm upgrade --dry-run=server's complaint, if any. */
  handoffProblem?: string;
  pod: string;
  databaseUrlSource: string;
  databaseRoute: string;
  /** Statements that empty the live database before the snapshot is loaded (one transaction with the load). */
  clearStatements: string[];
}

export type ForwardOnlyPlan =
  | { kind: 'restore'; facts: ForwardOnlyFacts; snapshot: SnapshotRecord; loss: SchemaLoss; rowsLost: number }
  | { kind: 'keep-schema'; facts: ForwardOnlyFacts; snapshot: SnapshotRecord };

/** The engine, from the chart's annotation or --forward-only. */
export function forwardOnlyEngine(release: ReleaseInfo, flagged: boolean): string | undefined {
  const contract = parseContract(release.annotations, `chart ${release.chart} ${release.version} (release ${release.name})`);
  return contract?.forwardOnly?.engine ?? (flagged ? 'declared by --forward-only' : undefined);
}

export interface Gathered {
  facts: ForwardOnlyFacts;
  /** The URLs: kept out of the facts, so that printing a plan can never print them. */
  appUrl: string;
  url: string;
  dbContainer?: string;
  close(): Promise<void>;
}

export async function gather(deps: ForwardOnlyDeps, opts: ForwardOnlyOptions): Promise<Gathered> {
  const progress = opts.progress;
  const { release, target } = await inStep(progress, `reading release ${opts.release} and chart version ${opts.to}`, async () => {
    const release = await deps.helm.getRelease(opts.release);
    checkOlder(release, opts.to);
    const ref = opts.chart ?? (await deps.helm.findChartRef(release.chart));
    return { release, target: { ...(await deps.helm.showChart(ref, opts.to)), ref } };
  }, (r) => ({ detail: `chart ${r.release.chart} ${r.release.version} -> ${r.target.version}` }));
  const engine = forwardOnlyEngine(release, opts.flagged) ?? 'the newer schema kept (--keep-schema)';
  const snapshot = (await deps.snapshots.list(release.name)).find((s) => s.chartVersion === opts.to);
  const opened = await openReleaseDatabase(deps, release, opts, progress);
  try {
    const session = opened.route.session;
    let live: Catalog | undefined;
    let snapshotCatalog: Catalog | undefined;
    let clearStatements: string[] = [];
    try {
      await checkRunLockFree(session, { namespace: release.namespace, release: release.name, records: deps.runRecords });
      if (snapshot) {
        const count = !opts.keepSchema;
        live = await inStep(progress, 'reading the live schema' + (count ? ' and counting its rows' : ''), async () => {
          const c = await readCatalog(session);
          return count ? countRows(session, c) : c;
        });
        snapshotCatalog = await inStep(progress, `reading snapshot ${snapshot.database}`, () => readSnapshot(deps, opened.route.url, snapshot, count));
        if (count) {
          clearStatements = await clearLiveStatements(session);
          await checkPodClient(deps, opened.pod, opts.dbContainer, (await serverFacts(session)).major);
        }
      }
    } finally {
      await session.close();
    }
    const handoff: UpgradeRequest = { release: release.name, chart: target.ref, version: opts.to, reuseValues: 'reset-then-reuse', extra: opts.extraHelmArgs };
    const handoffProblem = await inStep(progress, `checking the hand-off to chart ${opts.to} (a dry run on the server)`, () => checkHandoff(deps, handoff), (p) => ({ ok: p === undefined }));
    // Read at once; a workload at 0 that an earlier run stopped (interrupted before the restore) gets back what it had then.
    const [read, previousRun] = await Promise.all([
      Promise.all((opts.stop ?? opened.stop).map(async (ref) => ({ ref, replicas: await deps.kube.getReplicas(...splitRef(ref)) }))),
      deps.runRecords.read(release.name),
    ]);
    const stop = planStops(read, previousRun);
    const facts: ForwardOnlyFacts = {
      release, target, engine, snapshot, snapshotCatalog, live, keepSchema: opts.keepSchema, stop, handoff, handoffProblem,
      pod: opened.pod, databaseUrlSource: opened.urlSource, databaseRoute: opened.route.via, clearStatements,
    };
    return { facts, appUrl: opened.appUrl, url: opened.route.url, dbContainer: opts.dbContainer, close: () => opened.route.close() };
  } catch (err) {
    await opened.route.close();
    throw err;
  }
}

/** Pure: the plan, or a RefusedError listing every reason. */
export function plan(facts: ForwardOnlyFacts): ForwardOnlyPlan {
  const { release, snapshot } = facts;
  const reasons: string[] = [];
  let hint: string | undefined;
  if (!snapshot) {
    reasons.push(`release ${release.name} has no snapshot of chart ${facts.target.version}: its ${facts.engine} schema has no downs, and there is nothing to restore or to check the older code against`);
    hint = `take a snapshot before each upgrade: "helm schema-rollback snapshot ${release.name}" while the release runs the version to come back to. ` +
      `Without one: restore your own backup and run helm upgrade ${release.name} ${facts.target.ref} --version ${facts.target.version}, or keep the newer schema by that helm upgrade alone after checking by hand that the older code can write it`;
  }
  if (facts.handoffProblem) reasons.push(facts.handoffProblem);
  if (snapshot && facts.keepSchema) {
    const blockers = compatibilityBlockers(facts.snapshotCatalog!, facts.live!);
    reasons.push(...blockers.map(describeBlocker));
    if (blockers.length > 0) hint = `make the newer schema writable by chart ${facts.target.version}'s code (each fix above), then run again; or restore the snapshot: the same command without --keep-schema`;
  }
  if (reasons.length > 0) throw new RefusedError(reasons, hint ?? 'fix what helm names, then run again');
  if (facts.keepSchema) return { kind: 'keep-schema', facts, snapshot: snapshot! };
  const loss = planLoss(facts.snapshotCatalog!, facts.live!);
  return { kind: 'restore', facts, snapshot: snapshot!, loss, rowsLost: rowsLost(loss) };
}

export function describeBlocker(b: CompatibilityBlocker): string {
  return `${b.what}: ${b.why} (fix: ${b.fix})`;
}

export type ForwardOnlyEvent =
  | { type: 'scaled'; ref: string; from: number; to: number }
  | { type: 'restored'; database: string; snapshot: string }
  | { type: 'handoff:start'; argv: string[] }
  | { type: 'handoff:output'; line: string }
  | { type: 'warning'; message: string };

export interface ForwardOnlyControl {
  stop: AbortSignal;
  holder: string;
  rerun: string;
  progress?: StepListener;
}

/** Carries out the plan under the release's run lock; every way out says where things stand. */
export async function execute(deps: ForwardOnlyDeps, g: Gathered, p: ForwardOnlyPlan, emit: (e: ForwardOnlyEvent) => void, control: ForwardOnlyControl): Promise<void> {
  const { release } = p.facts;
  const lock = await takeRunLock(deps.connector, g.url, { namespace: release.namespace, release: release.name, records: deps.runRecords });
  try {
    const journal = new RunJournal(deps.runRecords, {
      release: release.name, namespace: release.namespace, holder: control.holder, since: new Date().toISOString(),
      from: release.version, to: p.facts.target.version, state: 'running', stopped: p.facts.stop, steps: [],
    }, deps.log, (message) => emit({ type: 'warning', message }));
    await journal.open();
    if (p.kind === 'restore') await restoreSnapshot(deps, g, p, journal, emit, control);
    await handOff(deps, p, journal, emit, control);
    await journal.finish();
  } finally {
    await lock.release();
  }
}

async function restoreSnapshot(deps: ForwardOnlyDeps, g: Gathered, p: Extract<ForwardOnlyPlan, { kind: 'restore' }>, journal: RunJournal, emit: (e: ForwardOnlyEvent) => void, control: ForwardOnlyControl): Promise<void> {
  const { snapshot, facts } = p;
  await inStep(control.progress, `checking snapshot ${snapshot.database} is as taken`, async () => {
    const now = await checksumOf(deps, g.url, snapshot.database);
    if (now !== snapshot.checksum) {
      throw new RefusedError([`snapshot ${snapshot.database} changed since it was taken (checksum ${now}, recorded ${snapshot.checksum}): nothing was changed`],
        'something wrote to the snapshot database; take no chances with it: restore your own backup, or keep the newer schema with --keep-schema');
    }
  });
  const scaled: WorkloadStop[] = [];
  try {
    await stopWorkloads(deps.kube, facts.stop, scaled, journal, emit, (what) => {
      if (control.stop.aborted) throw new InterruptedError(`interrupted before ${what}`, { hint: control.rerun });
    });
    if (control.stop.aborted) throw new InterruptedError('interrupted before the restore', { hint: control.rerun });
    const step = await journal.begin(`restore ${snapshot.database} into ${snapshot.source}`);
    await inStep(control.progress, `restoring ${snapshot.database} into ${snapshot.source} (one transaction, psql in pod ${facts.pod})`,
      () => runInPod(deps, facts.pod, g.dbContainer, restoreScript(facts.clearStatements), passwordsApart(withDatabase(g.appUrl, snapshot.database), g.appUrl), 'the restore'));
    await journal.end(step, 'ok');
    emit({ type: 'restored', database: snapshot.source, snapshot: snapshot.database });
  } catch (err) {
    // The restore is one transaction: the live database is as it was, so the app may run again.
    await restartWorkloads(deps.kube, scaled, emit, deps.log);
    await journal.close(err instanceof InterruptedError ? 'interrupted' : 'failed', { next: control.rerun });
    throw err;
  }
}

async function handOff(deps: ForwardOnlyDeps, p: ForwardOnlyPlan, journal: RunJournal, emit: (e: ForwardOnlyEvent) => void, control: ForwardOnlyControl): Promise<void> {
  const h = p.facts.handoff;
  const name = `helm upgrade ${h.release} ${h.chart} --version ${h.version}`;
  const entry = await journal.begin(name);
  emit({ type: 'handoff:start', argv: ['helm', 'upgrade', h.release, h.chart, '--version', h.version] });
  try {
    await inStep(control.progress, name, () => deps.helm.upgrade(h, (line) => emit({ type: 'handoff:output', line })));
  } catch (err) {
    await journal.end(entry, 'failed', err instanceof Error ? err.message : String(err));
    await journal.close('handoff-failed', { next: control.rerun });
    const said = err instanceof CommandFailedError ? `helm upgrade failed: ${helmSays(err.stderr)}` : err instanceof Error ? err.message : String(err);
    // After a restore the workloads stay at 0: the newer code would migrate the restored schema forward again.
    throw new HandoffFailedError(said, `fix what helm names, then run ${name} yourself${p.kind === 'restore' ? ' (the snapshot is restored; the stopped workloads stay at 0 until then)' : ''}`, err);
  }
  await journal.end(entry, 'ok');
}

/**
 * psql loads a plain dump of the snapshot into the live database after the statements that empty
 * it, all with --single-transaction: any error rolls the whole restore back.
 */
export function restoreScript(clear: readonly string[]): string {
  const sql = clear.join('\n').replace(/'/g, `'\\''`);
  return [
    'IFS= read -r snap; IFS= read -r snap_pw; IFS= read -r live; IFS= read -r live_pw',
    'exec 4>&1',
    `dump=$( { { PGPASSWORD="$snap_pw" pg_dump --format=plain --no-owner --dbname="$snap"; echo $? >&3; } | PGPASSWORD="$live_pw" psql -X -q -v ON_ERROR_STOP=1 --single-transaction --dbname="$live" -c '${sql}' -f - >&4; } 3>&1 ); load=$?`,
    'if [ "$dump" != 0 ] || [ "$load" != 0 ]; then echo "pg_dump exited $dump, psql exited $load: the transaction was rolled back" >&2; exit 1; fi',
  ].join('\n');
}

/**
 * What empties the live database for the load: every user schema but public is dropped (the dump
 * creates the snapshot's again); in public, which the dump does not create, each table, view,
 * sequence, type and routine that is not an extension's. The plugin's archive schema is kept.
 */
export async function clearLiveStatements(db: SqlClient): Promise<string[]> {
  const ignored = IGNORED_SCHEMAS.map((s) => `'${s}'`).join(', ');
  const notExtension = (cls: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
  const { rows } = await db.query<{ stmt: string }>(
    `SELECT format('DROP SCHEMA IF EXISTS %I CASCADE;', n.nspname) AS stmt FROM pg_namespace n
      WHERE n.nspname NOT IN (${ignored}, 'public') AND n.nspname !~ '^pg_' AND ${notExtension('pg_namespace', 'n.oid')}
     UNION ALL
     SELECT format('DROP %s IF EXISTS public.%I CASCADE;', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.relname)
       FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${notExtension('pg_class', 'c.oid')}
     UNION ALL
     SELECT format('DROP %s IF EXISTS public.%I CASCADE;', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.typname)
       FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'c') AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
        AND ${notExtension('pg_type', 't.oid')}
     UNION ALL
     SELECT format('DROP %s IF EXISTS public.%I(%s) CASCADE;', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.proname, pg_get_function_identity_arguments(p.oid))
       FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND ${notExtension('pg_proc', 'p.oid')}`,
  );
  return rows.map((r) => r.stmt);
}

async function readSnapshot(deps: SnapshotDeps, url: string, snapshot: SnapshotRecord, count: boolean): Promise<Catalog> {
  const db = await deps.connector.connect(withDatabase(url, snapshot.database)).catch((err: unknown) => {
    throw new RefusedError([`snapshot ${snapshot.database} of chart ${snapshot.chartVersion} is recorded but cannot be opened: ${err instanceof Error ? err.message : String(err)}`],
      'take the snapshot again only if the release runs that version; otherwise restore your own backup');
  });
  try {
    const c = await readCatalog(db);
    return count ? await countRows(db, c) : c;
  } finally {
    await db.close();
  }
}

async function checksumOf(deps: SnapshotDeps, url: string, database: string): Promise<string> {
  const db = await deps.connector.connect(withDatabase(url, database));
  try {
    return await contentChecksum(db, await readCatalog(db));
  } finally {
    await db.close();
  }
}

async function checkHandoff(deps: ForwardOnlyDeps, handoff: UpgradeRequest): Promise<string | undefined> {
  try {
    await deps.helm.checkUpgrade(handoff);
    return undefined;
  } catch (err) {
    if (!(err instanceof CommandFailedError)) throw err;
    return `the hand-off would fail: helm upgrade ${handoff.release} ${handoff.chart} --version ${handoff.version} --dry-run=server says: ${helmSays(err.stderr)}`;
  }
}

function checkOlder(release: ReleaseInfo, to: string): void {
  if (semverValid(to) && semverValid(release.version) && semverGte(to, release.version)) {
    throw new RefusedError([`chart version ${to} is not older than the release's ${release.version}: nothing to roll back`],
      `to snapshot the current version before an upgrade, run helm schema-rollback snapshot ${release.name}`);
  }
}

