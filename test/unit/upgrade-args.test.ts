/**
 * The argv the adapters build, without running anything: `helm upgrade` for Helm 3.17 and 4.1
 * (the real binaries accept them in test/integration/helm-upgrade.test.ts), chart references,
 * Chart.yaml as `helm show chart` prints it, and kubectl's scale/logs/Job-status pieces.
 */
import assert from 'node:assert/strict';
import { maskArgv } from '../../src/adapters/command.js';
import { chartFromYaml, chartRefKind, manifestsFromYaml, parseHelmMajor, upgradeArgs, valuesFlags, type UpgradeArgsOptions } from '../../src/adapters/helm.js';
import { jobOutcome, logsArgs, scaleArgs } from '../../src/adapters/kubectl.js';

const base: UpgradeArgsOptions = { release: 'kagent', chart: 'fx/kagent', version: '0.8.0', helmMajor: 3, reuseValues: 'reset-then-reuse', extra: [] };

describe('upgradeArgs', () => {
  const table: Array<[string, Partial<UpgradeArgsOptions>, string[]]> = [
    ['Helm 3: values kept over the target chart defaults', {}, ['--reset-then-reuse-values']],
    ['Helm 4, server-side release: forces the scale subresource conflict', { helmMajor: 4, applyMethod: 'ssa' }, ['--reset-then-reuse-values', '--force-conflicts']],
    ['Helm 4, client-side release (made by Helm 3): no --force-conflicts, Helm 4 would reject it', { helmMajor: 4, applyMethod: 'csa' }, ['--reset-then-reuse-values']],
    ['Helm 4, no apply method recorded: client-side, as Helm 4 decides', { helmMajor: 4 }, ['--reset-then-reuse-values']],
    ['Helm 3 ignores an apply method', { applyMethod: 'ssa' }, ['--reset-then-reuse-values']],
    ['Helm 3 --reuse-values on request', { reuseValues: 'reuse' }, ['--reuse-values']],
    ['Helm 4 --reuse-values on request', { helmMajor: 4, applyMethod: 'ssa', reuseValues: 'reuse' }, ['--reuse-values', '--force-conflicts']],
    ['Helm 3 wait and timeout', { wait: true, timeout: '300s' }, ['--reset-then-reuse-values', '--wait', '--timeout', '300s']],
    ['Helm 4 wait names its strategy', { helmMajor: 4, applyMethod: 'ssa', wait: true, timeout: '5m' }, ['--reset-then-reuse-values', '--force-conflicts', '--wait=watcher', '--timeout', '5m']],
    ['the user\'s flags come last, so they win', { helmMajor: 4, applyMethod: 'ssa', extra: ['--set', 'image.tag=0.8.1', '--timeout', '10m'], timeout: '300s' },
      ['--reset-then-reuse-values', '--force-conflicts', '--timeout', '300s', '--set', 'image.tag=0.8.1', '--timeout', '10m']],
    ['a later Helm major is treated like Helm 4', { helmMajor: 5, applyMethod: 'ssa' }, ['--reset-then-reuse-values', '--force-conflicts']],
  ];
  for (const [name, opts, flags] of table) {
    it(name, () => {
      assert.deepEqual(upgradeArgs({ ...base, ...opts }), ['upgrade', 'kagent', 'fx/kagent', '--version', '0.8.0', ...flags]);
    });
  }
});

describe('helm adapter helpers', () => {
  it('reads the major version from helm version --template {{.Version}}', () => {
    assert.equal(parseHelmMajor('v3.17.3'), 3);
    assert.equal(parseHelmMajor('v4.1.4\n'), 4);
    assert.throws(() => parseHelmMajor('<no value>'), /cannot tell the helm version/);
  });

  it('tells repository charts from OCI, URLs and local charts', () => {
    const cases: Array<[string, string]> = [
      ['fx/kagent', 'repo'],
      ['oci://ghcr.io/kagent-dev/kagent/helm/kagent', 'oci'],
      ['https://example.com/charts/kagent-0.8.0.tgz', 'url'],
      ['./charts/kagent', 'local'],
      ['/srv/charts/kagent', 'local'],
      ['kagent-0.8.0.tgz', 'local'],
      ['charts/kagent/sub', 'local'],
      ['kagent', 'local'],
    ];
    for (const [ref, kind] of cases) assert.equal(chartRefKind(ref), kind, ref);
  });

  it('parses Chart.yaml as helm show chart prints it, annotations as strings', () => {
    const yaml = [
      'annotations:',
      '  schema-rollback.io/tracks: |',
      '    - name: core',
      '  schema-rollback.io/revision: "0010"',
      'apiVersion: v2',
      'appVersion: 0.8.0',
      'name: kagent',
      'version: 0.8.0',
    ].join('\n');
    assert.deepEqual(chartFromYaml(yaml), {
      name: 'kagent',
      version: '0.8.0',
      appVersion: '0.8.0',
      annotations: { 'schema-rollback.io/tracks': '- name: core\n', 'schema-rollback.io/revision': '0010' },
    });
    assert.deepEqual(chartFromYaml('name: x\nversion: 1.0.0\n'), { name: 'x', version: '1.0.0', appVersion: undefined, annotations: {} });
  });
});

describe('kubectl adapter helpers', () => {
  it('builds kubectl scale and logs argv', () => {
    assert.deepEqual(scaleArgs('deployment', 'kagent-controller', 0), ['scale', 'deployment/kagent-controller', '--replicas=0']);
    assert.throws(() => scaleArgs('deployment', 'x', -1), RangeError);
    assert.throws(() => scaleArgs('deployment', 'x', 1.5), RangeError);
    assert.deepEqual(logsArgs('j'), ['logs', '-f', 'job/j']);
    assert.deepEqual(logsArgs('j', 600), ['logs', '-f', 'job/j', '--pod-running-timeout=600s']);
  });

  it('reads how a Job ended from its conditions', () => {
    const job = (conditions?: object[]) => ({ metadata: { name: 'j' }, status: { conditions } });
    assert.equal(jobOutcome(job()), undefined);
    assert.equal(jobOutcome(job([{ type: 'Suspended', status: 'True' }])), undefined);
    assert.equal(jobOutcome(job([{ type: 'Failed', status: 'False' }])), undefined);
    assert.deepEqual(jobOutcome(job([{ type: 'SuccessCriteriaMet', status: 'True' }, { type: 'Complete', status: 'True' }])), { status: 'complete' });
    assert.deepEqual(
      jobOutcome(job([{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }])),
      { status: 'failed', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' },
    );
  });
});

describe('rendering a target chart version (helm template) for discovery', () => {
  it('passes on the user\'s values flags, in both spellings, and nothing else', () => {
    assert.deepEqual(
      valuesFlags(['--wait', '--set', 'image.tag=0.1.47', '--timeout', '5m', '-f', 'prod.yaml', '--set-string=a=1', '--values=extra.yaml', '--atomic', '--set-json', '{"x":1}']),
      ['--set', 'image.tag=0.1.47', '-f', 'prod.yaml', '--set-string=a=1', '--values=extra.yaml', '--set-json', '{"x":1}'],
    );
  });

  it('reads the rendered documents, skipping empty ones', () => {
    const objects = manifestsFromYaml('---\n# Source: x/templates/empty.yaml\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n---\n\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n');
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ['Deployment/api', 'Secret/db']);
  });

  it('never shows the values of --set flags in a logged or reported argv, only their keys', () => {
    assert.deepEqual(
      maskArgv(['helm', 'upgrade', 'r', 'c', '--set', 'db.password=hunter2,image.tag=1', '--set-string=token=abc', '--password', 'p', '--version', '1']),
      ['helm', 'upgrade', 'r', 'c', '--set', 'db.password=***,image.tag=***', '--set-string=token=***', '--password', '***', '--version', '1'],
    );
  });
});
