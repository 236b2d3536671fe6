/**
 * Shell completion: what may come next on a command line, worked out from the same yargs
 * definitions the commands parse with (flags, their choices, which ones take a value), so a new flag
 * completes without being listed twice.
 *
 * The answer follows cobra's `__complete` protocol, which Helm uses for its own completion and
 * for a plugin's `plugin.complete`: one candidate per line (`value<TAB>description`), then a line
 * `:DIRECTIVE`. The same answer feeds this plugin's own bash, zsh and fish scripts.
 */
import yargs, { type Argv, type CommandModule } from 'yargs';

/** cobra's ShellCompDirective bits, as Helm's completion scripts read them. */
export const Directive = { default: 0, noFileComp: 4, filterDirs: 16 } as const;

/** Where a value comes from: the cluster (releases, chart versions), the file system, or nowhere. */
type ValueKind = 'release' | 'chart-version' | 'path' | 'dir' | 'none';

/** Positionals and flags whose values can be offered; every other value is free text (no files offered). */
const VALUE_KINDS: Record<string, ValueKind> = {
  release: 'release',
  to: 'chart-version',
  'chart-dir': 'dir',
  migrations: 'dir',
  source: 'path',
  chart: 'path',
};

export interface OptionSpec {
  name: string;
  aliases: string[];
  takesValue: boolean;
  choices?: readonly string[];
  /** --no-NAME is meaningful (a boolean on by default, or a flag whose help names --no-NAME). */
  negatable: boolean;
  repeatable: boolean;
  describe: string;
}

export interface CommandSpec {
  name: string;
  describe: string;
  positionals: { name: string; choices?: readonly string[] }[];
  options: OptionSpec[];
}

export interface CompletionSpec {
  /** The default command comes first: a first word that names no command is its first positional. */
  commands: CommandSpec[];
  global: OptionSpec[];
}

/** What the cluster can tell, each bounded in time by the caller; an empty list when it cannot. */
export interface CompletionLookups {
  releases(namespace: string | undefined): Promise<string[]>;
  /** Chart versions the release can be rolled back to (older than its current one), newest first. */
  chartVersions(release: string, namespace: string | undefined, chart: string | undefined): Promise<string[]>;
}

export interface Completion {
  candidates: string[];
  directive: number;
}

/** Options yargs repeats into an array (kept in step with usage.ts's REPEATABLE). */
const REPEATABLE = new Set(['stop', 'migrations']);

/**
 * The spec of each command, read from its builder run on an empty yargs instance, and of the global
 * options as the instance `globals` has them (the builder's `y` of any command holds exactly those).
 */
export function completionSpec(commands: readonly CommandModule<never, never>[], globals: Argv<unknown>): CompletionSpec {
  return {
    global: optionSpecs(globals).filter((o) => o.name !== 'version'),
    commands: commands.map((module) => {
      const words = [module.command ?? ''].flat().map((c) => c.split(' '));
      // `$0 <release>` is the default command; its named form (`rollback <release>`) gives the name.
      const named = words.find((w) => w[0] !== '$0') ?? words[0]!;
      const built = (module.builder as unknown as (y: Argv<unknown>) => Argv<unknown>)(yargs([]));
      const choices = internals(built).getOptions().choices;
      const positionals = named.slice(1).map((p) => p.replace(/^[<[]|[>\]]$/g, '').replace(/\.\.$/, '')).map((name) => ({ name, choices: choices[name] }));
      return {
        name: named[0]!,
        describe: typeof module.describe === 'string' ? module.describe : '',
        positionals,
        options: optionSpecs(built).filter((o) => !positionals.some((p) => p.name === o.name) && o.name !== 'version'),
      };
    }),
  };
}

function optionSpecs(instance: Argv<unknown>): OptionSpec[] {
  const o = internals(instance).getOptions();
  const descriptions = internals(instance).getInternalMethods?.().getUsageInstance?.().getDescriptions?.() ?? {};
  const hidden = new Set(o.hiddenOptions);
  // yargs lists each alias as a key of its own too (-y beside --yes): offer the option once.
  const aliases = new Set(Object.values(o.alias).flat());
  return Object.keys(o.key)
    .filter((name) => !/[A-Z]/.test(name) && !hidden.has(name) && !aliases.has(name))
    .map((name) => {
      const boolean = o.boolean.includes(name);
      const describe = String(descriptions[name] ?? '').replace(/^__yargsString__:/, '');
      return {
        name,
        aliases: (o.alias[name] ?? []).filter((a) => !/[A-Z]/.test(a)),
        takesValue: !boolean,
        choices: o.choices[name],
        negatable: (boolean && o.default[name] === true) || describe.includes(`--no-${name}`),
        repeatable: REPEATABLE.has(name),
        describe,
      };
    });
}

/** yargs keeps these at run time; its type definitions leave them out. */
function internals(instance: Argv<unknown>): {
  getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]>; boolean: string[]; choices: Record<string, string[]>; default: Record<string, unknown>; hiddenOptions: string[] };
  getInternalMethods?(): { getUsageInstance?(): { getDescriptions?(): Record<string, unknown> } };
} {
  return instance as never;
}

/**
 * The candidates for the last word of `words` (the words after the program's name; the last one is
 * being typed, '' for a new word). Never throws for what a shell may send.
 */
export async function complete(spec: CompletionSpec, words: readonly string[], lookups: CompletionLookups): Promise<Completion> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const parsed = parseWords(spec, before);
  const options = optionsOf(spec, parsed.command);
  const namespace = parsed.values.get('namespace')?.at(-1);

  const valueOf = async (kind: ValueKind, choices: readonly string[] | undefined, prefix: string): Promise<Completion> => {
    if (choices) return { candidates: choices.filter((c) => c.startsWith(prefix)), directive: Directive.noFileComp };
    switch (kind) {
      case 'release':
        return { candidates: (await lookups.releases(namespace)).filter((r) => r.startsWith(prefix)), directive: Directive.noFileComp };
      case 'chart-version': {
        const release = parsed.positionals[0];
        const versions = release === undefined ? [] : await lookups.chartVersions(release, namespace, parsed.values.get('chart')?.at(-1));
        return { candidates: versions.filter((v) => v.startsWith(prefix)), directive: Directive.noFileComp };
      }
      case 'path':
        return { candidates: [], directive: Directive.default };
      case 'dir':
        return { candidates: [], directive: Directive.filterDirs };
      case 'none':
        return { candidates: [], directive: Directive.noFileComp };
    }
  };

  // After "--" come helm upgrade's own flags: nothing of ours to offer.
  if (parsed.afterDoubleDash) return { candidates: [], directive: Directive.default };

  // --flag=VALUE, typed as one word (zsh and fish keep it whole).
  const inline = /^(--[^=]+)=(.*)$/s.exec(current);
  if (inline) {
    const option = findOption(options, inline[1]!);
    if (!option?.takesValue) return { candidates: [], directive: Directive.noFileComp };
    const answer = await valueOf(VALUE_KINDS[option.name] ?? 'none', option.choices, inline[2]!);
    return { ...answer, candidates: answer.candidates.map((c) => `${inline[1]}=${c}`) };
  }
  if (parsed.pendingOption) {
    const option = parsed.pendingOption;
    return valueOf(VALUE_KINDS[option.name] ?? 'none', option.choices, current);
  }
  if (current.startsWith('-')) {
    const given = new Set(parsed.given);
    const flags = options
      .filter((o) => o.repeatable || !given.has(o.name))
      .flatMap((o) => [withDescription(`--${o.name}`, o.describe), ...(o.negatable ? [withDescription(`--no-${o.name}`, '')] : [])]);
    return { candidates: flags.filter((f) => f.startsWith(current)), directive: Directive.noFileComp };
  }
  // A positional.
  if (!parsed.named && parsed.positionals.length === 0) {
    // The first word is a command, or the release of the default command.
    const commands = spec.commands.slice(1).map((c) => withDescription(c.name, c.describe)).concat(withDescription(spec.commands[0]!.name, spec.commands[0]!.describe));
    const releases = await lookups.releases(namespace);
    return { candidates: [...commands, ...releases].filter((c) => c.startsWith(current)), directive: Directive.noFileComp };
  }
  const positional = parsed.command.positionals[parsed.positionals.length];
  if (positional === undefined) return { candidates: [], directive: Directive.noFileComp };
  return valueOf(VALUE_KINDS[positional.name] ?? 'none', positional.choices, current);
}

interface ParsedWords {
  command: CommandSpec;
  /** The command was named (not the default command's RELEASE). */
  named: boolean;
  positionals: string[];
  values: Map<string, string[]>;
  /** Options given, by name. */
  given: string[];
  /** The last word is an option that takes a value: the word being typed is that value. */
  pendingOption?: OptionSpec;
  afterDoubleDash: boolean;
}

/** Reads the complete words before the one being typed, as the commands will parse them. */
function parseWords(spec: CompletionSpec, words: readonly string[]): ParsedWords {
  const parsed: ParsedWords = { command: spec.commands[0]!, named: false, positionals: [], values: new Map(), given: [], afterDoubleDash: false };
  let pending: OptionSpec | undefined;
  for (const word of words) {
    if (parsed.afterDoubleDash) continue;
    if (pending) {
      parsed.values.set(pending.name, [...(parsed.values.get(pending.name) ?? []), word]);
      pending = undefined;
      continue;
    }
    if (word === '--') {
      parsed.afterDoubleDash = true;
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      const [flag, value] = word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
      const option = findOption(optionsOf(spec, parsed.command), flag);
      if (option === undefined) continue;
      parsed.given.push(option.name);
      if (!option.takesValue || flag.startsWith('--no-')) continue;
      if (value !== undefined) parsed.values.set(option.name, [...(parsed.values.get(option.name) ?? []), value]);
      else pending = option;
      continue;
    }
    const command = spec.commands.find((c) => c.name === word);
    if (!parsed.named && parsed.positionals.length === 0 && command) {
      parsed.command = command;
      parsed.named = true;
      continue;
    }
    parsed.positionals.push(word);
  }
  parsed.pendingOption = pending;
  return parsed;
}

/** A command's flags and the global ones, each once (every instance has its own --help). */
function optionsOf(spec: CompletionSpec, command: CommandSpec): OptionSpec[] {
  const names = new Set(command.options.map((o) => o.name));
  return [...command.options, ...spec.global.filter((o) => !names.has(o.name))];
}

function findOption(options: readonly OptionSpec[], flag: string): OptionSpec | undefined {
  const name = flag.replace(/^--?/, '');
  return options.find((o) => o.name === name || o.aliases.includes(name) || (o.negatable && name === `no-${o.name}`));
}

/** cobra's "value<TAB>description"; the description cut to its first clause so a menu stays one line each. */
function withDescription(value: string, describe: string): string {
  const short = describe.split(/[;(]|[.:] /)[0]!.trim();
  return short ? `${value}\t${short.length > 60 ? `${short.slice(0, 59)}…` : short}` : value;
}

/** The answer as cobra's __complete prints it. */
export function renderCompletion(answer: Completion): string {
  return `${answer.candidates.map((c) => c.replace(/\n/g, ' ')).join('\n')}${answer.candidates.length > 0 ? '\n' : ''}:${answer.directive}\n`;
}
