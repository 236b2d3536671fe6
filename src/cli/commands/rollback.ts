/**
 * `helm schema-rollback RELEASE --to CHART_VERSION` (also `rollback RELEASE --to ...`): plan, show
 * the plan, ask (or --yes), execute. --dry-run stops after the plan and changes nothing.
 */
import type { Argv } from 'yargs';
import { ExitCode, RollbackError, UsageError } from '../../core/errors.js';
import { maskArgv, printable, secretFlagValues } from '../../core/redact.js';
import { execute, prepare, type RollbackEvent, type RollbackPlan } from '../../core/rollback.js';
import type { CommandIo, UsageCheckedCommand } from '../app.js';
import type { TrackStep } from '../../core/ports.js';
import { createContext, type GlobalFlags } from '../context.js';
import { contractOverrideOptions, databaseOptions, rollbackContractOptions, overridesFrom, portForwardFrom, type ContractFlags } from '../options.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { createProbe, createRunnerFactory, RUNNERS } from '../runners.js';
import { checkChartVersion, checkNotACommand, checkReleaseName } from '../usage.js';

interface RollbackFlags extends GlobalFlags, ContractFlags {
  release: string;
  to: string;
  chart?: string;
  source?: string;
  allowMissingDowns?: boolean;
  runner?: string;
  targetRevision?: string;
  dryRun?: boolean;
  yes?: boolean;
  output: OutputFormat;
  '--'?: string[];
}

export function rollbackCommand(io: CommandIo, names: string[]): UsageCheckedCommand<GlobalFlags, RollbackFlags> {
  return {
    command: names,
    describe: 'Roll back RELEASE and its database schema to chart version --to',
    builder: (y: Argv<GlobalFlags>) =>
      rollbackContractOptions(contractOverrideOptions(databaseOptions(y)))
        .positional('release', { type: 'string', describe: 'Helm release name', demandOption: true })
        .option('to', { type: 'string', demandOption: true, describe: 'Chart version to roll back to' })
        .option('chart', { type: 'string', describe: "Chart to take the target from (repo/chart, oci://..., a path); default: the release's chart in your repositories" })
        .option('source', { type: 'string', describe: "The CURRENT version's migration files for the native runner: a directory (one subdirectory per track), a .tar.gz, or an http(s) URL" })
        .option('allow-missing-downs', { type: 'boolean', describe: "Native runner: move past a version that has no down file (or, in files numbered one by one, no file at all) running nothing, as golang-migrate does; refused by default, since what that version created stays" })
        .option('runner', { type: 'string', choices: RUNNERS, describe: 'Where downs run: native (the plugin runs SQL down files), job (a Job cloned from the release\'s workload), exec (kubectl exec into a running pod of the workload, which must not be one the rollback stops). Default: native with --source, else job' })
        .option('target-revision', { type: 'string', describe: "The revision the target chart version expects for the track (the only one, or --track's); wins over the target's annotations and skips discovery" })
        .option('dry-run', { type: 'boolean', describe: 'Print the plan and change nothing' })
        .option('yes', { alias: 'y', type: 'boolean', describe: 'Do not ask before acting' })
        .parserConfiguration({ 'populate--': true }) as unknown as Argv<RollbackFlags>,
    checkUsage: (argv: RollbackFlags & { _?: unknown[] }) => {
      if (typeof argv.release === 'string') {
        // argv._ holds "rollback" when the command was named; the default command leaves it empty.
        checkNotACommand(argv.release, (argv._ ?? []).includes('rollback'));
        checkReleaseName(argv.release);
      }
      if (typeof argv.to === 'string' && argv.to.trim() !== '') checkChartVersion('--to', argv.to);
    },
    handler: async (argv: RollbackFlags) => {
      const ctx = createContext(argv, io.env, io.stderr, io.secrets);
      const extraHelmArgs = (argv['--'] ?? []).map(String);
      // helm repeats --set values in its own output (--debug's USER-SUPPLIED VALUES, its errors).
      for (const value of secretFlagValues(extraHelmArgs)) io.secrets?.add(value);
      const runner = argv.runner ?? (argv.source ? 'native' : 'job');
      if (runner === 'native' && !argv.source) {
        throw new UsageError('the native runner needs the current version\'s migration files', { hint: 'pass --source DIR|FILE.tar.gz|URL, or --runner job' });
      }
      if (argv.allowMissingDowns && runner !== 'native') {
        throw new UsageError('--allow-missing-downs is for the native runner, which reads the down files itself', { hint: `drop it: with --runner ${runner} the app's own tool decides` });
      }
      const deps = {
        ...ctx,
        runnerFor: createRunnerFactory(ctx, { source: argv.source, allowMissingDowns: argv.allowMissingDowns === true }),
        probe: createProbe(ctx, argv.release),
      };
      const prepared = await prepare(deps, {
        release: argv.release, to: argv.to, chart: argv.chart, overrides: overridesFrom(argv), runner,
        databaseUrl: argv.databaseUrl, databaseUrlFromEnv: ctx.databaseUrlFromEnv, targetRevision: argv.targetRevision,
        portForward: portForwardFrom(argv), extraHelmArgs, sqlPreview: argv.dryRun === true,
      });
      // A port-forward opened for the plan stays up until the downs are verified.
      try {
        const { plan } = prepared;
        io.stdout.write(argv.output === 'table' ? renderPlan(plan) : renderData(planData(plan), argv.output));
        if (argv.dryRun) {
          const previewed = plan.decisions.some((d) => d.kind === 'revert' && d.step.sqlPreview) && plan.runner === 'job';
          const discovered = Object.values(plan.targetSources).includes('discovered');
          const jobs = [discovered ? 'the discovery' : '', previewed ? 'the SQL preview' : ''].filter(Boolean).join(' and ');
          io.stderr.write(`dry run: nothing was changed${jobs ? ` (${jobs} ran in a Job, now removed)` : ''}\n`);
          return;
        }
        if (!argv.yes && !(await confirm(io))) {
          throw new RollbackError(ExitCode.aborted, 'not confirmed: nothing was changed', { hint: 'answer y, or pass --yes to run without asking' });
        }
        await execute(deps, prepared, (e) => io.stderr.write(describe(e)));
        io.stdout.write(`Rolled back ${plan.release.name} to chart ${plan.target.name} ${plan.target.version}.\n`);
      } finally {
        await prepared.close();
      }
    },
  };
}

export function renderPlan(plan: RollbackPlan): string {
  const r = plan.release;
  const rows = plan.decisions.map((d) =>
    d.kind === 'revert'
      ? [d.step.track, d.step.tool, d.step.current.join(',') || 'base', targetText(plan, d.step.track, d.step.target), d.step.revisions.join(', ') || '(tool decides)', plan.runner]
      : [d.track, '', '', '', d.kind === 'skip' ? `none: ${d.reason}` : d.reason, ''],
  );
  const stops = plan.stop.map((s) => `scale ${s.ref} ${s.replicas}->0`).join(', ');
  // Runners that run the app's own tool show the exact command, so it is read before it runs.
  const commands = plan.runner === 'native' ? [] : plan.decisions.flatMap((d) => (d.kind === 'revert' && d.step.command ? [`  ${d.step.track}: ${printable(d.step.command.join(' '))}`] : []));
  const where = `${plan.runner === 'job' ? 'in a Job cloned from' : plan.runner === 'exec' ? 'by kubectl exec in a running pod of' : 'in'} ${plan.workload ?? 'the workload'}${plan.container ? ` container ${plan.container}` : ''}`;
  return [
    `Release ${r.name} (namespace ${r.namespace}): chart ${r.chart} ${r.version} -> ${plan.target.version} (${plan.target.ref})`,
    `Database URL from ${plan.databaseUrlSource}`,
    ...(plan.databaseRoute === 'direct' ? [] : [`Database reached through ${plan.databaseRoute}`]),
    ...Object.entries(plan.discovered).map(([track, d]) =>
      `Target revision of track ${track} discovered in ${d.image} (${d.command.join(' ')}${plan.targetSources[track] === 'discovered (cached)' ? ', answer cached' : ', in a Job'})`),
    '',
    renderTable(['TRACK', 'TOOL', 'CURRENT', 'TARGET', 'REVERTS', 'RUNNER'], rows).trimEnd(),
    ...plan.decisions.flatMap((d) => (d.kind === 'revert' && d.warning ? [`Warning: track ${d.step.track}: ${d.warning}`] : [])),
    ...(commands.length > 0 ? ['', `Commands (${where}):`, ...commands] : []),
    ...downLines(plan),
    ...plan.decisions.flatMap((d) => (d.kind === 'revert' && d.step.sqlPreview ? sqlPreviewLines(d.step.track, d.step.sqlPreview) : [])),
    '',
    permissionsLine(plan),
    // Said plainly: a workload that migrates on start and keeps running re-applies what the downs revert.
    `Steps: ${stops ? `${stops}; ` : 'nothing is stopped before the downs (no --stop, no schema-rollback.io/stop); '}downs in this order, each verified; then helm upgrade ${plan.handoff.release} ${plan.handoff.chart} --version ${plan.handoff.version} (values kept)`,
    '',
  ].join('\n');
}

/** The permission check's outcome in one line; -o json lists each request. */
function permissionsLine(plan: RollbackPlan): string {
  const p = plan.permissions;
  if (p.error) return `Permissions not checked (the API server could not be asked: ${p.error}); each request is still authorized when made`;
  return `Permissions checked: the ${p.checked.length} Kubernetes requests the run makes are allowed (SelfSubjectAccessReview, as kubectl auth can-i)`;
}

/** Each down a runner that reads the files will run (native), with its file or the lack of one. */
function downLines(plan: RollbackPlan): string[] {
  const rows = plan.decisions.flatMap((d) =>
    d.kind === 'revert' && d.step.downs
      ? d.step.downs.map((down) => [
          d.step.track,
          `${down.revision} -> ${down.to}`,
          [down.file ?? 'no down file: the version moves, nothing runs', down.missing ? `no file at all for ${down.missing}: stepped over` : '']
            .filter(Boolean)
            .join('; '),
        ])
      : [],
  );
  return rows.length === 0 ? [] : ['', renderTable(['TRACK', 'STEP', 'DOWN FILE'], rows).trimEnd()];
}

/** The target revision, and where it came from when the target chart's annotations did not say it. */
function targetText(plan: RollbackPlan, track: string, revision: string): string {
  const source = plan.targetSources[track];
  return source === undefined || source === 'annotations' ? revision : `${revision} (${source === 'flag' ? '--target-revision' : source})`;
}

/** --dry-run's SQL preview of one track: marked as a preview, indented, never mistaken for what ran. */
function sqlPreviewLines(track: string, p: NonNullable<TrackStep['sqlPreview']>): string[] {
  const head = `SQL preview for track ${track} (${p.command.join(' ')}: the tool's offline output, not run; online it can differ, e.g. at base alembic keeps its version table while the offline script drops it):`;
  if (p.error) return ['', `SQL preview for track ${track} (${p.command.join(' ')}) unavailable: ${p.error}`];
  return ['', head, ...p.lines.map((l) => `  | ${l}`), `(end of SQL preview for track ${track})`];
}

function planData(plan: RollbackPlan): unknown {
  const { release, target, targetSources, discovered, databaseUrlSource, databaseRoute, runner, decisions, stop, handoff, permissions } = plan;
  return {
    release: { name: release.name, namespace: release.namespace, chart: release.chart, version: release.version, revision: release.revision },
    target: { ref: target.ref, name: target.name, version: target.version, revisionSources: targetSources, discovered },
    databaseUrlSource, databaseRoute, runner, tracks: decisions, stop, permissions,
    // The user's flags after --: --set values are secrets as often as not (database.url=...).
    handoff: { ...handoff, extra: maskArgv(handoff.extra ?? []) },
  };
}

function describe(e: RollbackEvent): string {
  switch (e.type) {
    case 'scaled': return `scaled ${e.ref} ${e.from} -> ${e.to}\n`;
    case 'track:start': return `track ${e.step.track}: ${e.step.tool} down ${e.step.current.join(',') || 'base'} -> ${e.step.target}\n`;
    case 'track:output': return `  ${e.track} | ${e.line}\n`;
    case 'track:done': return `track ${e.track}: verified at ${e.state.revisions.join(',') || 'base'}\n`;
    case 'stopped':
      return [
        'Stopped before helm upgrade: the release is still on its current chart. Where each track stands:',
        ...e.tracks.map((t) => `  ${t.track}: ${t.state ? `${t.state.revisions.join(',') || 'base'}${t.state.dirty ? ' (dirty)' : ''}` : 'unreadable'}, target ${t.target}, ${t.outcome}`),
        `Next: fix the cause named below${e.tracks.some((t) => t.state?.dirty) ? ' (a dirty track must be repaired and marked clean first, as it says)' : ''}, then run the same command again; finished tracks are skipped.`,
        '',
      ].join('\n');
    case 'handoff:start': return `${e.argv.join(' ')}\n`;
    case 'handoff:output': return `  helm | ${e.line}\n`;
  }
}

async function confirm(io: CommandIo): Promise<boolean> {
  const stdin = io.stdin as NodeJS.ReadStream | undefined;
  if (!stdin?.isTTY) {
    throw new RollbackError(ExitCode.aborted, 'refusing to act without confirmation: standard input is not a terminal', { hint: 'pass --yes (after reading the plan, e.g. with --dry-run)' });
  }
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: stdin, output: io.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question('Proceed? [y/N] ')).trim());
  } finally {
    rl.close();
  }
}
