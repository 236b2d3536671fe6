/** Flags shared by the commands that read a release's contract and its database. */
import type { Argv } from 'yargs';
import type { ContractOverrides } from '../core/resolve.js';
import { parseCommand } from '../core/contract.js';
import { UsageError } from '../core/errors.js';
import { DATABASE_URL_ENV } from '../core/database-url.js';
import { toolNames } from '../tools/index.js';
import { PORT_FORWARD_MODES, type PortForwardChoice, type PortForwardMode } from '../core/database-route.js';

export interface ContractFlags {
  track?: string;
  tool?: string;
  revision?: string;
  table?: string;
  schema?: string;
  command?: string;
  workload?: string;
  container?: string;
  databaseUrlEnv?: string;
  /** false: --no-stop, nothing is stopped (over the chart's schema-rollback.io/stop). */
  stop?: string | string[] | false;
  databaseUrl?: string;
  portForward?: PortForwardMode;
  portForwardTarget?: string;
}

/** `tools`: the --tool choices, the registry's names (a test gives its own). */
export function contractOverrideOptions<T>(y: Argv<T>, tools: readonly string[] = toolNames) {
  return y
    .option('tool', { type: 'string', choices: tools, group: 'Contract (overrides the chart annotations):', describe: 'Migration tool of the track' })
    .option('revision', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: "Revision the release's chart expects" })
    .option('table', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Version table (default: the tool\'s)' })
    .option('schema', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Schema of the version table (default: search_path)' })
    .option('track', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Track the flags above apply to, when the chart has several' })
    .option('workload', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'KIND/NAME of the workload that holds the database URL (and the code the job and exec runners run)' })
    .option('container', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Container of that workload (default: the first)' })
    .option('database-url-env', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Env var of that container holding the URL (default DATABASE_URL)' });
}

/** Contract flags only a rollback uses: how the downs run, and what is stopped first. */
export function rollbackContractOptions<T>(y: Argv<T>) {
  return y
    .option('command', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'Down command run in the workload\'s image by the job and exec runners, with {{ .Revision }} etc. (e.g. "poetry run alembic downgrade {{ .Revision }}"); default: the tool\'s' })
    // Not array: true, which would swallow the release positional after it; repeating the flag gives an array.
    .option('stop', { type: 'string', group: 'Contract (overrides the chart annotations):', describe: 'KIND/NAME of a workload that migrates on start, scaled to 0 before the downs (repeatable; replaces schema-rollback.io/stop; --no-stop: stop nothing)' });
}

export function databaseOptions<T>(y: Argv<T>) {
  return y
    .option('database-url', {
      type: 'string',
      group: 'Database:',
      describe: `PostgreSQL URL (prefer the environment variable ${DATABASE_URL_ENV}: flags show in ps)`,
    })
    .option('port-forward', {
      type: 'string',
      choices: PORT_FORWARD_MODES,
      default: 'auto',
      group: 'Database:',
      describe: 'Reach an in-cluster database through kubectl port-forward: auto (when a direct connection fails), always, never',
    })
    .option('port-forward-target', {
      type: 'string',
      group: 'Database:',
      describe: "What to forward to, TYPE/NAME[:PORT] (e.g. svc/my-postgres:5432); default: the Service the URL's host names",
    });
}

export function portForwardFrom(flags: ContractFlags): PortForwardChoice {
  return { mode: flags.portForward ?? 'auto', target: flags.portForwardTarget };
}

export function overridesFrom(flags: ContractFlags): ContractOverrides {
  const { track, tool, revision, table, schema, workload, container, databaseUrlEnv } = flags;
  let command: string[] | undefined;
  if (flags.command !== undefined) {
    const parsed = parseCommand(flags.command);
    if (!parsed.command) throw new UsageError(`--command ${JSON.stringify(flags.command)}: ${parsed.problems.join('; ')}`, { hint: 'e.g. --command "poetry run alembic downgrade {{ .Revision }}"' });
    command = parsed.command;
  }
  const stop = flags.stop === undefined ? undefined : flags.stop === false ? [] : [flags.stop].flat().flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return { track, tool, revision, table, schema, command, workload, container, databaseUrlEnv, stop };
}
