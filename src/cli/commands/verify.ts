/** `helm schema-rollback verify CHART_DIR [--migrations DIR] [--against REPO/CHART]`: the chart-CI check. */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { createChartFiles } from '../../adapters/chart-files.js';
import { createMigrationFiles } from '../../adapters/migration-files.js';
import { createPublishedCharts } from '../../adapters/published-charts.js';
import { verify, VerifyFailedError, type Finding, type VerifyReport } from '../../core/verify.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, type OutputFormat } from '../output.js';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo } from '../app.js';
import { migrationsOption, parseMigrationDirs } from './annotate.js';

interface VerifyFlags extends GlobalFlags {
  chartDir: string;
  migrations?: string | string[];
  track?: string;
  branch?: string;
  against?: string;
  plainHttp?: boolean;
  output: OutputFormat;
}

export function verifyCommand(io: CommandIo): CommandModule<GlobalFlags, VerifyFlags> {
  return {
    command: 'verify <chart-dir>',
    describe: "Check a chart's contract for CI: it parses, each revision is its migrations' head, revisions never go backwards",
    builder: (y: Argv<GlobalFlags>) =>
      migrationsOption(y, false)
        .positional('chart-dir', { type: 'string', describe: 'Chart directory (holding Chart.yaml)', demandOption: true })
        .option('track', { type: 'string', describe: 'Only this track' })
        .option('branch', { type: 'string', describe: 'alembic: the branch label whose head this chart carries, when the history has several heads' })
        .option('against', { type: 'string', describe: 'repo/chart (or oci://...): published versions whose revisions this version must not go below' })
        .option('plain-http', { type: 'boolean', describe: 'Reach an oci:// registry over plain HTTP (as helm --plain-http)' })
        .example(exampleLines(EXAMPLES.verify)) as unknown as Argv<VerifyFlags>,
    handler: async (argv: VerifyFlags) => {
      const ctx = createContext(argv, io.env, io.stderr);
      const report = await verify(
        {
          charts: createChartFiles(),
          migrations: createMigrationFiles(),
          tools: ctx.tools,
          published: argv.against === undefined ? undefined : createPublishedCharts({ helm: ctx.helm, env: io.env, log: ctx.log, plainHttp: argv.plainHttp }),
          log: ctx.log,
        },
        { chartDir: argv.chartDir, migrations: parseMigrationDirs(argv.migrations), track: argv.track, branch: argv.branch, against: argv.against },
      );
      io.stdout.write(argv.output === 'table' ? renderVerify(report) : renderData('Verification', report, argv.output));
      if (io.env['GITHUB_ACTIONS'] === 'true') io.stdout.write(githubAnnotations(report.findings, io.env['GITHUB_WORKSPACE']));
      if (report.exitCode !== 0) throw new VerifyFailedError(report);
    },
  };
}

export function renderVerify(report: VerifyReport): string {
  const lines = [`verify: chart ${report.chart.name} ${report.chart.version} (${report.chartFile})`];
  for (const f of report.findings) lines.push(`${f.file ? `${f.file}${f.line ? `:${f.line}` : ''}: ` : ''}${f.level}: ${f.message}${f.level === 'error' ? ` [exit ${f.code}]` : ''}`);
  for (const t of report.tracks) {
    lines.push(`track ${t.track} (${t.tool}): revision ${t.revision}${t.head !== undefined ? `, head of ${t.migrations}: ${t.head}` : t.migrations ? '' : ' (no --migrations: not checked against files)'}`);
  }
  const errors = report.findings.filter((f) => f.level === 'error').length;
  lines.push(errors === 0 ? `ok: checked ${report.checked.join('; ') || 'nothing'}` : `failed: ${errors} error${errors === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}

/**
 * GitHub Actions workflow commands (`::error file=F,line=L,title=T::message`), read from stdout by
 * the runner and shown on the pull request's diff. Paths are made relative to the workspace.
 */
export function githubAnnotations(findings: readonly Finding[], workspace?: string): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const property = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return findings
    .map((f) => {
      const props: string[] = [];
      if (f.file) {
        const rel = workspace && path.isAbsolute(f.file) ? path.relative(workspace, f.file) : f.file;
        props.push(`file=${property(rel)}`);
        if (f.line) props.push(`line=${f.line}`);
      }
      props.push(`title=${property(`schema-rollback verify${f.level === 'error' ? ` (exit ${f.code})` : ''}`)}`);
      return `::${f.level} ${props.join(',')}::${data(f.message)}\n`;
    })
    .join('');
}
