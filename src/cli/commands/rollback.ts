/**
 * `helm schema-rollback RELEASE --to CHART_VERSION` (also `rollback RELEASE --to ...`): plan, show
 * the plan, ask (or --yes), execute. --dry-run stops after the plan and changes nothing.
 */
import type { Argv } from 'yargs';
import { ExitCode, ForwardOnlyError, HandoffFailedError, RollbackError, UsageError } from '../../core/errors.js';
import { maskArgv, printable, secretFlagValues } from '../../core/redact.js';
import { execute, prepare, type RollbackEvent, type RollbackPlan, type Timing } from '../../core/rollback.js';
import type { StepEvent } from '../../core/steps.js';
import { ARCHIVE_SCHEMA, DEFAULT_ARCHIVE_MAX_BYTES, describeRisk, destroysData, formatBytes, formatCount } from '../../core/data-at-risk.js';
import { EXAMPLES, exampleLines } from '../examples.js';
import type { CommandIo, UsageCheckedCommand } from '../app.js';
import type { RunRecord, TrackStep } from '../../core/ports.js';
import { createContext, hasPassword, type GlobalFlags } from '../context.js';
import { contractOverrideOptions, databaseOptions, rollbackContractOptions, overridesFrom, portForwardFrom, type ContractFlags } from '../options.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { createProbe, createRunnerFactory, DEFAULT_RUNNER, RUNNERS, type DownFilesOrigin } from '../runners.js';
import { describeCapture, type CaptureRecord } from '../../core/capture.js';
import { parseCount, parseDuration } from '../durations.js';
import { verifyPlannedDowns, type VerifyDownsRequest } from '../verify-downs.js';
import type { LockWaitPolicy } from '../../core/lock-wait.js';
import { checkChartVersion, checkNamespace, checkNotACommand, checkObjectName, checkReleaseName } from '../usage.js';
import { watchInterrupts } from '../interrupts.js';
import { progressFor, type Progress } from '../progress.js';
import { runForwardOnlyRollback } from '../forward-only-rollback.js';
import { databasePodOptions, type DatabasePodFlags } from './snapshot.js';
import { rehearsalOptions, rehearseIfAsked, checkRehearsalUsage, type RehearsalFlags } from '../rehearsal.js';
import { createGitOpsObjects, createRepoCharts } from '../../adapters/gitops-objects.js';
import type { GitOpsChoice, GitOpsHandoff } from '../../core/gitops.js';
import { askConfirmation } from '../prompt.js';

interface RollbackFlags extends GlobalFlags, ContractFlags, DatabasePodFlags, RehearsalFlags {
  forwardOnly?: boolean;
  keepSchema?: boolean;
  release: string;
  to: string;
  chart?: string;
  source?: string;
  allowMissingDowns?: boolean;
  lockTimeout?: string;
  statementTimeout?: string;
  lockRetries?: string;
  runner?: string;
  targetRevision?: string;
  dryRun?: boolean;
  yes?: boolean;
  timings?: boolean;
  archive?: boolean;
  archiveMaxSize?: string;
  verifyDowns?: boolean;
  devUrl?: string;
  devReset?: boolean;
  gitops?: GitOpsChoice;
  argocdApp?: string;
  argocdNamespace?: string;
  output: OutputFormat;
  '--'?: string[];
}

export function rollbackCommand(io: CommandIo, names: string[]): UsageCheckedCommand<GlobalFlags, RollbackFlags> {
  return {
    command: names,
    describe: 'Roll back RELEASE and its database schema to chart version --to',
    builder: (y: Argv<GlobalFlags>) =>
      rehearsalOptions(databasePodOptions(rollbackContractOptions(contractOverrideOptions(databaseOptions(y)))))
        .option('forward-only', { type: 'boolean', group: 'Forward-only schemas (README "Forward-only schemas"):', describe: 'The schema only moves forward (GORM AutoMigrate, Prisma/TypeORM synchronize), as annotation schema-rollback.io/forward-only says: restore the snapshot of --to' })
        .option('keep-schema', { type: 'boolean', group: 'Forward-only schemas (README "Forward-only schemas"):', describe: "Hand off only, keeping the newer schema, once --to's code is found able to write it (checked against its snapshot's schema)" })
        .positional('release', { type: 'string', describe: 'Helm release name', demandOption: true })
        .option('to', { type: 'string', demandOption: true, describe: 'Chart version to roll back to' })
        .option('chart', { type: 'string', describe: "Chart to take the target from (repo/chart, oci://..., a path); default: the release's chart in your repositories" })
        .option('source', { type: 'string', describe: "The CURRENT version's migration files for the native runner: a directory (one subdirectory per track), a .tar.gz, or an http(s) URL" })
        .option('allow-missing-downs', { type: 'boolean', describe: "Native runner: move past a version that has no down file (or, in files numbered one by one, no file at all) running nothing, as golang-migrate does; refused by default, since what that version created stays" })
        .option('lock-timeout', { type: 'string', describe: "Native runner: PostgreSQL lock_timeout for every statement of the downs (500ms, 2s; 0: wait for a lock as long as it takes), so the app's queries never queue behind a down for longer; a step that gave up on a lock and left nothing behind is tried again. Default 500ms, as pgroll" })
        .option('statement-timeout', { type: 'string', describe: 'Native runner: PostgreSQL statement_timeout for every statement of the downs (e.g. 10m). Default 0: none, a long down is not cut short' })
        .option('lock-retries', { type: 'string', describe: 'Native runner: how many times a step that gave up on a lock is tried again, waiting 1s, 2s, 4s ... up to 60s between tries (0: never). Default 8, about 3 minutes' })
        .option('runner', { type: 'string', choices: RUNNERS, describe: 'Where downs run: native (the plugin runs SQL down files), job (a Job cloned from the release\'s workload), exec (kubectl exec into a running pod of the workload, which must not be one the rollback stops). Default: native with --source or with down files captured in the cluster for the running chart version (helm schema-rollback capture), else job' })
        .option('target-revision', { type: 'string', describe: "The revision the target chart version expects for the track (the only one, or --track's); wins over the target's annotations and skips discovery" })
        .option('dry-run', { type: 'boolean', describe: 'Print the plan and change nothing' })
        .option('timings', { type: 'boolean', describe: "Print where planning's time went on stderr: each read (helm, kubectl, the database), when it started and ended; reads that overlap ran at once" })
        .option('yes', { alias: 'y', type: 'boolean', describe: 'Do not ask before acting (the plan still lists the data at risk)' })
        .option('archive', { type: 'boolean', default: true, describe: `Copy what the downs destroy into schema ${ARCHIVE_SCHEMA} of the same database before the first down; --no-archive keeps no copy (take your own backup)` })
        .option('gitops', { type: 'string', choices: ['auto', 'argocd', 'flux', 'none'] as const, describe: 'Who deploys the release (README "GitOps (Argo CD, Flux)"): auto (default) reads the Argo CD / Flux labels on its objects; argocd or flux: the hand-off is the change to make in Git, not helm upgrade; none: helm upgrade, whatever the labels say' })
        .option('argocd-app', { type: 'string', describe: 'With no Helm release of that name (Argo CD renders charts with helm template and keeps none): the Argo CD Application that deploys it (README "Argo CD without a Helm release"); default: the release name' })
        .option('argocd-namespace', { type: 'string', describe: 'The namespace of that Application; default argocd' })
        .option('archive-max-size', { type: 'string', describe: 'Refuse the rollback when that copy would be larger than this (bytes, or with KB, MB, GB, KiB, MiB, GiB); default 1GiB' })
        // --verify-downs (README "Downs proven on a scratch database"): src/cli/verify-downs.ts.
        .option('verify-downs', { type: 'boolean', group: 'Downs proven on a scratch database:', describe: 'Before asking (and with --dry-run), run the current ups from empty and the downs back to the target on --dev-url, comparing the schema at every step with what the ups give there; refuse (exit 12) naming the faulty down' })
        .option('dev-url', { type: 'string', group: 'Downs proven on a scratch database:', describe: 'URL of a throwaway, empty PostgreSQL database for --verify-downs and --rehearse (never the live one: refused), on a server of the live major or newer' })
        .option('dev-reset', { type: 'boolean', group: 'Downs proven on a scratch database:', describe: 'Drop everything in the --dev-url database first (only for a database that is throwaway); without it a database that is not empty is refused' })
        .example(exampleLines(EXAMPLES.rollback))
        .parserConfiguration({ 'populate--': true }) as unknown as Argv<RollbackFlags>,
    checkUsage: (argv: RollbackFlags & { _?: unknown[] }) => {
      if (typeof argv.release === 'string') {
        // argv._ holds "rollback" when the command was named; the default command leaves it empty.
        checkNotACommand(argv.release, (argv._ ?? []).includes('rollback'));
        checkReleaseName(argv.release);
      }
      if (typeof argv.to === 'string' && argv.to.trim() !== '') checkChartVersion('--to', argv.to);
      lockWaitFrom(argv);
      if (argv.verifyDowns && !argv.devUrl) throw new UsageError('--verify-downs needs --dev-url URL: the throwaway database the ups and downs run on', { hint: 'add --dev-url postgres://USER@HOST/SCRATCH (an empty database created for this)' });
      if (!argv.verifyDowns && !argv.rehearse && (argv.devUrl !== undefined || argv.devReset)) throw new UsageError(`--${argv.devUrl !== undefined ? 'dev-url' : 'dev-reset'} is for --verify-downs or --rehearse`, { hint: 'add --verify-downs or --rehearse, or drop it' });
      checkRehearsalUsage(argv);
      checkObjectName('--argocd-app', argv.argocdApp);
      if (argv.argocdNamespace !== undefined && argv.argocdNamespace.trim() !== '') checkNamespace(argv.argocdNamespace);
      const argocdFlag = argv.argocdApp !== undefined ? '--argocd-app' : argv.argocdNamespace !== undefined ? '--argocd-namespace' : undefined;
      if (argocdFlag && argv.gitops !== undefined && argv.gitops !== 'auto' && argv.gitops !== 'argocd') {
        throw new UsageError(`${argocdFlag} names an Argo CD Application, and --gitops ${argv.gitops} says Argo CD does not deploy the release`, { hint: `drop ${argocdFlag}, or --gitops ${argv.gitops}` });
      }
      if (argv.archiveMaxSize !== undefined) {
        parseSize(argv.archiveMaxSize);
        if (argv.archive === false) throw new UsageError('--archive-max-size limits the copy that --no-archive turns off', { hint: 'drop one of them' });
      }
    },
    handler: async (argv: RollbackFlags) => {
      const ctx = createContext(argv, io.env, io.stderr, io.secrets);
      const extraHelmArgs = (argv['--'] ?? []).map(String);
      // helm repeats --set values in its own output (--debug's USER-SUPPLIED VALUES, its errors).
      for (const value of secretFlagValues(extraHelmArgs)) io.secrets?.add(value);
      const forwardOnly = () => runForwardOnlyRollback(io, ctx, {
        release: argv.release, to: argv.to, chart: argv.chart, keepSchema: argv.keepSchema === true, flagged: argv.forwardOnly === true,
        stop: overridesFrom(argv).stop, extraHelmArgs, databaseUrl: argv.databaseUrl, databaseUrlFromEnv: ctx.databaseUrlFromEnv,
        workload: argv.workload, container: argv.container, databaseUrlEnv: argv.databaseUrlEnv, portForward: portForwardFrom(argv),
        dbPod: argv.dbPod, dbContainer: argv.dbContainer,
      }, { dryRun: argv.dryRun, yes: argv.yes, color: argv.color, rerun: sameCommand(ctx.namespace, io.env, io.argv ?? []), output: argv.output });
      if (argv.forwardOnly || argv.keepSchema) return forwardOnly();
      // Without --runner: native with --source; without it too, native when the chart version that
      // runs has its down files captured in the cluster, else job (decided once the release is read).
      const runner = argv.runner ?? (argv.source ? 'native' : DEFAULT_RUNNER);
      if (argv.allowMissingDowns && (runner === 'job' || runner === 'exec')) {
        throw new UsageError('--allow-missing-downs is for the native runner, which reads the down files itself', { hint: `drop it: with --runner ${runner} the app's own tool decides` });
      }
      const lockFlag = ([['lock-timeout', argv.lockTimeout], ['statement-timeout', argv.statementTimeout], ['lock-retries', argv.lockRetries]] as const).find(([, v]) => v !== undefined)?.[0];
      if (lockFlag !== undefined && (runner === 'job' || runner === 'exec')) {
        throw new UsageError(`--${lockFlag} is for the native runner, whose session runs the downs`, {
          hint: `drop it: with --runner ${runner} the app's own tool opens its sessions (PostgreSQL reads lock_timeout from the URL too: ?options=-c%20lock_timeout%3D500)`,
        });
      }
      let downFiles: DownFilesOrigin | undefined;
      if (argv.devUrl) {
        io.secrets?.add(argv.devUrl);
        // Masked in the plugin's output, but argv shows in ps and in Helm 4 --debug's own "executing plugin command" line.
        if (hasPassword(argv.devUrl)) io.stderr.write('warning: --dev-url carries a password, which shows in ps and in helm --debug\'s own "executing plugin command" line; leave it out of the URL and put it in ~/.pgpass (read by the plugin, pg_dump and pg_restore)\n');
      }
      let loadSource: VerifyDownsRequest['loadSource'];
      const deps = {
        ...ctx,
        runnerFor: createRunnerFactory(ctx, { source: argv.source, allowMissingDowns: argv.allowMissingDowns === true, onDownFiles: (o) => (downFiles = o), onSource: (load) => (loadSource = load), lockWait: lockWaitFrom(argv) }),
        probe: createProbe(ctx, argv.release),
        gitopsObjects: createGitOpsObjects(ctx.kube),
        repoCharts: createRepoCharts(ctx.helm, io.env, ctx.log),
      };
      const interrupts = watchInterrupts(io.stderr);
      const progress = progressFor(io.stderr, io.env, argv.color);
      const onStep = (e: StepEvent) => (e.type === 'step:start' ? progress.start(e.step) : progress.end(e.step, e.outcome, e.detail));
      try {
        const prepared = await prepare(deps, {
          progress: onStep,
          release: argv.release, to: argv.to, chart: argv.chart, overrides: overridesFrom(argv), runner,
          databaseUrl: argv.databaseUrl, databaseUrlFromEnv: ctx.databaseUrlFromEnv, targetRevision: argv.targetRevision,
          // The offline SQL preview also feeds the data-at-risk analysis, so a real run asks for it too.
          portForward: portForwardFrom(argv), extraHelmArgs, sqlPreview: true, gitops: argv.gitops ?? 'auto',
          argocd: { ...(argv.argocdApp ? { app: argv.argocdApp } : {}), ...(argv.argocdNamespace ? { namespace: argv.argocdNamespace } : {}) },
          archive: { enabled: argv.archive !== false, maxBytes: argv.archiveMaxSize === undefined ? DEFAULT_ARCHIVE_MAX_BYTES : parseSize(argv.archiveMaxSize) },
        }).catch((err: unknown) => {
          // The chart says its schema has no downs: the forward-only path plans from its snapshot.
          if (err instanceof ForwardOnlyError) return undefined;
          throw err;
        });
        if (!prepared) {
          progress.dispose();
          interrupts.dispose();
          return await forwardOnly();
        }
        // A port-forward opened for the plan stays up until the downs are verified.
        try {
          const { plan } = prepared;
          if (argv.timings) progress.write(renderTimings(prepared.timings));
          // --verify-downs: proven before the plan is shown, so a refusal comes before any question.
          const verified = argv.verifyDowns ? await verifyPlannedDowns(ctx, plan, prepared.databaseUrl, { devUrl: argv.devUrl!, reset: argv.devReset === true, loadSource, runner: prepared.runner, ...(argv.databaseUrlEnv ? { urlVariable: argv.databaseUrlEnv } : {}) }) : undefined;
          // --rehearse: the downs run first on a copy (README "Rehearsal on a clone"); its report goes with the plan.
          const rehearsal = await rehearseIfAsked(ctx, io.env, prepared, argv, (line) => progress.write(`${line}\n`));
          io.stdout.write(argv.output === 'table'
            ? `${renderPlan(plan, downFiles)}${rehearsal?.text ?? ''}`
            : renderData('Plan', { ...planData(plan, downFiles), ...(rehearsal ? { rehearsal: rehearsal.data } : {}) }, argv.output));
          // JSON and YAML keep the plan's schema (schemas/plan.v1.json): the line goes to stderr there.
          if (verified) (argv.output === 'table' ? io.stdout : io.stderr).write(`${verified}\n`);
          rehearsal?.refuseIfFailed();
          if (argv.dryRun) {
            const previewed = plan.decisions.some((d) => d.kind === 'revert' && d.step.sqlPreview) && plan.runner === 'job';
            const discovered = Object.values(plan.targetSources).includes('discovered');
            const jobs = [discovered ? 'the discovery' : '', previewed ? 'the SQL preview' : ''].filter(Boolean).join(' and ');
            io.stderr.write(`dry run: nothing was changed${jobs ? ` (${jobs} ran in a Job, now removed)` : ''}\n`);
            return;
          }
          if (!argv.yes && !(await confirm(io, plan))) {
            throw new RollbackError(ExitCode.aborted, 'not confirmed: nothing was changed', { hint: 'answer y (or type the release name, when the downs destroy data), or pass --yes to run without asking' });
          }
          interrupts.acting();
          const again = sameCommand(ctx.namespace, io.env, io.argv ?? []);
          try {
            await execute(deps, prepared, (e) => report(progress, e, plan), { stop: interrupts.stop, abort: interrupts.abort, holder: ctx.holder, rerun: `run the same command again: ${again}`, lockWait: lockWaitFrom(argv) });
          } catch (err) {
            if (err instanceof HandoffFailedError) {
              const { release, target } = plan;
              throw new HandoffFailedError(err.helmMessage,
                `fix what helm names, then finish with: ${again}\n  (it skips the tracks at their target and retries only helm upgrade ${release.name} ${plan.handoff.chart} --version ${target.version}, checked first with --dry-run; that upgrade sets the workloads' replicas from chart ${target.version})`,
                err.cause);
            }
            throw err;
          }
          io.stdout.write(argv.output === 'table'
            ? (plan.gitops ? gitOpsNextSteps(plan, plan.gitops) : `Rolled back ${plan.release.name} to chart ${plan.target.name} ${plan.target.version}.\n`)
            // The second document of the run's output (the plan is the first): YAML separates them with ---.
            : `${argv.output === 'yaml' ? '---\n' : ''}${renderData('Result', resultData(plan), argv.output)}`);
        } finally {
          await prepared.close();
        }
      } finally {
        progress.dispose();
        interrupts.dispose();
      }
    },
  };
}

/**
 * --timings: each read of the plan's gather, in the order it started, with when it started and
 * ended (ms since the gather began) and a bar on one time axis, so reads that ran at once show
 * side by side.
 */
export function renderTimings(timings: readonly Timing[]): string {
  const total = Math.max(1, ...timings.map((t) => t.end));
  const width = 40;
  const bar = (t: Timing) => {
    const from = Math.min(width - 1, Math.floor((t.start / total) * width));
    const to = Math.max(from + 1, Math.round((t.end / total) * width));
    return `${' '.repeat(from)}${'='.repeat(to - from)}${' '.repeat(width - to)}`;
  };
  const rows = [...timings].sort((a, b) => a.start - b.start).map((t) => [String(t.start), String(t.end), String(t.end - t.start), `|${bar(t)}|`, `${t.read}${t.failed ? ' (failed)' : ''}`]);
  return `Timings of the plan (ms since it began; bars that overlap ran at once):\n${renderTable(['START', 'END', 'TOOK', 'WHEN', 'READ'], rows)}`;
}

/** A step to the progress display; any other event as its lines, unless a live display already shows it. */
function report(progress: Progress, e: RollbackEvent, plan: RollbackPlan): void {
  if (e.type === 'step:start') return progress.start(e.step);
  if (e.type === 'step:end') return progress.end(e.step, e.outcome, e.detail);
  // The spinner names the down and the hand-off, and its ✔ line says where the track was verified.
  if (progress.live && (e.type === 'track:start' || e.type === 'track:done' || e.type === 'handoff:start')) return;
  progress.write(describe(e, plan));
}

/**
 * The plan for people, read top to bottom as Atlas prints its plans: where things stand, what
 * changes (each track, current -> target), what is lost (the data at risk and its copy), what runs
 * (each step in order), what follows the hand-off, and what was checked before anything changed.
 */
export function renderPlan(plan: RollbackPlan, downFiles?: DownFilesOrigin): string {
  const r = plan.release;
  const rows = plan.decisions.map((d) =>
    d.kind === 'revert'
      ? [d.step.track, d.step.tool, d.step.current.join(',') || 'base', targetText(plan, d.step.track, d.step.target), d.step.revisions.join(', ') || '(tool decides)', plan.runner]
      : [d.track, '', '', '', d.kind === 'skip' ? `none: ${d.reason}` : d.reason, ''],
  );
  const unfinished = plan.unfinishedHandoff;
  // Runners that run the app's own tool show the exact command, so it is read before it runs.
  const commands = plan.runner === 'native' ? [] : plan.decisions.flatMap((d) => (d.kind === 'revert' && d.step.command ? [`  ${d.step.track}: ${printable(d.step.command.join(' '))}`] : []));
  const where = `${plan.runner === 'job' ? 'in a Job cloned from' : plan.runner === 'exec' ? 'by kubectl exec in a running pod of' : 'in'} ${plan.workload ?? 'the workload'}${plan.container ? ` container ${plan.container}` : ''}`;
  return [
    `Release ${r.name} (namespace ${r.namespace}): chart ${r.chart} ${r.version} -> ${plan.target.version} (${plan.target.ref})`,
    `Database URL from ${plan.databaseUrlSource}`,
    ...(plan.gitops ? [`Deployed by ${controllerName(plan.gitops)} ${plan.gitops.object} (${plan.gitops.detectedFrom}): GitOps mode, the hand-off is a change in Git`] : []),
    ...(plan.databaseRoute === 'direct' ? [] : [`Database reached through ${plan.databaseRoute}`]),
    ...downFilesLines(plan, downFiles),
    ...(plan.previousRun ? [previousRunLine(plan.previousRun)] : []),
    ...(unfinished
      ? [`Revision ${unfinished.revision} of the release is a failed upgrade to ${plan.target.version} (a hand-off that did not finish); revision ${r.revision} (chart ${r.version}) is what runs. Tracks at their target are skipped; the hand-off is retried.`]
      : []),
    '',
    `-- What changes: chart ${r.chart} ${r.version} -> ${plan.target.version}, and each track's schema, current -> target`,
    ...Object.entries(plan.discovered).map(([track, d]) =>
      `Target revision of track ${track} discovered in ${d.image} (${d.command.join(' ')}${plan.targetSources[track] === 'discovered (cached)' ? ', answer cached' : ', in a Job'})`),
    renderTable(['TRACK', 'TOOL', 'CURRENT', 'TARGET', 'REVERTS', 'RUNNER'], rows).trimEnd(),
    ...plan.decisions.flatMap((d) => (d.kind === 'revert' && d.warning ? [`Warning: track ${d.step.track}: ${d.warning}`] : [])),
    '',
    '-- What is lost',
    ...dataAtRiskLines(plan),
    '-- What runs, in this order',
    ...stepLines(plan).map((step, i) => `  ${i + 1}. ${step}`),
    ...(commands.length > 0 ? ['', `Commands (${where}):`, ...commands] : []),
    ...downLines(plan),
    ...plan.decisions.flatMap((d) => (d.kind === 'revert' && d.step.sqlPreview ? sqlPreviewLines(d.step.track, d.step.sqlPreview) : [])),
    '',
    '-- What follows the hand-off',
    ...followLines(plan),
    '',
    '-- Checked before anything changes',
    permissionsLine(plan),
    plan.handoffCheck === 'helm upgrade --dry-run=server'
      ? `Hand-off checked (helm upgrade --dry-run): chart ${plan.target.version} renders with the release's values and your flags, and its manifests validate (${plan.handoffCheck}); a real write can still be refused (admission, immutable fields, hooks)`
      : `Hand-off not checked with helm upgrade --dry-run: there is no Helm release to upgrade (${plan.gitops ? controllerName(plan.gitops) : 'the controller'} renders the chart with helm template and applies it itself; it renders chart ${plan.target.version} once Git says so)`,
    '',
  ].join('\n');
}

/**
 * Every step of the run in the order it runs: the stops, the copy, each down with its files or
 * command, the hand-off. Said plainly: a workload that migrates on start and keeps running
 * re-applies what the downs revert, so a plan that stops nothing says so.
 */
function stepLines(plan: RollbackPlan): string[] {
  // A workload already at 0 (stopped by a run whose hand-off failed) has no replicas to restore: say so.
  const stops = plan.stop.map((s) =>
    s.atZero ? `keep ${s.ref} at 0 (it is at 0 now${s.replicas > 0 ? `; ${s.replicas} before the previous run` : ''})` : `scale ${s.ref} ${s.replicas}->0`);
  const reverts = plan.decisions.flatMap((d) => (d.kind === 'revert' ? [d.step] : []));
  const copied = plan.archive.enabled && plan.dataAtRisk.some((i) => (i.copyBytes ?? 0) > 0);
  const how = (step: TrackStep) =>
    step.downs ? `the down file${step.downs.length === 1 ? '' : 's'} listed below` : step.command ? `${printable(step.command.join(' '))} (${plan.runner} runner)` : `${step.tool} (${plan.runner} runner)`;
  return [
    ...(stops.length > 0 ? stops : ['nothing is stopped before the downs (no --stop, no schema-rollback.io/stop)']),
    ...(copied ? [`copy the data at risk into schema ${plan.archive.schema} (one transaction)`] : []),
    ...(reverts.length > 0
      ? reverts.map((step) => `down ${step.track} ${step.current.join(',') || 'base'} -> ${step.target}: ${how(step)}; then its version table is checked`)
      : ['no downs (every track is at its target)']),
    plan.gitops
      ? `print the change to make in Git for ${plan.gitops.object} (no helm upgrade: ${controllerName(plan.gitops)} would undo it; it applies chart ${plan.handoff.version} once Git says so)`
      : `helm upgrade ${plan.handoff.release} ${plan.handoff.chart} --version ${plan.handoff.version} (values kept)`,
  ];
}

/** After the hand-off: what runs the release from then on, and what to watch. */
function followLines(plan: RollbackPlan): string[] {
  const { release: r, target } = plan;
  const ns = `-n ${r.namespace}`;
  if (plan.gitops) return gitOpsFollowLines(plan, plan.gitops);
  return [
    `Release ${r.name} runs chart ${target.version}; the workloads get the replicas chart ${target.version} renders${plan.stop.length > 0 ? ` (${plan.stop.map((s) => `${s.ref} had ${s.replicas}`).join(', ')})` : ''}`,
    `Watch: helm ${ns} history ${r.name}; ${plan.stop.map((s) => `kubectl ${ns} rollout status ${s.ref}; `).join('')}helm schema-rollback ${ns} status ${r.name} (every track in step)`,
  ];
}

/** An earlier run that did not finish, from its record in the cluster: the plan starts from where the database is. */
function previousRunLine(r: RunRecord): string {
  const last = r.steps.at(-1);
  return `Previous run by ${r.holder} since ${r.since} (to ${r.to}) did not finish: ${endedAs(r)}${last ? ` at "${last.name}"` : ''}; planned from where the database is now`;
}

/**
 * How a previous run ended. A record still "running" while the release's lock is free (it is read
 * only once the lock is known free) is a run that died without closing it: killed, or its machine lost.
 */
function endedAs(r: RunRecord): string {
  return r.state === 'running' ? 'died (killed or its machine lost: its record still says running, its lock is free)' : r.state;
}

/**
 * What the downs destroy, counted live, and where the copy of it goes. The first line is the design's
 * one-liner; what the analyser cannot read is listed under it, one statement per line.
 */
export function dataAtRiskLines(plan: RollbackPlan): string[] {
  const known = plan.dataAtRisk.filter((i) => i.kind !== 'unknown');
  const unknown = plan.dataAtRisk.filter((i) => i.kind === 'unknown');
  const copied = plan.dataAtRisk.some((i) => (i.copyBytes ?? 0) > 0);
  const copy = !plan.archive.enabled
    ? 'no copy kept (--no-archive)'
    : copied
      ? `copied into schema ${plan.archive.schema} of the same database before the first down (about ${formatBytes(plan.archive.bytes)}; limit ${formatBytes(plan.archive.maxBytes)})`
      : 'nothing to copy';
  return [
    `Data at risk: ${known.length > 0 ? known.map(describeRisk).join('; ') : unknown.length > 0 ? 'nothing the analyser can see' : 'none (the downs drop no table, column or rows)'}`,
    ...unknown.map((i) => `  ${describeRisk(i)}`),
    ...(known.length > 0 || unknown.length > 0 ? [`Copy before the downs: ${copy}`] : []),
    '',
  ];
}

/** Where the native runner's down files come from: a captured copy is named with its time, author and checksum. */
function downFilesLines(plan: RollbackPlan, downFiles: DownFilesOrigin | undefined): string[] {
  if (downFiles?.from === 'captured') {
    return [`Down files: ${describeCapture(downFiles.capture)}; ${plan.runner} runner${plan.runner === 'native' ? ' (the default when the running chart version has captured files)' : ''}`];
  }
  if (downFiles?.from === 'not-looked-up') return [`Down files: captured copies not looked at (Kubernetes refused: ${downFiles.why}); job runner`];
  return [];
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

function planData(plan: RollbackPlan, downFiles?: DownFilesOrigin): object {
  const { release, target, targetSources, discovered, databaseUrlSource, databaseRoute, runner, decisions, stop, handoff, handoffCheck, unfinishedHandoff, dataAtRisk, archive, permissions } = plan;
  return {
    release: { name: release.name, namespace: release.namespace, chart: release.chart, version: release.version, revision: release.revision },
    target: { ref: target.ref, name: target.name, version: target.version, revisionSources: targetSources, discovered },
    databaseUrlSource, databaseRoute, runner, tracks: decisions, stop, dataAtRisk, archive, permissions, handoffCheck, ...(unfinishedHandoff ? { unfinishedHandoff } : {}),
    // The user's flags after --: --set values are secrets as often as not (database.url=...).
    handoff: { ...handoff, extra: maskArgv(handoff.extra ?? []) },
    ...(plan.gitops ? { gitops: plan.gitops } : {}),
    ...(downFiles?.from === 'captured' ? { downFiles: { from: 'captured', ...captureData(downFiles.capture) } } : {}),
  };
}

function captureData(c: CaptureRecord): object {
  return { chartVersion: c.chartVersion, capturedAt: c.capturedAt, capturedBy: c.capturedBy, sha256: c.sha256, origin: c.origin, files: c.files, objects: c.objects };
}

/**
 * What a finished run did, for -o json|yaml (schemas/result.v1.json). Only printed once execute()
 * returned: each reverted track was then verified at its target and the hand-off succeeded.
 */
function resultData(plan: RollbackPlan): object {
  const { release, target, handoff } = plan;
  return {
    release: { name: release.name, namespace: release.namespace },
    chart: { name: target.name, from: release.version, to: target.version },
    tracks: plan.decisions.map((d) =>
      d.kind === 'revert'
        ? { track: d.step.track, outcome: 'reverted', from: d.step.current, to: d.step.target, reverted: d.step.revisions }
        : { track: d.track, outcome: 'skipped', reason: d.reason }),
    handoff: { release: handoff.release, chart: handoff.chart, version: handoff.version },
    ...(plan.gitops ? { gitops: plan.gitops } : {}),
  };
}

function describe(e: Exclude<RollbackEvent, StepEvent>, plan: RollbackPlan): string {
  switch (e.type) {
    case 'scaled': return `scaled ${e.ref} ${e.from} -> ${e.to}\n`;
    case 'archived': {
      const empty = e.copies.filter((c) => c.empty);
      return [
        `copied the data at risk into schema ${e.schema} (one transaction, before the first down):`,
        ...e.copies.filter((c) => !c.empty).map((c) => `  ${e.schema}.${c.name}: ${formatCount(c.rows)} ${c.rows === 1 ? 'row' : 'rows'} of ${c.from.schema}.${c.from.table}${c.column ? ` (column ${c.column}${c.columns ? ' with the primary key' : ', every column'})` : ''}\n    restore: ${c.restore}`),
        ...(empty.length > 0
          ? [`  nothing to keep (no row${empty.some((c) => c.columns) ? ', or no non-null value' : ''} at the copy), no table made: ${empty.map((c) => `${c.from.schema}.${c.from.table}${c.columns ? `.${c.column}` : ''}`).join(', ')}`]
          : []),
        '',
      ].join('\n');
    }
    case 'track:start': return `track ${e.step.track}: ${e.step.tool} down ${e.step.current.join(',') || 'base'} -> ${e.step.target}\n`;
    case 'track:output': return `  ${e.track} | ${e.line}\n`;
    case 'track:done': return `track ${e.track}: verified at ${e.state.revisions.join(',') || 'base'}\n`;
    case 'stopped':
      return [
        'Stopped before helm upgrade: the release is still on its current chart. Where each track stands:',
        ...e.tracks.map((t) => `  ${t.track}: ${t.state ? `${t.state.revisions.join(',') || 'base'}${t.state.dirty ? ' (dirty)' : ''}` : 'unreadable'}, target ${t.target}, ${t.outcome}`),
        ...Object.entries(e.repairs).map(([track, repair]) => `  repair ${track}: ${repair}`),
        ...(e.workloads === 'kept' ? [`Workloads kept at 0: ${e.why}. The hand-off (or your own scale-up once repaired) starts them.`] : []),
        `Next: ${Object.keys(e.repairs).length > 0 ? 'repair as said above, then ' : e.workloads === 'kept' && e.tracks.every((t) => t.outcome === 'done') ? '' : 'fix the cause named below, then '}run the same command again; tracks already at their target are skipped.`,
        '',
      ].join('\n');
    case 'previous-run': {
      const r = e.record;
      const last = r.steps.at(-1);
      return `Previous run by ${r.holder} since ${r.since} (to ${r.to}) ${r.state === 'running' ? endedAs(r) : `ended ${r.state}`}${last ? ` at step "${last.name}" (${last.result ?? 'not finished'})` : ''}; this run continues from where the database is.\n`;
    }
    case 'warning': return `warning: ${e.message}\n`;
    case 'handoff:start': return `${e.argv.join(' ')}\n`;
    case 'handoff:output': return `  helm | ${e.line}\n`;
    case 'handoff:failed':
      return [
        `The hand-off failed after the downs: the schema is where chart ${plan.target.version} expects it, the release is still on chart ${plan.release.version}. Where everything stands:`,
        ...e.tracks.map((t) => (t.outcome === 'verified' ? `  ${t.track}: ${t.at}, target ${t.target}, done and verified` : `  ${t.track}: ${t.reason} (skipped)`)),
        `  release ${plan.release.name}: chart ${plan.release.version} deployed; its upgrade to ${plan.target.version} failed (helm history ${plan.release.name})`,
        ...e.kept.map((w) => `  ${w.ref}: kept at 0${w.replicas > 0 ? ` (was ${w.replicas})` : ''}: it migrates on start, so chart ${plan.release.version}'s code would migrate the schema up again (or run on an older schema than it expects)`),
        '',
      ].join('\n');
    case 'gitops:handoff':
      return `every track is at its target; no helm upgrade (GitOps mode): the change to make in Git for ${e.handoff.object} follows${e.kept.length > 0 ? `; kept at 0 until ${controllerName(e.handoff)} applies chart ${plan.target.version}: ${e.kept.map((w) => w.ref).join(', ')}` : ''}\n`;
  }
}

/**
 * This very command, to run again after a failed hand-off. Helm takes its global flags out of a
 * plugin's argv (-n, --kube-context arrive as HELM_NAMESPACE, HELM_KUBECONTEXT), so they are put
 * back in front; values that may be secrets (--database-url, --set ...) are shown as ***.
 */
function sameCommand(namespace: string, env: NodeJS.ProcessEnv, argv: readonly string[]): string {
  // Helm strips -n and --kube-context from a plugin's argv (HELM_NAMESPACE, HELM_KUBECONTEXT): put them back.
  const args = argv.filter((a, i, all) => !['-n', '--namespace'].includes(a) && !['-n', '--namespace'].includes(all[i - 1] ?? '') && !/^--namespace=|^-n./.test(a));
  const masked = maskArgv(args).map((a, i) => (args[i - 1] === '--database-url' ? '***' : a.startsWith('--database-url=') ? '--database-url=***' : a));
  const context = env['HELM_KUBECONTEXT'] ? ['--kube-context', env['HELM_KUBECONTEXT']] : [];
  const words = ['helm', '-n', namespace, ...context, 'schema-rollback', ...masked].map(shellWord);
  return `${words.join(' ')}${masked.some((a) => a.includes('***')) ? '   (*** is a value not shown here: give it again)' : ''}`;
}

/** A word as a POSIX shell reads it back. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The question before acting. When the downs destroy stored data (or may: SQL the analyser cannot
 * read), it names what goes with its row counts and wants the release name typed, not a reflex "y".
 */
export function confirmationQuestion(plan: RollbackPlan): { question: string; accepts(answer: string): boolean } {
  if (!destroysData(plan.dataAtRisk)) return { question: 'Proceed? [y/N] ', accepts: (a) => /^y(es)?$/i.test(a) };
  const known = plan.dataAtRisk.filter((i) => i.kind !== 'unknown' && i.exists && (i.rows ?? 0) > 0);
  const unseen = plan.dataAtRisk.some((i) => i.kind === 'unknown');
  const what = [
    ...(known.length > 0 ? [`The downs destroy data: ${known.map(describeRisk).join(', ')}.`] : []),
    ...(unseen ? ['Some downs may destroy data the analyser cannot see (listed above).'] : []),
    plan.archive.enabled ? (known.length > 0 ? `A copy is kept in schema ${plan.archive.schema} first.` : '') : 'No copy is kept (--no-archive).',
  ].filter(Boolean);
  return { question: `${what.join(' ')} Type the release name (${plan.release.name}) to proceed: `, accepts: (a) => a === plan.release.name };
}

/** --archive-max-size: bytes, or a number with KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024). */
/** --lock-timeout, --statement-timeout and --lock-retries, each checked (UsageError); absent ones left to the runner's defaults. */
function lockWaitFrom(argv: Pick<RollbackFlags, 'lockTimeout' | 'statementTimeout' | 'lockRetries'>): Partial<LockWaitPolicy> {
  return {
    ...(argv.lockTimeout !== undefined ? { lockTimeoutMs: parseDuration(String(argv.lockTimeout), '--lock-timeout') } : {}),
    ...(argv.statementTimeout !== undefined ? { statementTimeoutMs: parseDuration(String(argv.statementTimeout), '--statement-timeout') } : {}),
    ...(argv.lockRetries !== undefined ? { retries: parseCount(String(argv.lockRetries), '--lock-retries', 100) } : {}),
  };
}

export function parseSize(text: string, flag = '--archive-max-size'): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|bytes?|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(text);
  const units: Record<string, number> = { b: 1, byte: 1, bytes: 1, k: 1024, kb: 1e3, kib: 1024, m: 1024 ** 2, mb: 1e6, mib: 1024 ** 2, g: 1024 ** 3, gb: 1e9, gib: 1024 ** 3, t: 1024 ** 4, tb: 1e12, tib: 1024 ** 4 };
  if (!m) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not a size`, { hint: 'give bytes or a number with a unit: 500MB, 2GiB, 1073741824' });
  }
  return Math.floor(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]!);
}

async function confirm(io: CommandIo, plan: RollbackPlan): Promise<boolean> {
  const { question, accepts } = confirmationQuestion(plan);
  return askConfirmation(io, question, accepts);
}

function controllerName(g: Pick<GitOpsHandoff, 'controller'>): string {
  return g.controller === 'argocd' ? 'Argo CD' : 'Flux';
}

/** GitOps mode, in the plan: what follows the Git change (the controller's sync), and the order that matters. */
function gitOpsFollowLines(plan: RollbackPlan, g: GitOpsHandoff): string[] {
  const { release: r, target } = plan;
  return [
    `Release ${r.name} stays on chart ${r.version} until ${controllerName(g)} applies ${target.version}: commit the change printed at the end, then resume the sync (${g.resume})`,
    ...(plan.stop.length > 0
      ? [`The stopped workloads stay at 0 until then (${plan.stop.map((s) => s.ref).join(', ')}): the sync of chart ${target.version} sets their replicas. A sync before the commit would start chart ${r.version}'s code, which migrates the schema up again`]
      : []),
  ];
}

/** GitOps mode, once the downs are done: the exact Git change and what the operator does next, in order. */
function gitOpsNextSteps(plan: RollbackPlan, g: GitOpsHandoff): string {
  const { release: r, target } = plan;
  return [
    `Schema of ${r.name} rolled back to what chart ${target.name} ${target.version} expects; the release still runs chart ${r.version} (${controllerName(g)} deploys it: no helm upgrade was run).`,
    '',
    `Change to make in Git: ${g.change}`,
    ...(g.diff ? [g.diff] : []),
    '',
    'Next, in this order:',
    `  1. commit and push that change`,
    `  2. ${g.resume}`,
    ...(plan.stop.length > 0 ? [`  3. watch the workloads come back at chart ${target.version}'s replicas: ${plan.stop.map((s) => `kubectl -n ${r.namespace} rollout status ${s.ref}`).join('; ')}`] : []),
    `Do not sync ${g.object} before the commit: it would apply chart ${r.version}, whose code migrates the schema up again.`,
    '',
  ].join('\n');
}
