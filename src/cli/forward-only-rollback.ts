/**
 * The rollback of a forward-only schema (src/core/forward-only.ts), for the rollback command: the
 * plan for people, the question, the run. Taken when the chart says schema-rollback.io/forward-only,
 * or with --forward-only or --keep-schema.
 */
import { ExitCode, RollbackError } from '../core/errors.js';
import { execute, gather, plan as planForwardOnly, type ForwardOnlyEvent, type ForwardOnlyOptions, type ForwardOnlyPlan } from '../core/forward-only.js';
import { formatBytes, formatCount } from '../core/data-at-risk.js';
import type { StepEvent } from '../core/steps.js';
import type { CommandIo } from './app.js';
import type { Context } from './context.js';
import { watchInterrupts } from './interrupts.js';
import { renderData, renderTable, type OutputFormat } from './output.js';
import { progressFor, type ColorFlag } from './progress.js';
import { askConfirmation } from './prompt.js';

export async function runForwardOnlyRollback(
  io: CommandIo,
  ctx: Context,
  opts: Omit<ForwardOnlyOptions, 'progress'>,
  flags: { dryRun?: boolean; yes?: boolean; color?: ColorFlag; rerun: string; output: OutputFormat },
): Promise<void> {
  const interrupts = watchInterrupts(io.stderr);
  const progress = progressFor(io.stderr, io.env, flags.color);
  const onStep = (e: StepEvent) => (e.type === 'step:start' ? progress.start(e.step) : progress.end(e.step, e.outcome, e.detail));
  try {
    const gathered = await gather(ctx, { ...opts, progress: onStep });
    try {
      const plan = planForwardOnly(gathered.facts);
      io.stdout.write(flags.output === 'table' ? renderForwardOnlyPlan(plan) : renderData('ForwardOnlyPlan', forwardOnlyPlanData(plan), flags.output));
      if (flags.dryRun) return void io.stderr.write('dry run: nothing was changed\n');
      if (!flags.yes && !(await confirm(io, plan))) {
        throw new RollbackError(ExitCode.aborted, 'not confirmed: nothing was changed', { hint: 'type the release name (or answer y for --keep-schema), or pass --yes to run without asking' });
      }
      interrupts.acting();
      await execute(ctx, gathered, plan, (e) => progress.write(describe(e)), { stop: interrupts.stop, holder: ctx.holder, rerun: flags.rerun, progress: onStep });
      io.stdout.write(flags.output === 'table'
        ? `Rolled back ${plan.facts.release.name} to chart ${plan.facts.target.name} ${plan.facts.target.version}${plan.kind === 'restore' ? ` with snapshot ${plan.snapshot.database}` : ', keeping the newer schema'}.\n`
        // The second document, as after a rollback with downs (README "Output for scripts").
        : `${flags.output === 'yaml' ? '---\n' : ''}${renderData('Result', forwardOnlyResultData(plan), flags.output)}`);
    } finally {
      await gathered.close();
    }
  } finally {
    progress.dispose();
    interrupts.dispose();
  }
}

export function renderForwardOnlyPlan(p: ForwardOnlyPlan): string {
  const { release: r, target, snapshot, engine } = { ...p.facts, snapshot: p.snapshot };
  const head = [
    `Release ${r.name} (namespace ${r.namespace}): chart ${r.chart} ${r.version} -> ${target.version} (${target.ref})`,
    `Schema: forward-only (${engine}): no downs; snapshot of chart ${snapshot.chartVersion} is database ${snapshot.database} (${formatBytes(snapshot.bytes)}, taken ${snapshot.takenAt} by ${snapshot.takenBy})`,
    `Database URL from ${p.facts.databaseUrlSource}${p.facts.databaseRoute === 'direct' ? '' : `; reached through ${p.facts.databaseRoute}`}`,
    '',
  ];
  const handoff = `helm upgrade ${p.facts.handoff.release} ${p.facts.handoff.chart} --version ${p.facts.handoff.version} (values kept)`;
  if (p.kind === 'keep-schema') {
    return [...head, '-- What changes: only the chart; the newer schema is kept (--keep-schema)',
      `Checked against the snapshot's schema: chart ${target.version}'s code can still write every table it knows (no table or column dropped or renamed, no NOT NULL column without a default added, no type narrowed)`,
      '', '-- What runs', `  ${handoff}`, ''].join('\n');
  }
  const l = p.loss;
  const rows = [
    ...l.tables.map((t) => [t.table, formatCount(t.liveRows), formatCount(t.snapshotRows), t.lost > 0 ? `${formatCount(t.lost)} rows written since` : 'none']),
    ...l.created.map((t) => [t.table, formatCount(t.rows), '-', `table created since: dropped with its ${formatCount(t.rows)} rows`]),
    ...l.restored.map((t) => [t.table, '-', formatCount(t.rows), 'table dropped since: comes back']),
  ];
  const stops = p.facts.stop.map((s) => `  scale ${s.ref} ${s.replicas}->0`);
  return [
    ...head,
    `-- What is lost: the database goes back to the snapshot: ${formatCount(p.rowsLost)} rows written since (net per table; rows updated since go back too, uncounted)`,
    renderTable(['TABLE', 'LIVE ROWS', 'SNAPSHOT ROWS', 'LOST'], rows).trimEnd(),
    ...l.columns.map((c) => `  column ${c.table}.${c.column} (${c.type}) created since: dropped with its values`),
    '',
    '-- What runs',
    ...(stops.length > 0 ? stops : ['  nothing is stopped (no --stop, no schema-rollback.io/stop): an app writing meanwhile loses those writes too']),
    `  restore ${snapshot.database} into ${snapshot.source} in one transaction (psql in pod ${p.facts.pod}); a failure changes nothing and starts the workloads again`,
    `  ${handoff}`,
    '',
  ].join('\n');
}

/** The plan for programs (schemas/forward-only-plan.v1.json): what renderForwardOnlyPlan shows, never a URL. */
export function forwardOnlyPlanData(p: ForwardOnlyPlan): object {
  const { release: r, target, engine, handoff } = p.facts;
  const s = p.snapshot;
  return {
    mode: p.kind,
    release: { name: r.name, namespace: r.namespace, chart: r.chart, version: r.version },
    target: { name: target.name, version: target.version, ref: target.ref },
    engine,
    snapshot: { database: s.database, chartVersion: s.chartVersion, takenAt: s.takenAt, takenBy: s.takenBy, bytes: s.bytes },
    databaseUrlSource: p.facts.databaseUrlSource,
    databaseRoute: p.facts.databaseRoute,
    ...(p.kind === 'restore' ? { pod: p.facts.pod } : {}),
    stop: p.facts.stop.map((w) => ({ ref: w.ref, replicas: w.replicas })),
    ...(p.kind === 'restore' ? { loss: { rowsLost: p.rowsLost, ...p.loss } } : {}),
    handoff: { release: handoff.release, chart: handoff.chart, version: handoff.version },
  };
}

/** What a finished forward-only run did (schemas/result.v1.json): no track moved, the snapshot restored or kept. */
export function forwardOnlyResultData(p: ForwardOnlyPlan): object {
  const { release, target, handoff } = p.facts;
  return {
    release: { name: release.name, namespace: release.namespace },
    chart: { name: target.name, from: release.version, to: target.version },
    tracks: [],
    handoff: { release: handoff.release, chart: handoff.chart, version: handoff.version },
    forwardOnly: { mode: p.kind, snapshot: p.snapshot.database },
  };
}

function describe(e: ForwardOnlyEvent): string {
  switch (e.type) {
    case 'scaled': return `scaled ${e.ref} ${e.from} -> ${e.to}\n`;
    case 'restored': return `restored ${e.database} from snapshot ${e.snapshot}\n`;
    case 'handoff:start': return `${e.argv.join(' ')}\n`;
    case 'handoff:output': return `  helm | ${e.line}\n`;
    case 'warning': return `warning: ${e.message}\n`;
  }
}

async function confirm(io: CommandIo, p: ForwardOnlyPlan): Promise<boolean> {
  if (p.kind !== 'restore') return askConfirmation(io, 'Proceed? [y/N] ', (a) => /^y(es)?$/i.test(a));
  const question = `The restore loses ${formatCount(p.rowsLost)} rows written since the snapshot (listed above). Type the release name (${p.facts.release.name}) to proceed: `;
  return askConfirmation(io, question, (a) => a === p.facts.release.name);
}
