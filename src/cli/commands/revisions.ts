/** `helm schema-rollback revisions CHART [--versions RANGE]`: chart version → revision per track. */
import type { Argv, CommandModule } from 'yargs';
import { createPublishedCharts } from '../../adapters/published-charts.js';
import { revisions, type RevisionsReport } from '../../core/revisions.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo } from '../app.js';

interface RevisionsFlags extends GlobalFlags {
  chart: string;
  versions?: string;
  plainHttp?: boolean;
  fromPackages?: boolean;
  output: OutputFormat;
}

export function revisionsCommand(io: CommandIo): CommandModule<GlobalFlags, RevisionsFlags> {
  return {
    command: 'revisions <chart>',
    describe: 'List every published chart version with the revision each migration track expects (cached by chart digest)',
    builder: (y: Argv<GlobalFlags>) =>
      y
        .positional('chart', { type: 'string', describe: 'repo/chart (after helm repo add / update) or oci://REGISTRY/PATH/CHART', demandOption: true })
        .option('versions', { type: 'string', describe: 'Only versions in this semver range, e.g. "0.8.x" or ">=0.5.0 <1.0.0"' })
        .option('plain-http', { type: 'boolean', describe: 'Reach an oci:// registry over plain HTTP (as helm --plain-http)' })
        .option('from-packages', { type: 'boolean', describe: "Read each version's contract from its package's Chart.yaml, not from the repository index's copy of it (downloads every package once; cached by digest)" })
        .example(exampleLines(EXAMPLES.revisions)) as unknown as Argv<RevisionsFlags>,
    handler: async (argv: RevisionsFlags) => {
      const ctx = createContext(argv, io.env, io.stderr);
      const report = await revisions({ published: createPublishedCharts({ helm: ctx.helm, env: io.env, log: ctx.log, plainHttp: argv.plainHttp }), log: ctx.log }, { chart: argv.chart, versions: argv.versions, fromPackages: argv.fromPackages });
      io.stdout.write(argv.output === 'table' ? renderRevisions(report) : renderData('Revisions', report, argv.output));
    },
  };
}

export function renderRevisions(report: RevisionsReport): string {
  if (report.versions.length === 0) return `no version of ${report.chart} matches\n`;
  const notes = report.versions.some((v) => v.contract !== 'ok');
  const tools = new Map<string, Set<string>>(report.tracks.map((t) => [t, new Set()]));
  for (const v of report.versions) for (const [t, spec] of Object.entries(v.tracks)) tools.get(t)?.add(spec.tool);
  const headers = ['VERSION', 'APP VERSION', ...report.tracks.map((t) => t.toUpperCase()), ...(notes ? ['NOTE'] : [])];
  const rows = report.versions.map((v) => [
    v.version,
    v.appVersion ?? '',
    ...report.tracks.map((t) => v.tracks[t]?.revision ?? '-'),
    ...(notes ? [v.contract === 'ok' ? '' : v.contract === 'none' ? 'no contract' : `${v.contract} contract${v.problem ? `: ${v.problem}` : ''}`] : []),
  ]);
  const legend = report.tracks.map((t) => `${t} (${[...tools.get(t)!].join(', ')})`).join(', ');
  return `${renderTable(headers, rows)}\n${report.chart}: ${report.versions.length} versions${legend ? `; tracks: ${legend}` : ''}\n`;
}
