/**
 * `helm schema-rollback RELEASE --to VERSION --runner job` end to end, the kagent case: the built
 * binary installed into real Helm 3.17 and 4.1, a release of chart kagent 0.9.0 (core 13, vector 3)
 * in the Kubernetes API double, a real PostgreSQL migrated up by golang-migrate's bookkeeping with
 * data in it, and a rollback to 0.8.0 (core 8, vector 1) in which the downs run in Jobs cloned from
 * the controller, with the app's OWN migrate CLI (`kagent migrate goto N --track T`, the contract's
 * per-track command) inside the 0.9.0 "image": test/fixtures/images/kagent-0.9.0, run by the fake
 * kubelet, a golang-migrate implementation of its own over the image's own migration files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, lstatSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions, makeTempDir, repoRoot } from '../harness/plugin.js';
import { query } from '../harness/postgres.js';
import { assertInOrder, scenario, type Scenario } from '../harness/scenario.js';

const NS = 'ai';
const IMAGE = 'example/kagent:0.9.0';
const IMAGE_DIR = join(repoRoot, 'test', 'fixtures', 'images', 'kagent-0.9.0');
const POD = { apiVersion: 'v1', kind: 'Pod' };
const OURS = 'app.kubernetes.io/managed-by=helm-schema-rollback';

/** The image's `kagent` is a Python script for Debian's python3 with psycopg2 (scripts/setup.sh installs it as root). */
function skipWithoutPsycopg(ctx: Mocha.Context): void {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import psycopg2'], { stdio: 'ignore' });
  if (probe.status === 0) return;
  console.log('      skipped: the kagent fixture image needs /usr/bin/python3 with psycopg2 (apt-get install python3-psycopg2)');
  ctx.skip();
}


const regclass = async (url: string, table: string) =>
  (await query<{ t: string | null }>(url, `SELECT to_regclass('${table}')::text AS t`))[0]!.t;

/** A copy of the 0.9.0 image whose 000011 down drops a table, then fails: a release that shipped a broken down file. */
function brokenImage(): string {
  const dir = join(makeTempDir('hsr-image-broken-'), 'kagent-0.9.0');
  // The image's migrations/<track> are symlinks; copy what they point to (Node 24's cpSync keeps
  // nested symlinks even with dereference: true, and writing through one would break the fixture).
  cpSync(IMAGE_DIR, dir, { recursive: true, filter: (src) => src !== join(IMAGE_DIR, 'migrations') });
  for (const track of ['core', 'vector']) cpSync(realpathSync(join(IMAGE_DIR, 'migrations', track)), join(dir, 'migrations', track), { recursive: true });
  const file = join(dir, 'migrations', 'core', '000011_agent_instance_tasks.down.sql');
  assert.ok(lstatSync(join(dir, 'migrations', 'core')).isDirectory() && lstatSync(file).isFile(), 'the copy must not write through the fixture\'s symlink');
  writeFileSync(file, 'DROP TABLE agent_instance_tasks;\nSELECT 1 / 0;\n');
  return dir;
}

/** One rollback scenario: a world whose fake kubelet plays `example/kagent:0.9.0` from `imageDir`, with kagent 0.9.0 installed and migrated. */
function kagent(helm: (typeof helmVersions)[number], prefix: string, imageDir: () => string): Scenario {
  return scenario({
    helm, prefix, namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
    images: () => ({ [IMAGE]: imageDir() }), needsDouble: 'runs the kagent 0.9.0 image from the fake kubelet\'s image map', deployment: 'kagent-controller',
    skipUnless: skipWithoutPsycopg, prepare: migrateKagent09,
  });
}

for (const helm of helmVersions) {
  describe(`e2e rollback with the job runner (kagent's own migrate CLI in the 0.9.0 image) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = kagent(helm, 'hsr-rollback-job-', () => IMAGE_DIR);

    it('--dry-run plans the job runner with the contract\'s command and changes nothing', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--dry-run']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^vector\s+golang-migrate\s+3\s+1\s+\(tool decides\)\s+job$/m);
      assert.match(r.stdout, /^core\s+golang-migrate\s+13\s+8\s+\(tool decides\)\s+job$/m);
      assert.match(r.stdout, /^Commands \(in a Job cloned from deployment\/kagent-controller container controller\):\n  vector: kagent migrate goto 1 --track vector\n  core: kagent migrate goto 8 --track core$/m);
      assert.deepEqual(s.ourJobs(), []);
      assert.deepEqual(await versionRows(s.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    });

    it('runs `kagent migrate goto N --track T` per track in Jobs, streams their logs, deletes them, then hands off to helm upgrade', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      // Version tables row for row, as `migrate goto 8` / `goto 1` leave them.
      assert.deepEqual(await versionRows(s.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
      // The downs dropped what 9..13 and vector 2..3 added; rows in tables they do not touch are intact.
      assert.equal(await regclass(s.db.url, 'agent_instances'), null);
      assert.equal(await regclass(s.db.url, 'agent_instance_tasks'), null);
      assert.equal(await regclass(s.db.url, 'memory'), 'memory', 'vector 1 (the table) stays');
      assert.deepEqual(await query(s.db.url, 'SELECT id, name FROM agents ORDER BY id'), [{ id: 'a1', name: 'helper' }, { id: 'a2', name: 'planner' }]);
      assert.deepEqual(await query(s.db.url, 'SELECT id, agent_id, user_id FROM sessions ORDER BY id'), [
        { id: 's1', agent_id: 'a1', user_id: 'u1' },
        { id: 's2', agent_id: 'a2', user_id: 'u2' },
      ]);
      // Each Job's log, streamed into the plugin's progress: the image's CLI printed one line per
      // step, vector (the later track) first, and each track was verified before the next.
      const step = (track: string, v: number, name: string) => new RegExp(`^  ${track} \\| ${v}/d ${name} \\([0-9.]+ms\\)$`, 'm');
      assertInOrder(r.stderr, [
        'scaled deployment/kagent-controller 2 -> 0',
        'track vector: golang-migrate down 3 -> 1',
        /^ {2}vector \| job\/kagent-schema-rollback-vector-[a-z0-9]{5} started \(image example\/kagent:0\.9\.0\)$/m,
        step('vector', 3, 'memory_uuid_default'),
        step('vector', 2, 'add_memory_hnsw_index'),
        'track vector: verified at 1',
        'track core: golang-migrate down 13 -> 8',
        /^ {2}core \| job\/kagent-schema-rollback-core-[a-z0-9]{5} started \(image example\/kagent:0\.9\.0\)$/m,
        step('core', 13, 'runtime_revision_agent_card'),
        step('core', 12, 'agent_instance_message_idempotency'),
        step('core', 11, 'agent_instance_tasks'),
        step('core', 10, 'agent_instance_operation'),
        step('core', 9, 'agent_instances'),
        'track core: verified at 8',
        'helm upgrade kagent fixtures/kagent --version 0.8.0',
      ]);
      assert.equal(r.stderr.match(/^ {2}core \| \d+\/d /gm)?.length, 5, 'one line per core step, no more');
      // Successful Jobs are removed, with their pods.
      assert.deepEqual(s.ourJobs(), []);
      assert.deepEqual(s.world.cluster.double!.list(POD, { namespace: NS, labelSelector: OURS }), []);
      // Helm now runs chart 0.8.0 with the user's values kept.
      const history = JSON.parse((await s.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0', 'kagent-0.8.0']);
      const values = JSON.parse((await s.plugin.helm(['get', 'values', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.equal(values.replicaCount, 2);
      assert.equal(await s.replicas(), '2');
      const status = JSON.parse((await s.sr(['status', 'kagent', '-o', 'json'])).stdout);
      assert.deepEqual(status.tracks.map((t: { inStep: boolean }) => t.inStep), [true, true]);
    });
  });

  describe(`e2e rollback with the job runner and a broken down file in the image through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = kagent(helm, 'hsr-rollback-job-fail-', brokenImage);

    it('stops at the failing step as golang-migrate leaves it, keeps the Job for its log, keeps the controller stopped on the dirty table with the exact repair, does not hand off', async () => {
      const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--yes']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      // vector went first and finished; core reverted 13 and 12, then 11's down failed: the image's
      // CLI left the previous version of the failed file, dirty, and 11's DROP TABLE was rolled
      // back with the rest of that file (one implicit transaction).
      assert.deepEqual(await versionRows(s.db.url), [[{ version: '10', dirty: true }], [{ version: '1', dirty: false }]]);
      assert.equal(await regclass(s.db.url, 'agent_instance_tasks'), 'agent_instance_tasks');
      assert.match(r.stderr, /^ {2}core \| 12\/d agent_instance_message_idempotency /m);
      assert.doesNotMatch(r.stderr, /^ {2}core \| 11\/d /m);
      assert.match(r.stderr, /^ {2}core \| error: migration failed: division by zero in line 0: 000011_agent_instance_tasks\.down\.sql/m);
      // The vector Job is gone; the failed core Job is kept and the error says how to read it.
      const jobs = s.ourJobs();
      assert.equal(jobs.length, 1, JSON.stringify(jobs.map((j) => j.metadata.name)));
      const name = jobs[0]!.metadata.name!;
      assert.match(name, /^kagent-schema-rollback-core-[a-z0-9]{5}$/);
      assert.match(r.stderr, /track core: down of 13 -> 8 failed: job\/\S+ failed \(BackoffLimitExceeded: .*\); last output: error: migration failed: division by zero/);
      assert.ok(r.stderr.includes(`kubectl logs job/${name} -n ai`), r.stderr);
      const [pod] = s.world.cluster.double!.list(POD, { namespace: NS, labelSelector: `job-name=${name}` });
      assert.match(s.world.cluster.double!.podLogs(NS, pod!.metadata.name!) ?? '', /error: migration failed: division by zero/);
      // The controller stays at 0: started on the dirty table it would take it for a failed up and
      // force the wrong version. The repair names the version the schema is at (11, rolled back).
      assert.doesNotMatch(r.stderr, /scaled deployment\/kagent-controller 0 -> 2/);
      assert.equal(await s.replicas(), '0');
      assert.match(r.stderr, /Workloads kept at 0: track core is dirty/);
      assert.match(r.stderr, /repair core: the schema is at 11: check it, then run "migrate -path DIR -database URL force 11"/);
      assert.doesNotMatch(r.stderr, /helm upgrade kagent/);
      const history = JSON.parse((await s.plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
      assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0']);
    });
  });
}

describe('e2e rollback with the job runner: an image that never pulls, through Helm 4.1', function () {
  this.timeout(300_000);
  const s = kagent(helmVersions.find((h) => h.major === 4)!, 'hsr-rollback-job-pull-', () => IMAGE_DIR);

  it('fails the step at once naming the image (not after the Job\'s 10-minute deadline), deletes the Job, restores the workloads on the clean table (exit 14); the re-run finishes once the image pulls', async () => {
    // Gone from the fake kubelet's map: its pods wait in ImagePullBackOff, as on a cluster that cannot pull it.
    delete s.images[IMAGE];
    const r = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--yes']);
    assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /track vector: down of 3 -> 1 failed: job\/kagent-schema-rollback-vector-[a-z0-9]{5} never started: its image example\/kagent:0\.9\.0 cannot be pulled \((ErrImagePull|ImagePullBackOff): [^)]*example\/kagent:0\.9\.0/);
    assert.match(r.stderr, /check that the cluster can pull example\/kagent:0\.9\.0/);
    // Nothing ran: both tables as they were, clean; the user's rows kept; the controller back.
    assert.deepEqual(await versionRows(s.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    assert.equal((await query<{ n: string }>(s.db.url, 'SELECT count(*)::text AS n FROM agents'))[0]!.n, '2');
    assert.match(r.stderr, /vector: 3, target 1, failed/);
    assert.match(r.stderr, /core: 13, target 8, not started/);
    assert.match(r.stderr, /scaled deployment\/kagent-controller 0 -> 2/);
    assert.equal(await s.replicas(), '2');
    // Kept, it would run the downs whenever the image came, long after the workloads were restored.
    assert.deepEqual(s.ourJobs(), []);
    assert.deepEqual(await s.history(), ['kagent-0.9.0']);

    s.images[IMAGE] = IMAGE_DIR;
    const again = await s.sr(['kagent', '--to', '0.8.0', '--runner', 'job', '--yes']);
    assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
    assert.match(again.stdout, /^Previous run by .* did not finish: failed at "down vector 3->1"/m);
    assert.deepEqual(await versionRows(s.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    assert.deepEqual(await s.history(), ['kagent-0.9.0', 'kagent-0.8.0']);
  });
});
