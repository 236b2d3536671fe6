/** `helm schema-rollback status RELEASE`: each track, chart against database. */
import type { Argv } from 'yargs';
import { status, type StatusReport, type TrackStatus } from '../../core/status.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { contractOverrideOptions, databaseOptions, overridesFrom, portForwardFrom, type ContractFlags } from '../options.js';
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
      contractOverrideOptions(databaseOptions(y)).positional('release', { type: 'string', describe: 'Helm release name', demandOption: true }) as unknown as Argv<StatusFlags>,
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
      io.stdout.write(argv.output === 'table' ? renderStatus(report) : renderData(report, argv.output));
    },
  };
}

export function renderStatus(report: StatusReport): string {
  const r = report.release;
  const head = [
    `Release ${r.name} (namespace ${r.namespace}): chart ${r.chart} ${r.version}, revision ${r.revision}, ${r.status}`,
    `Contract from ${report.contractSource}; database URL from ${report.databaseUrlSource}`,
    ...(report.databaseRoute === 'direct' ? [] : [`Database reached through ${report.databaseRoute}`]),
    '',
  ].join('\n');
  const rows = report.tracks.map((t) => [t.track, t.tool, t.schema ? `${t.schema}.${t.table}` : t.table, t.chartRevision ?? '?', dbColumn(t), t.dirty ? 'yes' : 'no', stepColumn(t)]);
  return head + renderTable(['TRACK', 'TOOL', 'TABLE', 'CHART', 'DATABASE', 'DIRTY', 'IN STEP'], rows);
}

function dbColumn(t: TrackStatus): string {
  if (!t.tableExists) return '(no table)';
  return t.databaseRevisions.length === 0 ? 'base' : t.databaseRevisions.join(',');
}

function stepColumn(t: TrackStatus): string {
  return t.inStep === undefined ? 'unknown' : t.inStep ? 'yes' : 'no';
}
