/** Builds the runner the user chose; the only place that knows every runner module. */
import { openMigrationSource } from '../adapters/migration-source.js';
import { UsageError } from '../core/errors.js';
import type { ProbePort, Runner } from '../core/ports.js';
import type { RunnerChoice } from '../core/rollback.js';
import { checkExecTarget, createExecRunner } from '../runners/exec.js';
import { createJobProbe, createJobRunner } from '../runners/job.js';
import { createNativeRunner, golangMigrateFiles } from '../runners/native.js';
import { splitRef } from '../core/database-url.js';
import type { Context } from './context.js';

export const RUNNERS = ['native', 'job', 'exec'] as const;

export function createRunnerFactory(ctx: Context, opts: { source?: string; allowMissingDowns?: boolean }): (choice: RunnerChoice) => Promise<Runner> {
  return async (choice) => {
    if (choice.name === 'native') {
      const source = openMigrationSource(opts.source!, { tracks: choice.tracks, log: ctx.log });
      return createNativeRunner({ connector: ctx.connector, loadSource: golangMigrateFiles(source), allowMissingDowns: opts.allowMissingDowns });
    }
    if (!choice.workload) {
      throw new UsageError(`the ${choice.name} runner ${choice.name === 'exec' ? 'runs in a pod of' : 'clones'} the workload that holds the current version's code, and the chart names none`, {
        hint: 'give --workload KIND/NAME (annotation schema-rollback.io/workload), or use --runner native --source DIR',
      });
    }
    if (choice.name === 'exec') {
      checkExecTarget(choice.workload, choice.stop, choice.stopFrom);
      return createExecRunner({ kube: ctx.kube, workload: choice.workload, container: choice.container });
    }
    const [kind, name] = splitRef(choice.workload);
    return createJobRunner({
      kube: ctx.kube,
      workload: await (choice.read ?? ctx.kube).get(kind, name),
      container: choice.container,
      release: choice.release.name,
      namespace: ctx.namespace,
    });
  };
}

/** Where a chart version's heads are asked for when it does not say its revision: a Job from its rendered workload. */
export function createProbe(ctx: Context, release: string): ProbePort {
  return createJobProbe({ kube: ctx.kube, release, namespace: ctx.namespace, log: ctx.log });
}
