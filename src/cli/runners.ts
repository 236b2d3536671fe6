/** Builds the runner the user chose; the only place that knows every runner module. */
import { openMigrationSource } from '../adapters/migration-source.js';
import { UsageError } from '../core/errors.js';
import type { Runner } from '../core/ports.js';
import type { RunnerChoice } from '../core/rollback.js';
import { createNativeRunner, golangMigrateFiles } from '../runners/native.js';
import type { Context } from './context.js';

export const RUNNERS = ['native', 'job'] as const;

export function createRunnerFactory(ctx: Context, opts: { source?: string }): (choice: RunnerChoice) => Promise<Runner> {
  return async (choice) => {
    if (choice.name === 'native') {
      const source = openMigrationSource(opts.source!, { tracks: choice.tracks, log: ctx.log });
      return createNativeRunner({ connector: ctx.connector, loadSource: golangMigrateFiles(source) });
    }
    throw new UsageError(`runner "${choice.name}" is not available yet`, { hint: 'use --runner native --source DIR' });
  };
}
