/**
 * The exec runner without a cluster: which pod and container it runs in, its output, success and
 * failure against a fake KubeExecPort, and the refusal of an exec target the rollback stops.
 */
import assert from 'node:assert/strict';
import { RefusedError, StepFailedError } from '../../src/core/errors.js';
import type { KubeExecPort, RunnerContext, TrackStep } from '../../src/core/ports.js';
import { podSelector } from '../../src/adapters/kubectl.js';
import { checkExecTarget, createExecRunner, normalizeWorkloadRef } from '../../src/runners/exec.js';

const step: TrackStep = {
  track: 'main',
  tool: 'alembic',
  table: { table: 'alembic_version' },
  current: ['0010'],
  target: '0008',
  revisions: [],
  command: ['alembic', 'downgrade', '0008'],
};

function fakeKube(code: number, lines: string[]) {
  const calls: Array<{ pod: string; container: string | undefined; argv: string[] }> = [];
  const found: string[] = [];
  const kube: KubeExecPort = {
    async findRunningPod(kind, name) {
      found.push(`${kind}/${name}`);
      return 'openkat-toolbox-abc-x1';
    },
    async exec(pod, container, argv, onLine) {
      calls.push({ pod, container, argv });
      for (const l of lines) onLine(l);
      return code;
    },
  };
  return { kube, calls, found };
}

function context() {
  const out: string[] = [];
  const ctx: RunnerContext = { databaseUrl: 'postgres://u:secret@db/app', log: { debug: () => undefined }, onOutput: (l) => out.push(l) };
  return { ctx, out };
}

describe('runners/exec', () => {
  it('runs the rendered command in a Running pod of the workload, in the chosen container, streaming its output', async () => {
    const { kube, calls, found } = fakeKube(0, ['INFO  [alembic.runtime.migration] Running downgrade 0010 -> 0009, add findings score']);
    const { ctx, out } = context();
    const runner = createExecRunner({ kube, workload: 'deployment/openkat-toolbox', container: 'toolbox' });
    assert.equal(runner.name, 'exec');
    await runner.run(step, ctx);
    assert.deepEqual(found, ['deployment/openkat-toolbox']);
    assert.deepEqual(calls, [{ pod: 'openkat-toolbox-abc-x1', container: 'toolbox', argv: ['alembic', 'downgrade', '0008'] }]);
    assert.deepEqual(out, [
      'exec in pod/openkat-toolbox-abc-x1 container toolbox: alembic downgrade 0008',
      'INFO  [alembic.runtime.migration] Running downgrade 0010 -> 0009, add findings score',
    ]);
    assert.ok(!out.join('\n').includes('secret'), 'the URL is never printed');
  });

  it('turns a non-zero exit into StepFailedError (exit 14) naming the pod, the code and the last real output line', async () => {
    const { kube } = fakeKube(1, ['RuntimeError: boom', 'command terminated with exit code 1']);
    const runner = createExecRunner({ kube, workload: 'deployment/openkat-toolbox', container: undefined });
    await assert.rejects(runner.run(step, context().ctx), (err: unknown) => {
      assert.ok(err instanceof StepFailedError);
      assert.equal(err.code, 14);
      assert.match(err.message, /track main: down of 0010 -> 0008 failed: the command in pod\/openkat-toolbox-abc-x1 exited with code 1; last output: RuntimeError: boom$/);
      return true;
    });
  });

  it('capture (the --dry-run SQL preview) returns the command\'s output, and fails on a non-zero exit', async () => {
    const ok = fakeKube(0, ['BEGIN;', 'COMMIT;']);
    const runner = createExecRunner({ kube: ok.kube, workload: 'deployment/openkat-toolbox', container: 'toolbox' });
    assert.deepEqual(await runner.capture!(step, ['alembic', 'downgrade', '0010:0008', '--sql'], context().ctx), ['BEGIN;', 'COMMIT;']);
    assert.deepEqual(ok.calls[0]!.argv, ['alembic', 'downgrade', '0010:0008', '--sql']);
    const bad = createExecRunner({ kube: fakeKube(2, ['FAILED']).kube, workload: 'deployment/x', container: undefined });
    await assert.rejects(bad.capture!(step, ['x'], context().ctx), /exited with code 2; last output: FAILED/);
  });

  it('refuses a step without a command before touching the cluster', async () => {
    const { kube, found } = fakeKube(0, []);
    const runner = createExecRunner({ kube, workload: 'deployment/x', container: undefined });
    await assert.rejects(runner.run({ ...step, command: undefined }, context().ctx), RefusedError);
    assert.deepEqual(found, []);
  });

  it('refuses an exec target that the rollback stops (its pods are deleted when scaled to 0), whatever the kind is spelled', () => {
    assert.equal(normalizeWorkloadRef('deploy/openkat-api'), 'deployment/openkat-api');
    assert.equal(normalizeWorkloadRef('StatefulSet/db'), 'statefulset/db');
    assert.throws(() => checkExecTarget('deploy/openkat-api', ['deployment/openkat-api']), (err: unknown) => err instanceof RefusedError && err.code === 12 && /which the rollback stops/.test(err.message));
    assert.doesNotThrow(() => checkExecTarget('deployment/openkat-toolbox', ['deployment/openkat-api']));
    // The refusal names where the stop came from: the chart's annotation, or the user's own --stop.
    assert.throws(() => checkExecTarget('deployment/openkat-api', ['deployment/openkat-api']), /stops \(the chart's schema-rollback\.io\/stop\)/);
    assert.throws(() => checkExecTarget('deployment/openkat-api', ['deployment/openkat-api'], '--stop'), (err: unknown) =>
      err instanceof RefusedError && /stops \(your --stop\)/.test(err.message) && !/schema-rollback\.io\/stop/.test(err.message) && /leave deployment\/openkat-api out of --stop/.test(err.hint ?? ''));
  });

  it('finds pods by the workload\'s matchLabels', () => {
    assert.equal(podSelector({ metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: '1', b: 'two' } } } }), 'a=1,b=two');
    assert.equal(podSelector({ metadata: { name: 'x' }, spec: {} }), undefined);
  });
});
