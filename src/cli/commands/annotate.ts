/** `helm schema-rollback annotate CHART_DIR --migrations DIR`: writes each track's head into Chart.yaml. */
import type { Argv, CommandModule } from 'yargs';
import { createChartFiles } from '../../adapters/chart-files.js';
import { createMigrationFiles } from '../../adapters/migration-files.js';
import { annotate, type AnnotateReport, type MigrationDirs } from '../../core/annotate.js';
import { UsageError } from '../../core/errors.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo } from '../app.js';
import { toolNames } from '../../tools/index.js';

interface AnnotateFlags extends GlobalFlags {
  chartDir: string;
  migrations?: string | string[];
  tool?: string;
  track?: string;
  branch?: string;
  check?: boolean;
  output: OutputFormat;
}

/** The --migrations option of annotate and verify. */
export function migrationsOption<T>(y: Argv<T>, demand: boolean) {
  // Not `array: true`: that would swallow the positional after it. Repeated, yargs collects an array.
  return y.option('migrations', {
    type: 'string',
    demandOption: demand ? 'give the migrations directory with --migrations DIR' : false,
    describe: 'Migrations directory (with several tracks: one subdirectory per track, named like the track); or TRACK=DIR, repeatable',
  });
}

/** DIR and TRACK=DIR values of --migrations. */
export function parseMigrationDirs(values: string | readonly string[] | undefined): MigrationDirs {
  const dirs: MigrationDirs = { byTrack: {} };
  for (const value of typeof values === 'string' ? [values] : (values ?? [])) {
    const pair = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(.+)$/.exec(value);
    if (pair) {
      if (dirs.byTrack[pair[1]!] !== undefined) throw new UsageError(`--migrations names track ${pair[1]} twice`);
      dirs.byTrack[pair[1]!] = pair[3]!;
    } else if (dirs.dir !== undefined) {
      throw new UsageError('--migrations gives two directories', { hint: 'give one directory (one subdirectory per track), or TRACK=DIR per track' });
    } else dirs.dir = value;
  }
  return dirs;
}

export function annotateCommand(io: CommandIo): CommandModule<GlobalFlags, AnnotateFlags> {
  return {
    command: 'annotate <chart-dir>',
    describe: "Write the head revision of each track's migrations into the chart's Chart.yaml (keeps comments, order and quoting)",
    builder: (y: Argv<GlobalFlags>) =>
      migrationsOption(y, true)
        .positional('chart-dir', { type: 'string', describe: 'Chart directory (holding Chart.yaml)', demandOption: true })
        .option('tool', { type: 'string', choices: toolNames, describe: 'Migration tool, for a chart without a contract yet' })
        .option('track', { type: 'string', describe: 'Only this track (default: every track of the contract)' })
        .option('branch', { type: 'string', describe: 'alembic: the branch label whose head this chart carries, when the history has several heads' })
        .option('check', { type: 'boolean', default: false, describe: 'Change nothing; fail (exit 18) when Chart.yaml would change' })
        .example(exampleLines(EXAMPLES.annotate)) as unknown as Argv<AnnotateFlags>,
    handler: async (argv: AnnotateFlags) => {
      const ctx = createContext(argv, io.env, io.stderr);
      const report = await annotate(
        { charts: createChartFiles(), migrations: createMigrationFiles(), tools: ctx.tools, log: ctx.log },
        { chartDir: argv.chartDir, migrations: parseMigrationDirs(argv.migrations), tool: argv.tool, track: argv.track, branch: argv.branch, check: argv.check === true },
      );
      io.stdout.write(argv.output === 'table' ? renderAnnotate(report, argv.check === true) : renderData('Annotation', report, argv.output));
    },
  };
}

export function renderAnnotate(report: AnnotateReport, check: boolean): string {
  const rows = report.tracks.map((t) => [t.track, t.tool, t.from ?? '(none)', t.to, t.migrations]);
  const table = renderTable(['TRACK', 'TOOL', 'CHART.YAML', 'HEAD', 'MIGRATIONS'], rows);
  const verdict = report.written
    ? `updated ${report.chartFile}: ${report.tracks.filter((t) => t.changed).map((t) => `${t.track} ${t.from ?? '(none)'} -> ${t.to}`).join(', ')}`
    : `${report.chartFile} already carries the head${report.tracks.length > 1 ? 's' : ''}${check ? '' : '; nothing changed'}`;
  return `Chart ${report.chart.name} ${report.chart.version}\n\n${table}\n${verdict}\n`;
}
