/**
 * `helm schema-rollback capture RELEASE --source DIR|TAR|URL`: keeps the migration files of the
 * chart version the release runs now in its namespace (README "Down files kept in the cluster"), so
 * that a later rollback from this version runs its downs natively without --source. Meant for the
 * upgrade pipeline: `helm upgrade ... && helm schema-rollback capture RELEASE --source ./migrations`.
 */
import type { Argv } from 'yargs';
import { openMigrationSource } from '../../adapters/migration-source.js';
import { captureSource, type CaptureOutcome } from '../../core/capture.js';
import { formatBytes } from '../../core/data-at-risk.js';
import type { StepEvent } from '../../core/steps.js';
import type { CommandIo, UsageCheckedCommand } from '../app.js';
import { createContext, type GlobalFlags } from '../context.js';
import { renderData, type OutputFormat } from '../output.js';
import { progressFor } from '../progress.js';
import { checkReleaseName } from '../usage.js';
import { toolNames } from '../../tools/index.js';

interface CaptureFlags extends GlobalFlags {
  release: string;
  source: string;
  replace?: boolean;
  track?: string;
  tool?: string;
  output: OutputFormat;
}

export function captureCommand(io: CommandIo): UsageCheckedCommand<GlobalFlags, CaptureFlags> {
  return {
    command: 'capture <release>',
    describe: "Keep the migration files of the chart version the release runs in its namespace (Secrets), so a later rollback needs no --source",
    builder: (y: Argv<GlobalFlags>) =>
      y
        .positional('release', { type: 'string', describe: 'Helm release name', demandOption: true })
        .option('source', { type: 'string', demandOption: true, describe: "The running version's migration files: a directory (one subdirectory per track), a .tar.gz, or an http(s) URL of one, read as the native runner reads --source" })
        .option('replace', { type: 'boolean', describe: 'Overwrite the files captured for this chart version when they differ' })
        .option('tool', { type: 'string', choices: toolNames, group: 'Contract (overrides the chart annotations):', describe: 'Migration tool of the track, for a chart without annotations' })
        .option('track', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Track name, for a chart without annotations (default main)' })
        .example([
          ['$0 capture kagent -n ai --source ./go/core/pkg/migrations', 'after helm upgrade kagent: keep 0.9.0\'s files (one directory per track: core/, vector/)'],
          ['$0 capture kagent -n ai --source https://example.com/kagent-0.9.0-migrations.tar.gz --replace', 'capture again, over different files kept for the same version'],
        ]) as unknown as Argv<CaptureFlags>,
    checkUsage: (argv: CaptureFlags) => {
      if (typeof argv.release === 'string') checkReleaseName(argv.release);
    },
    handler: async (argv: CaptureFlags) => {
      const ctx = createContext(argv, io.env, io.stderr, io.secrets);
      const progress = progressFor(io.stderr, io.env, argv.color);
      try {
        const outcome = await captureSource({
          helm: ctx.helm,
          tools: ctx.tools,
          captured: ctx.capturedSources,
          openSource: (tracks) => openMigrationSource(argv.source, { tracks, log: ctx.log }),
        }, {
          release: argv.release, overrides: { track: argv.track, tool: argv.tool }, replace: argv.replace === true, holder: ctx.holder, now: () => new Date(),
          progress: (e: StepEvent) => (e.type === 'step:start' ? progress.start(e.step) : progress.end(e.step, e.outcome, e.detail)),
        });
        io.stdout.write(argv.output === 'table' ? renderCapture(outcome, ctx.namespace) : renderData('Capture', { result: outcome.result, namespace: ctx.namespace, ...outcome.record }, argv.output));
      } finally {
        progress.dispose();
      }
    },
  };
}

export function renderCapture({ record: r, result }: CaptureOutcome, namespace: string): string {
  const what = result === 'unchanged' ? 'already captured, the same files' : result === 'replaced' ? 'captured again, replacing other files' : 'captured';
  return [
    `Down files of release ${r.release} at chart ${r.chartVersion}: ${what}`,
    `  ${r.files} files of track${r.tracks.length === 1 ? '' : 's'} ${r.tracks.join(', ')} from ${r.origin} (${formatBytes(r.bytes)}, ${formatBytes(r.storedBytes)} gzip'd)`,
    `  kept in namespace ${namespace}: Secret${r.objects.length === 1 ? '' : 's'} ${r.objects.join(', ')}`,
    `  sha256 ${r.sha256}, captured ${r.capturedAt} by ${r.capturedBy}`,
    `A rollback from chart ${r.chartVersion} runs these downs natively without --source: helm schema-rollback -n ${namespace} ${r.release} --to OLDER_VERSION`,
    '',
  ].join('\n');
}
