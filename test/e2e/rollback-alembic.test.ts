/**
 * `helm schema-rollback RELEASE --to VERSION` for an alembic track end to end, the OpenKAT /
 * LlamaCloud runbook as one command: the built binary installed into real Helm 3.17 and 4.1, a
 * release of chart openkat 1.1.0 (alembic '0010', one-track shorthand, no command in the contract)
 * in the Kubernetes API double, a real PostgreSQL migrated to head by the real alembic (Debian's
 * python3-alembic) with the 1.1.0 image's files and data in it, and a rollback to 1.0.0 ('0008') in
 * which the downs run in a Job cloned from the api with the plugin's default command for alembic,
 * `alembic downgrade 0008`, inside the 1.1.0 "image": test/fixtures/images/openkat-1.1.0 (a real
 * alembic project: alembic.ini, env.py reading DATABASE_URL, versions/, bin/alembic), run by the fake
 * kubelet. The plugin never writes alembic_version: alembic does, in the downgrade's one transaction.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { alembicOk, columns, imageWithFailingDowngrade, query, regclass, skipWithoutAlembic, versionRows } from '../harness/alembic.js';
import { helmVersions, repoRoot } from '../harness/plugin.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { assertInOrder, scenario, type Scenario } from '../harness/scenario.js';

const NS = 'kat';
const IMAGE = 'example/openkat:1.1.0';
const IMAGES = join(repoRoot, 'test', 'fixtures', 'images');
const IMAGE_DIR = join(IMAGES, 'openkat-1.1.0');
const OLDER_IMAGE_DIR = join(IMAGES, 'openkat-1.0.0');
const JOB = { apiVersion: 'batch/v1', kind: 'Job' };

/** What the api of 1.1.0 leaves when it migrates on start (`alembic upgrade head`), plus user data. */
async function migrateOpenkat11(url: string): Promise<void> {
  alembicOk(IMAGE_DIR, url, ['upgrade', 'head']);
  await query(url, `INSERT INTO organisations (name, code) VALUES ('Acme', 'AC'), ('Globex', 'GX');
    INSERT INTO findings (organisation_id, title, severity, score) VALUES (1, 'open port 23', 'high', 7.5), (2, 'expired certificate', 'medium', 5.0);
    INSERT INTO reports (organisation_id, body) VALUES (1, 'weekly report');
    INSERT INTO plugin_settings (plugin_id, value) VALUES ('dns-records', '{"ttl": 300}');`);
}

/** A copy of the 1.1.0 image whose 0009 downgrade drops its table, then raises: a release that shipped a broken downgrade. */
function brokenImage(): string {
  return imageWithFailingDowngrade(IMAGE_DIR, 'versions/0009_create_plugin_settings.py', 'op.execute("DROP TABLE plugin_settings")', 'plugin settings cannot be restored by this downgrade');
}

/** A world with release openkat of chart 1.1.0 installed (api at 2 replicas), migrated to '0010' with data; `imageDir` is what the 1.1.0 image runs. */
function openkat(helm: (typeof helmVersions)[number], prefix: string, imageDir: () => string): Scenario {
  return scenario({
    helm, prefix, namespace: NS, release: 'openkat', chart: 'openkat', version: '1.1.0', installArgs: ['--set', 'replicaCount=2'],
    images: () => ({ [IMAGE]: imageDir() }), needsDouble: 'runs the openkat 1.1.0 image from the fake kubelet\'s image map', deployment: 'openkat-api',
    skipUnless: (ctx) => skipWithoutAlembic(ctx, 'the openkat fixture images'), prepare: migrateOpenkat11,
  });
}

for (const helm of helmVersions) {
  describe(`e2e rollback of an alembic track (openkat, alembic in the 1.1.0 image) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = openkat(helm, 'hsr-rollback-alembic-', () => IMAGE_DIR);

    it('--dry-run plans `alembic downgrade 0008` (the default for alembic) in a Job, ids kept as written, and changes nothing', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--dry-run']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^main\s+alembic\s+0010\s+0008\s+\(tool decides\)\s+job$/m);
      assert.match(r.stdout, /^Commands \(in a Job cloned from deployment\/openkat-api container api\):\n {2}main: alembic downgrade 0008$/m);
      assert.match(r.stdout, /scale deployment\/openkat-api 2->0/);
      // The SQL preview: `alembic downgrade 0010:0008 --sql` run in a Job from the 1.1.0 image, marked as a preview.
      assert.match(r.stdout, /^SQL preview for track main \(alembic downgrade 0010:0008 --sql: the tool's offline output, not run; online it can differ, e\.g\. at base .*\):$/m);
      assertInOrder(r.stdout, [
        '  | BEGIN;',
        '  | -- Running downgrade 0010 -> 0009',
        '  | ALTER TABLE findings DROP COLUMN score;',
        "  | UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0010';",
        '  | DROP TABLE plugin_settings;',
        "  | UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0009';",
        '  | COMMIT;',
        '(end of SQL preview for track main)',
      ]);
      assert.doesNotMatch(r.stdout, /INFO {2}\[alembic/, 'alembic\'s log lines are not SQL');
      // '0010' stays '0010': no revision shows as a number.
      assert.doesNotMatch(r.stdout, /(?<![0-9.])(10|8)(?![0-9.])/);
      assert.deepEqual(s.ourJobs(), []);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
    });

    it('the native runner refuses the alembic track: the plugin never writes alembic_version itself', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--runner', 'native', '--source', IMAGE_DIR, '--yes']);
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /native runner runs [^\n]*golang-migrate[^\n]* down files, not alembic/);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
      assert.equal(await s.replicas(), '2');
    });

    it('runs `alembic downgrade 0008` in a Job from the 1.1.0 image, then hands off to helm upgrade; the older image is in step (-o yaml: the Plan, ---, the Result)', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--yes', '-o', 'yaml']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      const [plan, result] = assertOutputDocuments(r.stdout, 'yaml', ['Plan', 'Result']);
      assert.deepEqual(plan!['tracks'], [{ kind: 'revert', step: {
        track: 'main', tool: 'alembic', table: { table: 'alembic_version' }, current: ['0010'], target: '0008', revisions: [],
        command: ['alembic', 'downgrade', '0008'], sqlPreview: (plan!['tracks'] as Array<{ step: { sqlPreview: unknown } }>)[0]!.step.sqlPreview,
      } }]);
      assert.deepEqual(result!['tracks'], [{ track: 'main', outcome: 'reverted', from: ['0010'], to: '0008', reverted: [] }]);
      // alembic_version holds exactly '0008', written by alembic.
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0008' }]);
      // alembic's own log lines, streamed from the Job: 0010's down, then 0009's.
      assert.match(r.stderr, /^ {2}main \| .*Running downgrade 0010 -> 0009, add findings score$/m);
      assert.match(r.stderr, /^ {2}main \| .*Running downgrade 0009 -> 0008, create plugin settings$/m);
      assert.match(r.stderr, /track main: verified at 0008/);
      assert.doesNotMatch(r.stderr, /verified at 8\b|-> 8\b|(?<![0-9])10 ->/);
      // The destructive downs dropped what 0009 and 0010 added; everything else is intact.
      assert.equal(await regclass(s.db.url, 'plugin_settings'), null);
      assert.deepEqual(await columns(s.db.url, 'findings'), ['id', 'organisation_id', 'title', 'severity']);
      assert.deepEqual(await query(s.db.url, 'SELECT name, code FROM organisations ORDER BY id'), [{ name: 'Acme', code: 'AC' }, { name: 'Globex', code: 'GX' }]);
      assert.deepEqual(await query(s.db.url, 'SELECT organisation_id, title, severity FROM findings ORDER BY id'), [
        { organisation_id: 1, title: 'open port 23', severity: 'high' },
        { organisation_id: 2, title: 'expired certificate', severity: 'medium' },
      ]);
      assert.deepEqual(await query(s.db.url, 'SELECT body FROM reports'), [{ body: 'weekly report' }]);
      // The OLDER image's alembic knows where the database is, and has nothing to upgrade.
      assert.match(alembicOk(OLDER_IMAGE_DIR, s.db.url, ['current']), /^0008 \(head\)$/m);
      const up = alembicOk(OLDER_IMAGE_DIR, s.db.url, ['upgrade', 'head']);
      assert.doesNotMatch(up, /Running upgrade/);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0008' }]);
      // The Job is gone, the api is back through helm upgrade at its replicas, history shows 1.0.0.
      assert.deepEqual(s.ourJobs(), []);
      assert.match(r.stderr, /helm upgrade openkat fixtures\/openkat --version 1\.0\.0/);
      assert.deepEqual(await s.history(), ['openkat-1.1.0', 'openkat-1.0.0']);
      assert.equal(await s.replicas(), '2');
      const [status] = assertOutputDocuments((await s.sr(['status', 'openkat', '-o', 'json'])).stdout, 'json', ['Status']);
      assert.deepEqual((status!['tracks'] as Array<{ inStep: boolean }>).map((t) => t.inStep), [true]);
    });
  });

  describe(`e2e rollback of an alembic track whose downgrade fails (openkat) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = openkat(helm, 'hsr-rollback-alembic-fail-', brokenImage);

    it('exits 14 with alembic_version still 0010 (one transaction), the api restored, no hand-off', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--yes']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      // alembic ran 0010's down and 0009's, which raised: PostgreSQL rolled the whole command back.
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
      assert.equal(await regclass(s.db.url, 'plugin_settings'), 'plugin_settings');
      assert.ok((await columns(s.db.url, 'findings')).includes('score'), 'the 0010 down was rolled back too');
      assert.deepEqual(await query(s.db.url, 'SELECT plugin_id FROM plugin_settings'), [{ plugin_id: 'dns-records' }]);
      assert.match(r.stderr, /^ {2}main \| .*RuntimeError: plugin settings cannot be restored by this downgrade/m);
      assert.match(r.stderr, /^ {2}main: 0010, target 0008, failed$/m);
      assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /main: 10\b|target 8\b/);
      // The failed Job is kept for its log; the api is back at its replicas; helm was not called.
      assert.equal(s.ourJobs().length, 1);
      assert.match(r.stderr, /scaled deployment\/openkat-api 0 -> 2/);
      assert.equal(await s.replicas(), '2');
      assert.doesNotMatch(r.stderr, /helm upgrade openkat/);
      assert.deepEqual(await s.history(), ['openkat-1.1.0']);
    });
  });
}

for (const helm of helmVersions) {
  describe(`e2e rollback of an alembic track with the exec runner (openkat) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = openkat(helm, 'hsr-rollback-alembic-exec-', () => IMAGE_DIR);

    it('refuses to exec into the api, which the rollback stops (its pods would be gone), changing nothing', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--runner', 'exec', '--yes']);
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /exec runner runs the downs in a pod of deployment\/openkat-api, which the rollback stops/);
      assert.match(r.stderr, /--workload KIND\/NAME/);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
      assert.equal(await s.replicas(), '2');
    });

    it('runs `alembic downgrade 0008` by kubectl exec in the toolbox pod (1.1.0 image), creates no Job, then hands off', async () => {
      const args = ['openkat', '--to', '1.0.0', '--runner', 'exec', '--workload', 'deployment/openkat-toolbox', '--container', 'toolbox'];
      const plan = await s.sr([...args, '--dry-run']);
      assert.equal(plan.exitCode, 0, `${plan.stdout}\n${plan.stderr}`);
      assert.match(plan.stdout, /^main\s+alembic\s+0010\s+0008\s+\(tool decides\)\s+exec$/m);
      assert.match(plan.stdout, /^Commands \(by kubectl exec in a running pod of deployment\/openkat-toolbox container toolbox\):\n {2}main: alembic downgrade 0008$/m);
      assert.match(plan.stdout, /^SQL preview for track main \(alembic downgrade 0010:0008 --sql: /m);
      assert.match(plan.stdout, /^ {2}\| DROP TABLE plugin_settings;$/m);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
      const r = await s.sr([...args, '--yes']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0008' }]);
      assert.match(r.stderr, /^ {2}main \| exec in pod\/openkat-toolbox-[a-z0-9]+-[a-z0-9]{5} container toolbox: alembic downgrade 0008$/m);
      assert.match(r.stderr, /^ {2}main \| .*Running downgrade 0010 -> 0009, add findings score$/m);
      assert.match(r.stderr, /^ {2}main \| .*Running downgrade 0009 -> 0008, create plugin settings$/m);
      assert.match(r.stderr, /scaled deployment\/openkat-api 2 -> 0/);
      assert.equal(await regclass(s.db.url, 'plugin_settings'), null);
      assert.deepEqual(await query(s.db.url, 'SELECT title FROM findings ORDER BY id'), [{ title: 'open port 23' }, { title: 'expired certificate' }]);
      assert.deepEqual(s.world.cluster.double!.list(JOB, { namespace: NS }), [], 'the exec runner creates nothing in the cluster');
      assert.match(alembicOk(OLDER_IMAGE_DIR, s.db.url, ['current']), /^0008 \(head\)$/m);
      assert.deepEqual(await s.history(), ['openkat-1.1.0', 'openkat-1.0.0']);
      assert.equal(await s.replicas(), '2');
    });
  });

  describe(`e2e rollback of an alembic track with the exec runner and a failing downgrade (openkat) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = openkat(helm, 'hsr-rollback-alembic-exec-fail-', brokenImage);

    it('exits 14 with the exit code and alembic\'s error, alembic_version still 0010, the api restored, no hand-off', async () => {
      const r = await s.sr(['openkat', '--to', '1.0.0', '--runner', 'exec', '--workload', 'deployment/openkat-toolbox', '--container', 'toolbox', '--yes']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      assert.deepEqual(await versionRows(s.db.url), [{ version_num: '0010' }]);
      assert.equal(await regclass(s.db.url, 'plugin_settings'), 'plugin_settings');
      assert.match(r.stderr, /track main: down of 0010 -> 0008 failed: the command in pod\/openkat-toolbox-\S+ exited with code 1; last output: RuntimeError: plugin settings cannot be restored by this downgrade/);
      assert.match(r.stderr, /^ {2}main: 0010, target 0008, failed$/m);
      assert.match(r.stderr, /scaled deployment\/openkat-api 0 -> 2/);
      assert.equal(await s.replicas(), '2');
      assert.deepEqual(await s.history(), ['openkat-1.1.0']);
    });
  });
}
