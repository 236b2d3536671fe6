/**
 * The exec runner: a track's down command runs with `kubectl exec` in a Running pod of the current
 * release's workload, so it runs in the newer image, with the pod's own env, Secrets, volumes and
 * identity, and without creating anything in the cluster (for namespaces where Jobs are not allowed).
 *
 * The workload must keep running during the downs, so it cannot be one of the workloads the
 * contract stops (schema-rollback.io/stop): scaling those to 0 deletes the pods, and a pod picked
 * before scaling would be killed mid-migration. The CLI refuses that combination before anything
 * changes (createRunnerFactory); the usual workload to exec into is a toolbox/worker Deployment that
 * runs the same image and does not migrate on start.
 *
 * The database URL never passes through here: the tool reads it from the pod's env, as the app does.
 */
import { splitRef } from '../core/database-url.js';
import { RefusedError, StepFailedError } from '../core/errors.js';
import { failureOutput, revisionRange, TAIL_LINES } from './step-text.js';
import type { KubeExecPort, Runner, RunnerContext, TrackStep } from '../core/ports.js';

export interface ExecRunnerDeps {
  kube: KubeExecPort;
  /** KIND/NAME of the workload to exec into (rendered), never one of the stopped workloads. */
  workload: string;
  container: string | undefined;
}

export function createExecRunner(deps: ExecRunnerDeps): Runner {
  const [kind, name] = splitRef(deps.workload);
  return {
    name: 'exec',
    async capture(_step: TrackStep, command: string[]): Promise<string[]> {
      const pod = await deps.kube.findRunningPod(kind, name);
      const lines: string[] = [];
      const code = await deps.kube.exec(pod, deps.container, command, (line) => lines.push(line));
      if (code !== 0) throw new Error(`the command in pod/${pod} exited with code ${code}${lines.length ? `; last output: ${failureOutput(lines)}` : ''}`);
      return lines;
    },
    async run(step: TrackStep, ctx: RunnerContext): Promise<void> {
      if (!step.command?.length) {
        throw new RefusedError([`track ${step.track}: no down command to run in the pod`], 'the chart contract or the flags must give the command that runs the downs in the app image');
      }
      // Picked per track, just before its command: a pod replaced since the plan is not a problem.
      const pod = await deps.kube.findRunningPod(kind, name);
      ctx.onOutput(`exec in pod/${pod}${deps.container ? ` container ${deps.container}` : ''}: ${step.command.join(' ')}`);
      const tail: string[] = [];
      const code = await deps.kube.exec(pod, deps.container, step.command, (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        ctx.onOutput(line);
      });
      if (code === 0) return;
      // kubectl's own last line ("command terminated with exit code N") says nothing new.
      const output = tail.filter((l) => !/^command terminated with exit code \d+$/.test(l));
      const last = output.length ? failureOutput(output) : undefined;
      throw new StepFailedError(
        step.track,
        revisionRange(step),
        new Error(`the command in pod/${pod} exited with code ${code}${last ? `; last output: ${last}` : ''}`),
      );
    },
  };
}

const KIND_ALIASES: Record<string, string> = { deploy: 'deployment', deployments: 'deployment', sts: 'statefulset', statefulsets: 'statefulset', ds: 'daemonset', daemonsets: 'daemonset' };

/** KIND/NAME with kubectl's short kind names spelled out, for comparing references. */
export function normalizeWorkloadRef(ref: string): string {
  const [kind, name] = splitRef(ref);
  const k = kind.toLowerCase();
  return `${KIND_ALIASES[k] ?? k}/${name}`;
}

/**
 * Refuses an exec target that the rollback stops: its pods are deleted when it is scaled to 0, so
 * there would be nothing to exec into (or the down would be killed mid-way).
 */
export function checkExecTarget(workload: string, stop: readonly string[], stopFrom: '--stop' | 'schema-rollback.io/stop' = 'schema-rollback.io/stop'): void {
  const target = normalizeWorkloadRef(workload);
  if (stop.some((s) => normalizeWorkloadRef(s) === target)) {
    throw new RefusedError(
      [`the exec runner runs the downs in a pod of ${workload}, which the rollback stops (${stopFrom === '--stop' ? 'your --stop' : 'the chart\'s schema-rollback.io/stop'}) before any down: its pods would be gone`],
      'name a workload that runs the same image and is not stopped (a toolbox or worker) with --workload KIND/NAME [--container NAME], or use --runner job' +
        (stopFrom === '--stop' ? `, or leave ${workload} out of --stop if it does not migrate on start` : ''),
    );
  }
}
