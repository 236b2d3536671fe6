/** Builds the runner the user chose; the only place that knows every runner module. */
import { openMigrationSource } from '../adapters/migration-source.js';
import { UsageError } from '../core/errors.js';
import type { Runner } from '../core/ports.js';
import type { RunnerChoice } from '../core/rollback.js';
import { createJobRunner } from '../runners/job.js';
import { createNativeRunner, golangMigrateFiles } from '../runners/native.js';
import { splitRef } from '../core/database-url.js';
import type { Context } from './context.js';

export const RUNNERS = ['native', 'job'] as const;

export function createRunnerFactory(ctx: Context, opts: { source?: string }): (choice: RunnerChoice) => Promise<Runner> {
  return async (choice) => {
    if (choice.name === 'native') {
      const source = openMigrationSource(opts.source!, { tracks: choice.tracks, log: ctx.log });
      return createNativeRunner({ connector: ctx.connector, loadSource: golangMigrateFiles(source) });
    }
    if (!choice.workload) {
      throw new UsageError('the job runner clones the workload that holds the current version\'s code, and the chart names none', {
        hint: 'give --workload KIND/NAME (annotation schema-rollback.io/workload), or use --runner native --source DIR',
      });
    }
    const [kind, name] = splitRef(choice.workload);
    return createJobRunner({
      kube: ctx.kube,
      workload: await ctx.kube.get(kind, name),
      container: choice.container,
      release: choice.release.name,
      namespace: ctx.namespace,
    });
  };
}
