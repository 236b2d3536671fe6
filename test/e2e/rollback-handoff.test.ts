/**
 * The hand-off (`helm upgrade RELEASE CHART --version TARGET`) end to end, the kagent case through
 * real Helm 3.17 and 4.1: checked with `helm upgrade ... --dry-run=server` before the first down, so
 * a target that cannot render or flags helm rejects are refused with nothing changed; and a hand-off
 * that fails only at the real write (the double denies the controller's update as an admission
 * webhook would) leaves every track at its target, the controller at 0 and the command that
 * finishes, which retries only the hand-off.
 */
import assert from 'node:assert/strict';
import { KAGENT_SOURCE as SOURCE, kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions } from '../harness/plugin.js';
import { assertInOrder, scenario, type Scenario } from '../harness/scenario.js';

const NS = 'ai';
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' };
const AT_0_9_0 = [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]];
const AT_0_8_0 = [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]];

function kagent(helm: (typeof helmVersions)[number], prefix: string): Scenario {
  return scenario({
    helm, prefix, namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
    images: () => ({}), needsDouble: 'the double denies a write as an admission webhook would', deployment: 'kagent-controller',
    prepare: migrateKagent09,
  });
}

/** helm's release history as "chart status", oldest first. */
async function history(s: Scenario): Promise<string[]> {
  const out = await s.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json']);
  return JSON.parse(out.stdout).map((h: { chart: string; status: string }) => `${h.chart} ${h.status}`);
}

for (const helm of helmVersions) {
  describe(`e2e rollback whose hand-off cannot succeed, checked before any change, through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = kagent(helm, 'hsr-handoff-check-');

    /** Every refusal below must leave all of it as installed. */
    async function assertNothingChanged(): Promise<void> {
      assert.deepEqual(await versionRows(s.db.url), AT_0_9_0);
      assert.equal(await s.replicas(), '2');
      assert.deepEqual(await history(s), ['kagent-0.9.0 deployed']);
    }

    it('--dry-run shows the hand-off checked when helm upgrade --dry-run passes', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^Hand-off checked \(helm upgrade --dry-run\): chart 0\.8\.0 renders with the release's values and your flags, and its manifests validate \(helm upgrade --dry-run=server\)/m);
      await assertNothingChanged();
    });

    it('refuses a target whose templates fail with the user\'s values (exit 12), naming helm\'s error, also in --dry-run', async () => {
      for (const mode of ['--dry-run', '--yes']) {
        const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, mode, '--', '--set', 'image=broken']);
        assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /the hand-off would fail: helm upgrade kagent fixtures\/kagent --version 0\.8\.0 --dry-run=server says: .*controller\.yaml.*can't evaluate field repository/);
        assert.match(r.stderr, /fix: fix what helm names \(chart kagent 0\.8\.0 rendered with the release's values and your helm flags after "--"\)/);
        assert.doesNotMatch(r.stderr, /scaled|track core:|helm upgrade kagent fixtures\/kagent --version 0\.8\.0\n/);
      }
      await assertNothingChanged();
    });

    it('refuses helm flags after -- that helm rejects (a missing values file, a bad duration), each with helm\'s words, and helm\'s own undo of a failed upgrade', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['-f', '/nonexistent/values.yaml'], /open \/nonexistent\/values\.yaml: no such file or directory/],
        [['--timeout', 'notaduration'], /invalid argument "notaduration" for "--timeout" flag/],
        // Valid for helm, refused here: its undo of a failed upgrade would start the 0.9.0 controller on the 0.8.0 schema.
        [[helm.major === 3 ? '--atomic' : '--rollback-on-failure'], /after "--": if the hand-off failed, helm would roll the release back to chart 0\.9\.0 and start its workloads on the schema of 0\.8\.0/],
      ];
      for (const [flags, said] of cases) {
        const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes', '--', ...flags]);
        assert.equal(r.exitCode, 12, `${flags.join(' ')}:\n${r.stderr}`);
        assert.match(r.stderr, said);
      }
      await assertNothingChanged();
    });

    it('lists the hand-off with the tracks\' own refusals in one run, and never shows a --set value helm echoes', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--track', 'core', '--target-revision', '14', '--yes', '--', '--set-json', 'auth={"password":"s3cret-value"']);
      assert.equal(r.exitCode, 12, r.stderr);
      assertInOrder(r.stderr, ['refused:', /track core: the target revision 14 is newer than the database's 13/, /the hand-off would fail: .*failed parsing --set-json data auth=\*\*\*/]);
      assert.doesNotMatch(`${r.stdout}${r.stderr}`, /s3cret-value/);
      await assertNothingChanged();
    });
  });

  describe(`e2e rollback whose hand-off fails at the real upgrade, then is finished by the same command, through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = kagent(helm, 'hsr-handoff-fail-');
    let liftDenial: (() => void) | undefined;
    let finish: string[] = [];

    after(() => liftDenial?.());

    it('exits 21 with every track at its target, the release on 0.9.0, the controller kept at 0 and why, and the command that finishes', async () => {
      // A change freeze enforced at admission: helm's dry-run sends nothing to the API server, so
      // only the real update meets it.
      liftDenial = s.world.cluster.double!.denyWrites({
        resource: DEPLOYMENT, name: 'kagent-controller', namespace: NS, webhook: 'freeze.policy.example', message: 'namespace ai is in a change freeze',
      });
      const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--yes']);
      assert.equal(r.exitCode, 21, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^Hand-off checked \(helm upgrade --dry-run\)/m);
      assertInOrder(r.stderr, [
        'scaled deployment/kagent-controller 2 -> 0',
        'track core: verified at 8',
        'helm upgrade kagent fixtures/kagent --version 0.8.0',
        'The hand-off failed after the downs: the schema is where chart 0.8.0 expects it, the release is still on chart 0.9.0. Where everything stands:\n' +
          '  vector: 1, target 1, done and verified\n  core: 8, target 8, done and verified\n' +
          '  release kagent: chart 0.9.0 deployed; its upgrade to 0.8.0 failed',
        "deployment/kagent-controller: kept at 0 (was 2): it migrates on start, so chart 0.9.0's code would migrate the schema up again",
        /Error: the hand-off failed after the downs: helm upgrade failed: .*admission webhook "freeze\.policy\.example" denied the request: namespace ai is in a change freeze/,
        `fix: fix what helm names, then finish with: helm -n ${NS} schema-rollback kagent --to 0.8.0 --source ${SOURCE} --yes\n`,
      ]);
      finish = /finish with: (.*)\n/.exec(r.stderr)![1]!.split(' ');
      assert.deepEqual(await versionRows(s.db.url), AT_0_8_0);
      assert.equal(await s.replicas(), '0', 'not restored: the 0.9.0 controller would migrate up again');
      assert.deepEqual(await history(s), ['kagent-0.9.0 deployed', 'kagent-0.8.0 failed']);
    });

    it('a re-run plans only the hand-off: no downs, the controller kept at 0, the failed revision named', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^Release kagent \(namespace ai\): chart kagent 0\.9\.0 -> 0\.8\.0/m);
      assert.match(r.stdout, /^Revision 2 of the release is a failed upgrade to 0\.8\.0 \(a hand-off that did not finish\); revision 1 \(chart 0\.9\.0\) is what runs\./m);
      assert.match(r.stdout, /^core\s+none: already at 8/m);
      assert.match(r.stdout, /^vector\s+none: already at 1/m);
      assertInOrder(r.stdout, [
        '-- What runs, in this order\n',
        '  1. keep deployment/kagent-controller at 0 (it is at 0 now; 2 before the previous run)\n',
        '  2. no downs (every track is at its target)\n',
        '  3. helm upgrade kagent fixtures/kagent --version 0.8.0 (values kept)\n',
        '-- What follows the hand-off\n',
        'Release kagent runs chart 0.8.0; the workloads get the replicas chart 0.8.0 renders (deployment/kagent-controller had 2)\n',
      ]);
      assert.equal(await s.replicas(), '0');
      assert.deepEqual(await history(s), ['kagent-0.9.0 deployed', 'kagent-0.8.0 failed']);
    });

    it('once the cause is gone, the printed command finishes: release on 0.8.0 with the user\'s replicas, schema unchanged', async () => {
      liftDenial!();
      assert.equal(finish[0], 'helm');
      const r = await s.plugin.helm(finish.slice(1), { timeoutMs: 120_000 });
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /track (core|vector):/, 'no downs ran');
      assert.match(r.stdout, /Rolled back kagent to chart kagent 0\.8\.0\./);
      assert.deepEqual(await versionRows(s.db.url), AT_0_8_0);
      assert.equal(await s.replicas(), '2', 'the hand-off set the replicas from the chart and the user\'s values');
      assert.deepEqual(await history(s), ['kagent-0.9.0 superseded', 'kagent-0.8.0 failed', 'kagent-0.8.0 deployed']);
      const status = JSON.parse((await s.sr(['status', 'kagent', '-o', 'json'])).stdout);
      assert.deepEqual(status.tracks.map((t: { inStep: boolean }) => t.inStep), [true, true]);
    });
  });
}
