/**
 * `helm schema-rollback snapshot RELEASE`: a copy of the release's database, taken before an
 * upgrade and keyed by the chart version the release runs now, for schemas that only move forward
 * (README "Forward-only schemas"). A rollback to that version restores it.
 */
import type { Argv } from 'yargs';
import { formatBytes, formatCount } from '../../core/data-at-risk.js';
import { DEFAULT_SNAPSHOT_MAX_BYTES, takeSnapshot, type SnapshotRecord } from '../../core/snapshot.js';
import type { CommandIo, UsageCheckedCommand } from '../app.js';
import { createContext, type GlobalFlags } from '../context.js';
import { databaseOptions, portForwardFrom, type ContractFlags } from '../options.js';
import { renderData, renderTable, type OutputFormat } from '../output.js';
import { progressFor } from '../progress.js';
import { checkReleaseName } from '../usage.js';
import { parseSize } from './rollback.js';
import type { StepEvent } from '../../core/steps.js';

export interface DatabasePodFlags {
  dbPod?: string;
  dbContainer?: string;
}

interface SnapshotFlags extends GlobalFlags, ContractFlags, DatabasePodFlags {
  release: string;
  maxSize?: string;
  replace?: boolean;
  output: OutputFormat;
}

/** Where pg_dump and psql run: the database's own pod. */
export function databasePodOptions<T>(y: Argv<T>) {
  return y
    .option('db-pod', { type: 'string', group: 'Database:', describe: "The database's pod, where pg_dump and psql run (kubectl exec); default: the Running pod behind the Service the URL's host names" })
    .option('db-container', { type: 'string', group: 'Database:', describe: "Container of that pod running PostgreSQL (default: the pod's default container)" });
}

export function snapshotCommand(io: CommandIo): UsageCheckedCommand<GlobalFlags, SnapshotFlags> {
  return {
    command: 'snapshot <release>',
    describe: "Copy the release's database into a snapshot database on the same server, keyed by the chart version it runs, before an upgrade",
    builder: (y: Argv<GlobalFlags>) =>
      databasePodOptions(databaseOptions(y))
        .positional('release', { type: 'string', describe: 'Helm release name', demandOption: true })
        .option('workload', { type: 'string', describe: 'KIND/NAME of the workload whose env holds the database URL (annotation schema-rollback.io/workload)' })
        .option('container', { type: 'string', describe: 'Container of that workload (default: the first)' })
        .option('database-url-env', { type: 'string', describe: 'Env var holding the URL (default DATABASE_URL)' })
        .option('max-size', { type: 'string', describe: 'Refuse when the database is larger than this (bytes, or with KB, MB, GB, KiB, MiB, GiB); default 1GiB' })
        .option('replace', { type: 'boolean', describe: 'Take it again when the release already has a snapshot of this chart version (the old one is dropped once the new one is complete)' })
        .example([['$0 snapshot myapp -n apps', 'before helm upgrade myapp: a snapshot of its database for the version it runs'],
          ['$0 snapshot myapp --db-pod myapp-postgres-0', 'pg_dump in that pod (the database host is not a Service name)']]) as unknown as Argv<SnapshotFlags>,
    checkUsage: (argv: SnapshotFlags) => {
      if (typeof argv.release === 'string') checkReleaseName(argv.release);
      if (argv.maxSize !== undefined) parseSize(argv.maxSize, '--max-size');
    },
    handler: async (argv: SnapshotFlags) => {
      const ctx = createContext(argv, io.env, io.stderr, io.secrets);
      const progress = progressFor(io.stderr, io.env, argv.color);
      try {
        const record = await takeSnapshot(ctx, {
          release: argv.release, databaseUrl: argv.databaseUrl, databaseUrlFromEnv: ctx.databaseUrlFromEnv,
          workload: argv.workload, container: argv.container, databaseUrlEnv: argv.databaseUrlEnv, portForward: portForwardFrom(argv),
          dbPod: argv.dbPod, dbContainer: argv.dbContainer, replace: argv.replace === true, holder: ctx.holder,
          maxBytes: argv.maxSize === undefined ? DEFAULT_SNAPSHOT_MAX_BYTES : parseSize(argv.maxSize, '--max-size'),
          progress: (e: StepEvent) => (e.type === 'step:start' ? progress.start(e.step) : progress.end(e.step, e.outcome, e.detail)),
        });
        io.stdout.write(argv.output === 'table' ? renderSnapshot(record) : renderData('Snapshot', record, argv.output));
      } finally {
        progress.dispose();
      }
    },
  };
}

export function renderSnapshot(r: SnapshotRecord): string {
  return [
    `Snapshot of release ${r.release} at chart ${r.chartVersion}: database ${r.database} (${formatBytes(r.bytes)}, PostgreSQL ${r.serverMajor}, via ${r.via})`,
    `Taken ${r.takenAt} by ${r.takenBy}; checksum ${r.checksum}`,
    renderTable(['TABLE', 'ROWS'], r.tables.map((t) => [t.table, formatCount(t.rows)])).trimEnd(),
    `A rollback to chart ${r.chartVersion} restores it: helm schema-rollback ${r.release} --to ${r.chartVersion}`,
    '',
  ].join('\n');
}
