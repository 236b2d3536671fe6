/**
 * `helm schema-rollback completion bash|zsh|fish` prints a completion script; the hidden
 * `__complete WORD... CURRENT` answers it (and Helm's `plugin.complete`, which calls it).
 */
import type { Argv, CommandModule } from 'yargs';
import semver from 'semver';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo } from '../app.js';
import { complete, completionSpec, renderCompletion, type CompletionLookups } from '../completion.js';
import { completionScript, SHELLS, type Shell } from '../completion-scripts.js';
import { helmFor, namespaceFrom, type GlobalFlags } from '../context.js';
import { chartRefKind } from '../../adapters/helm.js';

/** The hidden command the scripts and plugin.complete call; never shown in --help. */
export const COMPLETE_REQUEST = '__complete';

/** A shell waits for the answer: every cluster lookup of one completion shares this much time. */
const LOOKUP_BUDGET_MS = 2500;

interface CompletionFlags extends GlobalFlags {
  shell: Shell;
}

export function completionCommand(io: CommandIo): CommandModule<GlobalFlags, CompletionFlags> {
  return {
    command: 'completion <shell>',
    describe: 'Print a shell completion script (bash, zsh or fish) for the binary run directly; helm schema-rollback <TAB> completes through Helm',
    builder: (y: Argv<GlobalFlags>) =>
      y
        .positional('shell', { type: 'string', choices: SHELLS, describe: 'The shell the script is for', demandOption: true })
        .example(exampleLines(EXAMPLES.completion)) as unknown as Argv<CompletionFlags>,
    handler: (argv: CompletionFlags) => {
      io.stdout.write(completionScript(argv.shell));
    },
  };
}

/**
 * `__complete WORD... CURRENT`. `words` are the words after `__complete`, kept apart from yargs
 * (which would parse --help or a bad -o value among them). The builder's `y` holds the global
 * options, the commands' own flags are read from their builders. Silent on stderr: Helm 4 reads a
 * plugin.complete's stderr as candidates too.
 */
export function completeRequestCommand(io: CommandIo, words: readonly string[], commands: readonly CommandModule<never, never>[]): CommandModule<GlobalFlags, GlobalFlags> {
  let globals: Argv<unknown> | undefined;
  return {
    command: COMPLETE_REQUEST,
    describe: false,
    builder: (y: Argv<GlobalFlags>) => {
      globals = y as Argv<unknown>;
      return y;
    },
    handler: async () => {
      const spec = completionSpec(commands, globals!);
      const answer = await complete(spec, words.length === 0 ? [''] : words, helmLookups(io.env));
      io.stdout.write(renderCompletion(answer));
    },
  };
}

/** Releases and chart versions from helm, within LOOKUP_BUDGET_MS; an empty list on any failure. */
function helmLookups(env: NodeJS.ProcessEnv): CompletionLookups {
  const deadline = Date.now() + LOOKUP_BUDGET_MS;
  const silent = { debug: () => undefined };
  const helm = (namespace: string | undefined) => helmFor(namespaceFrom(namespace, env), env, silent, deadline);
  const quietly = async (lookup: () => Promise<string[]>): Promise<string[]> => {
    try {
      return await lookup();
    } catch {
      return [];
    }
  };
  return {
    releases: (namespace) => quietly(() => helm(namespace).listReleases()),
    chartVersions: (release, namespace, chart) =>
      quietly(async () => {
        const h = helm(namespace);
        const current = await h.getRelease(release);
        // --chart names where the target comes from; only a repository chart can list its versions.
        const ref = chart !== undefined ? chart : await h.findChartRef(current.chart);
        if (chartRefKind(ref) !== 'repo') return [];
        // Only older versions: --to a newer one is an upgrade, which the rollback refuses.
        return (await h.chartVersions(ref)).filter((v) => semver.valid(v) && semver.valid(current.version) && semver.lt(v, current.version));
      }),
  };
}
