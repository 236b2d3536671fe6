/** `helm schema-rollback status RELEASE`: each track, chart against database. */
import type { Argv } from 'yargs';
import { status, type RunStatus, type StatusReport, type TrackStatus } from '../../core/status.js';
import type { RunRecord } from '../../core/ports.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { contractOverrideOptions, databaseOptions, overridesFrom, portForwardFrom, type ContractFlags } from '../options.js';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo, UsageCheckedCommand } from '../app.js';
import { checkReleaseName } from '../usage.js';

interface StatusFlags extends GlobalFlags, ContractFlags {
  release: string;
  output: OutputFormat;
}

export function statusCommand(io: CommandIo): UsageCheckedCommand<GlobalFlags, StatusFlags> {
  return {
    command: 'status <release>',
    describe: "Show each migration track's revision: what the release's chart expects, what the database holds",
    builder: (y: Argv<GlobalFlags>) =>
      contractOverrideOptions(databaseOptions(y))
        .positional('release', { type: 'string', describe: 'Helm release name', demandOption: true })
        .example(exampleLines(EXAMPLES.status)) as unknown as Argv<StatusFlags>,
    checkUsage: (argv: StatusFlags) => {
      if (typeof argv.release === 'string') checkReleaseName(argv.release);
    },
    handler: async (argv: StatusFlags) => {
      const ctx = createContext(argv, io.env, io.stderr, io.secrets);
      const report = await status(ctx, {
        release: argv.release,
        overrides: overridesFrom(argv),
        databaseUrl: argv.databaseUrl,
        databaseUrlFromEnv: ctx.databaseUrlFromEnv,
        portForward: portForwardFrom(argv),
      });
      io.stdout.write(argv.output === 'table' ? renderStatus(report) : renderData('Status', report, argv.output));
    },
  };
}

export function renderStatus(report: StatusReport): string {
  const r = report.release;
  const head = [
    `Release ${r.name} (namespace ${r.namespace}): chart ${r.chart} ${r.version}, revision ${r.revision}, ${r.status}`,
    `Contract from ${report.contractSource}; database URL from ${report.databaseUrlSource}`,
    ...(report.databaseRoute === 'direct' ? [] : [`Database reached through ${report.databaseRoute}`]),
    // Before the table: a run in flight makes the table a moment of it, not something to repair.
    ...(report.run ? ['', ...runLines(report.run, r.name), ''] : []),
  ].map((line) => `${line}\n`).join('');
  const rows = report.tracks.map((t) => [t.track, t.tool, t.schema ? `${t.schema}.${t.table}` : t.table, t.chartRevision ?? '?', dbColumn(t), t.dirty ? 'yes' : 'no', stepColumn(t)]);
  return head + renderTable(['TRACK', 'TOOL', 'TABLE', 'CHART', 'DATABASE', 'DIRTY', 'IN STEP'], rows);
}

/**
 * The release's rollback run from its record: who runs it and which step it is on, or how the last
 * one ended, with the repairs it left and the command that finishes the job.
 */
export function runLines(run: RunStatus, release: string): string[] {
  const r = run.record;
  const unreadable = run.unreadable === undefined ? [] : [`  (its run record could not be read: ${run.unreadable})`];
  if (run.inProgress) {
    const wait = `  the tables below are mid-run: do not repair or force anything meanwhile; wait for it to end (a run that dies frees its lock by itself)`;
    // A record from an earlier run while the lock is held: the new run has not written its own yet.
    if (r?.state !== 'running') return [`Rollback of ${release} in progress (its database lock is held); it has not written its run record yet`, ...unreadable, wait];
    const step = r.steps.at(-1);
    return [`Rollback in progress by ${r.holder} since ${r.since} (to chart ${r.to})${step ? `; step: ${step.name} (started ${step.started})` : '; no step started yet'}`, wait];
  }
  if (r === null) return [`Run record of ${release} not readable: ${run.unreadable ?? 'unknown'}; no rollback is in progress (its database lock is free)`];
  const step = r.steps.at(-1);
  const repairs = Object.entries(r.repairs ?? {});
  return [
    `Last rollback by ${r.holder} since ${r.since} (to chart ${r.to}) did not finish: ${endedAs(r)}${step ? ` at step ${step.name}` : ''}`,
    ...repairs.map(([track, repair]) => `  repair ${track}: ${repair}`),
    `  Next: ${repairs.length > 0 ? 'repair as said above, then ' : ''}${r.next ?? `run the rollback to ${r.to} again, with the same flags`}; a re-run continues from where the database is (tracks at their target are skipped)`,
  ];
}

function endedAs(r: RunRecord): string {
  switch (r.state) {
    case 'failed': return 'failed';
    case 'interrupted': return 'interrupted';
    case 'handoff-failed': return 'the hand-off (helm upgrade) failed after the downs';
    // The lock is free, yet the record was never closed: the process was killed or its machine lost.
    case 'running': return 'its process ended without closing the record (killed, or its machine lost)';
  }
}

function dbColumn(t: TrackStatus): string {
  if (!t.tableExists) return '(no table)';
  return t.databaseRevisions.length === 0 ? 'base' : t.databaseRevisions.join(',');
}

function stepColumn(t: TrackStatus): string {
  return t.inStep === undefined ? 'unknown' : t.inStep ? 'yes' : 'no';
}
