/**
 * Every failure the plugin reports on purpose is a RollbackError: it carries the exit code the
 * CLI returns (documented in the README) and a hint that names the fix. Only src/cli/main.ts turns
 * these into a process exit; nothing below it exits or prints.
 */

/** Exit codes are public API: scripts branch on them. Never renumber; only add. */
export const ExitCode = {
  ok: 0,
  /** A bug: anything not raised on purpose. */
  internal: 1,
  /** Bad flags or arguments (yargs). */
  usage: 2,
  /** The release does not exist in the namespace. */
  releaseNotFound: 3,
  /** The chart carries no contract and no flags give one. */
  contractMissing: 4,
  /** The chart's annotations are malformed. */
  contractInvalid: 5,
  /** helm or kubectl cannot reach the cluster, or a Kubernetes object is missing. */
  cluster: 6,
  /** No database URL could be found, or it is malformed. */
  databaseUrl: 7,
  /** The database does not answer (refused, DNS, timeout). */
  databaseUnreachable: 8,
  /** The database refused the credentials. */
  databaseAuth: 9,
  /** A version table holds something the plugin cannot read (wrong shape). */
  versionTable: 10,
  /** helm or kubectl failed for another reason. */
  commandFailed: 11,
  /** The plan is refused (dirty track, database ahead or unknown, target not older, ...). Nothing was changed. */
  refused: 12,
  /** Another migration holds the lock. Nothing was changed. */
  locked: 13,
  /** A down step failed; the output says where each track stands and what to run next. */
  stepFailed: 14,
  /** The user answered no, or a TTY was needed for the question and --yes was not given. */
  aborted: 15,
  /** A migrations directory gives no single head: no migrations, several heads and no branch named, a broken alembic graph. */
  migrations: 16,
  /** A revision in Chart.yaml is not among the migrations (verify). */
  revisionUnknown: 17,
  /** A revision in Chart.yaml is not the head of its migrations: Chart.yaml is stale (verify, annotate --check). */
  revisionStale: 18,
  /** A track's revision goes backwards as chart versions go up (verify --against). */
  revisionBackwards: 19,
  /** The target chart version's revision could not be discovered (no workload, the probe Job failed, no single head). Nothing was changed. */
  discoveryFailed: 20,
  /**
   * The hand-off (helm upgrade --version TARGET) failed after the downs: every track is at its
   * target, the release is still on the newer chart, its workloads are kept at 0. Re-running the same
   * command retries only the hand-off.
   */
  handoffFailed: 21,
  /**
   * The run was interrupted (SIGINT, SIGTERM, SIGHUP): it stopped on a whole step; the output says
   * where each track stands and the one command that finishes the job.
   */
  interrupted: 22,
  /** The copy of the data the downs destroy could not be made (no room, no CREATE privilege). No down ran. */
  archiveFailed: 23,
  /**
   * Kubernetes RBAC does not let the current user make a request the rollback needs: found by the
   * check before the first change (every missing permission listed; nothing was changed), or a
   * Forbidden answer from the API server.
   */
  permissionDenied: 24,
  /**
   * Taking or restoring a snapshot of a forward-only schema failed (pg_dump, pg_restore or psql in
   * the database's pod): a half-made snapshot database is dropped; a restore runs in one
   * transaction, so the live database is unchanged and the workloads are started again.
   */
  snapshotFailed: 25,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetails {
  /** What to do about it, in one or two sentences. */
  hint?: string;
  cause?: unknown;
}

export class RollbackError extends Error {
  readonly code: ExitCode;
  readonly hint?: string;
  constructor(code: ExitCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = details.hint;
  }
}

export class UsageError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.usage, message, details);
  }
}

export class ReleaseNotFoundError extends RollbackError {
  /** `hint` replaces the default one (the Argo CD lookup adds the Application it looked for). */
  constructor(readonly release: string, readonly namespace: string, hint?: string) {
    super(ExitCode.releaseNotFound, `release "${release}" not found in namespace "${namespace}"`, {
      hint: hint ?? `check the name with "helm list -n ${namespace}", or pass the release's namespace with -n NAMESPACE`,
    });
  }
}

export class ContractMissingError extends RollbackError {
  constructor(what: string) {
    super(ExitCode.contractMissing, `${what} carries no schema-rollback contract (no schema-rollback.io/* annotations)`, {
      // Every flag a rollback needs without a contract: --tool and --revision alone end in exit 7 (no
      // workload to read the URL from), and without --stop nothing is stopped before the downs.
      hint: 'annotate the chart (see README "The contract"), or give the contract on the command line: --tool TOOL --revision REV ' +
        '(the revision the release\'s chart expects) --workload KIND/NAME [--container NAME] (the app holding the database URL and the code the downs run in) ' +
        '--stop KIND/NAME (each workload that migrates on start, scaled to 0 before the downs; repeatable; without it nothing is stopped)',
    });
  }
}

/** One line per problem found, so a maintainer fixes them all in one pass. */
export class ContractInvalidError extends RollbackError {
  constructor(readonly where: string, readonly problems: string[]) {
    super(ExitCode.contractInvalid, `${where}: invalid schema-rollback annotations:\n  - ${problems.join('\n  - ')}`, {
      hint: 'fix the annotations in Chart.yaml (README "The contract" lists every key), or override them with flags',
    });
  }
}

export class ClusterError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.cluster, message, details);
  }
}

export class DatabaseUrlError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.databaseUrl, message, details);
  }
}

/**
 * Why the database did not answer. 'dns', 'refused', 'timeout' and 'network' are what an in-cluster
 * address does from outside the cluster: those make the plugin try `kubectl port-forward`.
 */
export type UnreachableReason = 'dns' | 'refused' | 'timeout' | 'network' | 'lost' | 'no-database' | 'tls' | 'other';

export class DatabaseUnreachableError extends RollbackError {
  readonly reason: UnreachableReason;
  constructor(message: string, details: ErrorDetails & { reason?: UnreachableReason } = {}) {
    super(ExitCode.databaseUnreachable, message, details);
    this.reason = details.reason ?? 'other';
  }
}

export class DatabaseAuthError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.databaseAuth, message, details);
  }
}

export class VersionTableError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.versionTable, message, details);
  }
}

/** A helm or kubectl call that failed; argv is kept (it never holds a secret), stderr is trimmed. */
export class CommandFailedError extends RollbackError {
  constructor(readonly argv: string[], readonly exitCode: number | undefined, readonly stderr: string) {
    super(ExitCode.commandFailed, `${argv.join(' ')} failed (exit ${exitCode ?? '?'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** The plan cannot be carried out safely; every reason is listed. Nothing was changed. */
export class RefusedError extends RollbackError {
  constructor(readonly reasons: string[], hint?: string) {
    super(ExitCode.refused, reasons.length === 1 ? reasons[0]! : `refused:\n  - ${reasons.join('\n  - ')}`, { hint });
  }
}

export class LockedError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.locked, message, details);
  }
}

/** The operator interrupted the run; it stopped on a step boundary (or cancelled the step it was in). */
export class InterruptedError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.interrupted, message, details);
  }
}

/** umzug's MigrationError shape: which track, which revision, which direction, and the cause. */
export class StepFailedError extends RollbackError {
  constructor(
    readonly track: string,
    readonly revision: string,
    cause: unknown,
    hint?: string,
  ) {
    super(ExitCode.stepFailed, `track ${track}: down of ${revision} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, hint });
  }
}

/**
 * A native driver's down step failed (thrown by NativeDriver.runDown; the native runner turns it
 * into StepFailedError with the repair). Says what the tool's version table holds now and where the
 * schema is, as far as the tool's own transaction semantics tell.
 */
export class NativeStepError extends Error {
  constructor(
    /** The revision whose down failed. */
    readonly revision: string,
    /** The version table now: the version it names (null: base) and golang-migrate's dirty flag. */
    readonly table: { version: string | null; dirty: boolean },
    /**
     * Where the schema is: 'from' when nothing of the step stayed (its transaction rolled back),
     * 'to' when the body ran and only the bookkeeping after it failed, 'partial' when statements
     * ran outside a transaction before the failure (the count in `statementsRun`).
     */
    readonly schema: 'from' | 'to' | 'partial',
    cause: unknown,
    readonly statementsRun?: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'NativeStepError';
  }
}

/** The migration files make no history with one head the tool would accept; names the files and the fix. */
export class MigrationsError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.migrations, message, details);
  }
}

/** A Kubernetes permission is missing; the message lists each, the hint the Role rules that grant them. */
export class PermissionDeniedError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.permissionDenied, message, details);
  }
}

/** The target chart version's revision could not be discovered. Nothing was changed. */
export class DiscoveryError extends RollbackError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(ExitCode.discoveryFailed, message, details);
  }
}

/** Chart.yaml would change (`annotate --check`): a revision is not the migrations' head. */
export class StaleAnnotationError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.revisionStale, message, details);
  }
}

/**
 * helm upgrade failed after every down was done and verified: the schema is at the target's
 * revisions while the release still runs the newer chart, whose workloads stay at 0. `cause` is
 * helm's error; the hint says how to finish (the same command again retries only the hand-off).
 */
export class HandoffFailedError extends RollbackError {
  constructor(readonly helmMessage: string, hint: string, cause?: unknown) {
    super(ExitCode.handoffFailed, `the hand-off failed after the downs: ${helmMessage}`, { hint, cause });
  }
}

/** The copy before the downs failed; its transaction was rolled back and no down ran. */
export class ArchiveError extends RollbackError {
  constructor(message: string, details?: ErrorDetails) {
    super(ExitCode.archiveFailed, message, details);
  }
}

/**
 * The release's chart says its schema only moves forward (schema-rollback.io/forward-only): there are
 * no downs to run. Thrown where the version-table rollback would start, so the CLI takes the
 * forward-only path (a snapshot restore, or --keep-schema) instead.
 */
export class ForwardOnlyError extends RefusedError {
  constructor(readonly where: string, readonly engine: string) {
    super([`${where} declares a forward-only schema (${engine}): it has no down migrations to run`],
      'roll back with a snapshot of the target version (helm schema-rollback RELEASE --to VERSION restores it), or keep the newer schema with --keep-schema; README "Forward-only schemas"');
  }
}
