/**
 * The examples each command's --help shows: the seed cases (kagent: golang-migrate with two tracks;
 * OpenKAT: alembic; LlamaCloud: an alembic chart without annotations), with the flags and names of
 * their fixtures. Kept as argv so a test parses every one through the CLI: an example that stops
 * working fails the build.
 */
export interface Example {
  what: string;
  /** The plugin's arguments. */
  args: string[];
  /** helm's own flags, before the plugin's name (`helm -n llama schema-rollback ...`). */
  helmFlags?: string[];
  /** The shell around the command, `{}` standing for it (`source <({})`). */
  around?: string;
}

const LLAMACLOUD_CONTRACT = ['--tool', 'alembic', '--workload', 'deployment/llamacloud-backend', '--container', 'backend'];

export const EXAMPLES = {
  rollback: [
    { what: 'kagent (golang-migrate, tracks core and vector): the plan, with the 0.9.0 down files run by the plugin; nothing is changed', args: ['kagent', '--to', '0.8.0', '--source', './migrations', '--dry-run'] },
    { what: "OpenKAT (alembic): the app's own alembic downgrade, by kubectl exec in its running toolbox pod", args: ['openkat', '--to', '1.0.0', '--runner', 'exec', '--workload', 'deployment/openkat-toolbox', '--container', 'toolbox'] },
    {
      what: 'LlamaCloud (chart not annotated): the contract from flags, the target revision discovered in the 0.1.47 image',
      helmFlags: ['-n', 'llama'],
      args: ['llamacloud', '--to', '0.1.47', ...LLAMACLOUD_CONTRACT, '--stop', 'deployment/llamacloud-backend', '--dry-run'],
    },
  ],
  status: [
    { what: "kagent: each track's revision (core, vector), in the chart and in the database", args: ['status', 'kagent'] },
    { what: 'OpenKAT: the same, for scripts', args: ['status', 'openkat', '-o', 'json'] },
    { what: 'LlamaCloud (chart not annotated): the contract from flags', helmFlags: ['-n', 'llama'], args: ['status', 'llamacloud', ...LLAMACLOUD_CONTRACT] },
  ],
  annotate: [
    { what: "kagent: write each track's head into Chart.yaml (one subdirectory per track: core, vector)", args: ['annotate', 'charts/kagent', '--migrations', 'go/core/pkg/migrations'] },
    { what: 'LlamaCloud: a chart without a contract yet gets its first track', args: ['annotate', 'charts/llamacloud', '--tool', 'alembic', '--migrations', 'backend/alembic'] },
    { what: 'in CI: change nothing, fail (exit 18) when Chart.yaml is stale', args: ['annotate', 'charts/kagent', '--migrations', 'go/core/pkg/migrations', '--check'] },
  ],
  verify: [
    { what: "kagent: each track's revision is the head of its migrations, and no published version's is newer", args: ['verify', 'charts/kagent', '--migrations', 'go/core/pkg/migrations', '--against', 'kagent/kagent'] },
    { what: 'OpenKAT (alembic): the chart carries the head of its alembic history', args: ['verify', 'charts/openkat', '--migrations', 'boefjes/boefjes/migrations'] },
  ],
  revisions: [
    { what: 'kagent: the core and vector revisions of each version from 0.8.0 on', args: ['revisions', 'kagent/kagent', '--versions', '>=0.8.0'] },
    { what: 'OpenKAT: every version with its alembic revision, for scripts', args: ['revisions', 'openkat/openkat', '-o', 'json'] },
  ],
  completion: [
    { what: 'bash: complete helm-schema-rollback in this shell', args: ['completion', 'bash'], around: 'source <({})' },
    { what: 'zsh: for every new shell (a directory of $fpath)', args: ['completion', 'zsh'], around: '{} > "${fpath[1]}/_helm-schema-rollback"' },
    { what: 'fish: for every new shell', args: ['completion', 'fish'], around: '{} > ~/.config/fish/completions/helm-schema-rollback.fish' },
  ],
} satisfies Record<string, Example[]>;

/** The command line an example shows, words quoted for a POSIX shell where they need it. */
export function exampleCommand(example: Example): string {
  const command = ['helm', ...(example.helmFlags ?? []), 'schema-rollback', ...example.args].map(shellWord).join(' ');
  return example.around ? example.around.replace('{}', command) : command;
}

/**
 * yargs' .example() pairs: the description as a shell comment above the command, both at full
 * width (yargs' two columns would squeeze a long command into a narrow one), long commands
 * continued with " \" so that they still paste.
 */
export function exampleLines(examples: readonly Example[], width = 76): [string, string][] {
  return examples.map((e) => [`# ${e.what}\n${continued(exampleCommand(e), width)}\n`, '']);
}

function continued(command: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of command.split(' ')) {
    if (line && line.length + 1 + word.length > width - 2) {
      lines.push(`${line} \\`);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
