/**
 * The yargs program. Commands are registered statically (a bundle cannot read a directory). Every
 * RollbackError becomes "Error: ..." plus the fix, and its documented exit code.
 *
 * Parsing finishes before any command acts: yargs runs a command's handler before it reports an
 * unknown flag or a missing option, so each handler is only recorded while yargs parses, and run
 * after every usage check has passed. A typo then costs nothing: no helm, kubectl or database call.
 *
 * Start-up: a command's module (and what it imports: the rollback engine, ora, the adapters) is
 * loaded only when yargs may need it. A command line whose first word names a command registers
 * that command alone; anything else (a release for the default rollback, --help, a typo, shell
 * completion) registers them all. The one yargs program parses either way.
 */
import yargs, { type Argv, type CommandModule } from 'yargs';
import { ExitCode, RollbackError, UsageError } from '../core/errors.js';
import { printable, type Redactor } from '../core/redact.js';
import { OUTPUT_FORMATS } from './output.js';
import type { ColorFlag } from './progress.js';
import { redactStreams } from './safe-output.js';
import { checkNamespace, checkParsedFlags, explainUnknownArguments, explainYargsMessage, unknownLongFlags } from './usage.js';

/** A command with the checks of its arguments that yargs cannot make; they throw UsageError. */
export interface UsageCheckedCommand<T, U> extends CommandModule<T, U> {
  checkUsage?(args: U): void;
}

export interface CommandIo {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** The command line as given (set by runCli): a run that stops says to run it again. */
  argv?: readonly string[];
  /** The run's secrets, masked in everything written to stdout and stderr (set by runCli). */
  secrets?: Redactor;
}

export async function runCli(argv: string[], version: string, rawIo: CommandIo = defaultIo()): Promise<number> {
  // Copied with its accessors, so a lazy stdin stays lazy.
  const io: CommandIo = Object.assign(Object.defineProperties({} as CommandIo, Object.getOwnPropertyDescriptors(rawIo)), redactStreams(rawIo.stdout, rawIo.stderr, rawIo.secrets), { argv });
  let usageFailure: UsageError | undefined;
  let chosen: { command: UsageCheckedCommand<unknown, unknown>; args: unknown } | undefined;
  let commandOptions: string[] = [];
  // Records the command and its parsed arguments; the handler runs once every usage check has passed.
  const deferred = <T, U>(command: UsageCheckedCommand<T, U>): CommandModule<T, U> => ({
    ...command,
    // Every command here has a function builder; keep the flags it declares for "did you mean".
    builder: ((y: Argv<T>) => {
      const built = (command.builder as (y: Argv<T>) => Argv<U>)(y);
      commandOptions = optionKeys(built);
      return built;
    }) as CommandModule<T, U>['builder'],
    handler: (args) => {
      // A copy as the handler sees it now: on its way out yargs moves the words after "--" into
      // argv._ of the same object (kCopyDoubleDash), and helm's flags after "--" must stay apart.
      const copy = { ...args, _: [...args._], ...(Array.isArray(args['--']) ? { '--': [...(args['--'] as unknown[])] } : {}) };
      chosen = { command: command as UsageCheckedCommand<unknown, unknown>, args: copy };
    },
  });
  const completing = argv[0] === COMPLETE_REQUEST;
  try {
    const named = completing ? undefined : COMMANDS.find((c) => c.name === argv[0]);
    const commands = await Promise.all((named ? [named] : COMMANDS).map((c) => c.load(io)));
    if (!named) {
      // The commands whose flags shell completion offers; `__complete`'s words are never parsed as flags.
      const { completeRequestCommand } = await import('./commands/completion.js');
      commands.push(completeRequestCommand(io, argv.slice(1), [...commands] as unknown as CommandModule<never, never>[]) as UsageCheckedCommand<unknown, unknown>);
    }
    const program = yargs(completing ? [COMPLETE_REQUEST] : argv);
    skipHelpCache(program);
    await program
      .scriptName('helm schema-rollback')
      // Messages are matched below ("Unknown argument"); never in the user's locale.
      .locale('en')
      .usage('$0 <command> [options]\n\nRoll back a Helm release and its database schema to a chart version, in one safe command.')
      // `--version` alone is answered in main.ts; anywhere else it is most likely helm upgrade's
      // --version meant as --to, which must not print a version and exit 0.
      .version(false)
      .epilogue('helm schema-rollback --version prints the plugin version.')
      .option('output', { alias: 'o', choices: OUTPUT_FORMATS, default: 'table' as const, describe: 'Output format' })
      .option('namespace', { alias: 'n', type: 'string', describe: 'Namespace (set by Helm from helm -n; for running outside Helm)' })
      .option('debug', { type: 'boolean', describe: 'Log every helm/kubectl call (set by Helm from helm --debug)' })
      // Helm 4 passes its own --color on to a plugin; NO_COLOR (non-empty) turns colour off too.
      .option('color', { alias: 'colour', type: 'string', choices: ['never', 'auto', 'always'], coerce: (v: unknown) => (v === false ? 'never' : v) as ColorFlag | undefined, describe: 'Colour in progress on a terminal (--no-color: never; so does NO_COLOR)' })
      .command(commands.map((c) => deferred(c)))
      .demandCommand(1, 'name a command (see --help)')
      .strict()
      .recommendCommands()
      .wrap(Math.min(120, process.stdout.columns || 100))
      .fail((message, err, instance) => {
        if (err) throw err;
        // The first failure wins: yargs may report again on its way out.
        usageFailure ??= usageErrorFrom(message, commandOptions.length > 0 ? commandOptions : optionKeys(instance), argv);
      })
      .help()
      .parseAsync();
    // The command's own checks first: "stauts foo" is better told as a mistyped command than as a
    // rollback missing --to. They read only what was parsed, and tolerate what is missing.
    chosen?.command.checkUsage?.(chosen.args);
    if (usageFailure !== undefined) return reportError(usageFailure, io);
    if (chosen !== undefined) {
      const parsed = chosen.args as Record<string, unknown>;
      checkParsedFlags(parsed);
      checkNamespace(parsed['namespace'] as string | undefined);
      await chosen.command.handler(chosen.args as never);
    }
  } catch (err) {
    return reportError(err, io);
  }
  return ExitCode.ok;
}

/** The word that asks for shell completion (Helm's plugin.complete passes it first). */
const COMPLETE_REQUEST = '__complete';

/** Every command, in the order help lists them, each loaded by its first word (which must be the first word of its command string: test/unit/cli-commands.test.ts). */
export const COMMANDS: ReadonlyArray<{ name: string; load(io: CommandIo): Promise<UsageCheckedCommand<unknown, unknown>> }> = [
  { name: 'rollback', load: async (io) => (await import('./commands/rollback.js')).rollbackCommand(io, ['$0 <release>', 'rollback <release>']) as UsageCheckedCommand<unknown, unknown> },
  { name: 'status', load: async (io) => (await import('./commands/status.js')).statusCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'snapshot', load: async (io) => (await import('./commands/snapshot.js')).snapshotCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'capture', load: async (io) => (await import('./commands/capture.js')).captureCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'annotate', load: async (io) => (await import('./commands/annotate.js')).annotateCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'verify', load: async (io) => (await import('./commands/verify.js')).verifyCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'revisions', load: async (io) => (await import('./commands/revisions.js')).revisionsCommand(io) as UsageCheckedCommand<unknown, unknown> },
  { name: 'completion', load: async (io) => (await import('./commands/completion.js')).completionCommand(io) as UsageCheckedCommand<unknown, unknown> },
];

/**
 * yargs renders a command's whole help text after its handler, to have it ready should an async
 * handler fail (about 20 ms of wrapping and string widths). Handlers here only record what was
 * chosen, and failures are reported by reportError without help, so that text is never shown; help
 * asked for (--help) is rendered when asked. Left as it is when a yargs release no longer has it.
 */
function skipHelpCache(program: Argv<unknown>): void {
  const usage = (program as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } }).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

function usageErrorFrom(message: string, knownOptions: string[], argv: string[]): UsageError {
  // A mistyped flag explains the rest ("--version 0.8.0" for --to is also "missing --to"): name it first.
  const typos = unknownLongFlags(argv, knownOptions);
  const explained =
    (typos.length > 0 ? explainUnknownArguments(`Unknown arguments: ${typos.join(', ')}`, knownOptions, argv) : undefined) ??
    explainUnknownArguments(message, knownOptions, argv) ??
    explainYargsMessage(message, argv[0]);
  if (explained) return new UsageError(explained.message, { hint: explained.hint });
  return new UsageError(message.replace(/\s*\n\s*/g, ' '), { hint: 'run "helm schema-rollback COMMAND --help" for its arguments and flags' });
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
  const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  // process.stdin builds its stream when first read (~4 ms); only a prompt reads it.
  return Object.defineProperty(io, 'stdin', { get: () => process.stdin, enumerable: true });
}

/** The flags the failing command knows (yargs has getOptions() at run time; its types omit it). */
function optionKeys(instance: unknown): string[] {
  const options = (instance as { getOptions?: () => { key?: Record<string, unknown> } }).getOptions?.();
  return Object.keys(options?.key ?? {});
}
