/**
 * The yargs program. Commands are registered statically (a bundle cannot read a directory). Every
 * RollbackError becomes "Error: ..." plus the fix, and its documented exit code.
 */
import yargs from 'yargs';
import { ExitCode, RollbackError } from '../core/errors.js';
import { printable, type Redactor } from '../core/redact.js';
import { annotateCommand } from './commands/annotate.js';
import { revisionsCommand } from './commands/revisions.js';
import { rollbackCommand } from './commands/rollback.js';
import { statusCommand } from './commands/status.js';
import { verifyCommand } from './commands/verify.js';
import { OUTPUT_FORMATS } from './output.js';
import { redactStreams } from './safe-output.js';

export interface CommandIo {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** The run's secrets, masked in everything written to stdout and stderr (set by runCli). */
  secrets?: Redactor;
}

export async function runCli(argv: string[], version: string, rawIo: CommandIo = defaultIo()): Promise<number> {
  const io: CommandIo = { ...rawIo, ...redactStreams(rawIo.stdout, rawIo.stderr, rawIo.secrets) };
  let usageFailure: string | undefined;
  try {
    await yargs(argv)
      .scriptName('helm schema-rollback')
      .usage('$0 <command> [options]\n\nRoll back a Helm release and its database schema to a chart version, in one safe command.')
      .version(version)
      .option('output', { alias: 'o', choices: OUTPUT_FORMATS, default: 'table' as const, describe: 'Output format' })
      .option('namespace', { alias: 'n', type: 'string', describe: 'Namespace (set by Helm from helm -n; for running outside Helm)' })
      .option('debug', { type: 'boolean', describe: 'Log every helm/kubectl call (set by Helm from helm --debug)' })
      .command(rollbackCommand(io, ['$0 <release>', 'rollback <release>']))
      .command(statusCommand(io))
      .command(annotateCommand(io))
      .command(verifyCommand(io))
      .command(revisionsCommand(io))
      .demandCommand(1, 'name a command (see --help)')
      .strict()
      .recommendCommands()
      .wrap(Math.min(120, process.stdout.columns || 100))
      .fail((message, err) => {
        if (err) throw err;
        usageFailure = message;
      })
      .help()
      .parseAsync();
  } catch (err) {
    return reportError(err, io);
  }
  if (usageFailure !== undefined) {
    io.stderr.write(`Error: ${printable(usageFailure)}\n  fix: run "helm schema-rollback --help" for the commands and flags\n`);
    return ExitCode.usage;
  }
  return ExitCode.ok;
}

function reportError(err: unknown, io: CommandIo): number {
  if (err instanceof RollbackError) {
    io.stderr.write(`Error: ${printable(err.message)}\n${err.hint ? `  fix: ${printable(err.hint)}\n` : ''}`);
    return err.code;
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`Error: unexpected failure (a bug; please report it): ${printable(text)}\n`);
  return ExitCode.internal;
}

function defaultIo(): CommandIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}
