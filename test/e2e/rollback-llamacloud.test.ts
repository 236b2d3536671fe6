/**
 * The LlamaCloud runbook as one command, end to end: a chart WITHOUT schema-rollback.io annotations
 * (LlamaCloud's charts today), so the contract comes from flags. The built binary installed into
 * real Helm 3.17 and 4.1; a release of chart llamacloud 0.1.48 in the Kubernetes API double; a real
 * PostgreSQL migrated to head (a9c4e2f70d15) by the real alembic (Debian's python3-alembic) with the
 * 0.1.48 image's files, and user data in it; then
 *
 *   helm -n llama schema-rollback llamacloud --to 0.1.47 --tool alembic \
 *     --workload deployment/llamacloud-backend --container backend \
 *     --stop deployment/llamacloud-backend --target-revision f43d21f9cdb8 --yes
 *
 * in which the backend (it migrates on start) is scaled to 0, `alembic downgrade f43d21f9cdb8` runs
 * in a Job cloned from it (or by `kubectl exec` in the jobs-service, the runbook's way) inside the
 * 0.1.48 "image" test/fixtures/images/llamacloud-0.1.48, run by the fake kubelet, and helm upgrade
 * brings chart 0.1.47 back. Both images are in the fake kubelet's image map
 * (example/llamacloud-backend:0.1.48 and :0.1.47), so scenarios can also run the older image.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alembicOk, columns, imageWithFailingDowngrade, query, regclass, skipWithoutAlembic, versionRows } from '../harness/alembic.js';
import { helmVersions, kubectl, repoRoot, run, type RunResult } from '../harness/plugin.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { assertInOrder, scenario, type Scenario } from '../harness/scenario.js';
import type { PgMajor } from '../harness/postgres.js';

export const NS = 'llama';
export const RELEASE = 'llamacloud';
export const IMAGE = 'example/llamacloud-backend:0.1.48';
export const OLDER_IMAGE = 'example/llamacloud-backend:0.1.47';
const IMAGES = join(repoRoot, 'test', 'fixtures', 'images');
export const IMAGE_DIR = join(IMAGES, 'llamacloud-0.1.48');
export const OLDER_IMAGE_DIR = join(IMAGES, 'llamacloud-0.1.47');
/** The 0.1.48 image's head, the revision between, and the 0.1.47 image's head (the runbook's id). */
export const HEAD = 'a9c4e2f70d15';
export const MIDDLE = '0e1a7c5d9b32';
export const TARGET = 'f43d21f9cdb8';
const JOB = { apiVersion: 'batch/v1', kind: 'Job' };

/**
 * The runbook's rollback. The chart carries no contract, so flags give it: the track's tool, the
 * workload holding the URL and the code (the backend for the job runner; the jobs-service for the
 * exec runner, as the runbook execs there), what migrates on start (--stop), and the target revision
 * (the 0.1.47 chart does not say it; `targetRevision: false` leaves the flag out).
 */
export function rollbackArgs(opts: { runner?: 'job' | 'exec'; targetRevision?: string | false } = {}): string[] {
  const { runner = 'job', targetRevision = TARGET } = opts;
  const where = runner === 'exec'
    ? ['--runner', 'exec', '--workload', 'deployment/llamacloud-jobs-service', '--container', 'jobs']
    : ['--workload', 'deployment/llamacloud-backend', '--container', 'backend'];
  return [RELEASE, '--to', '0.1.47', '--tool', 'alembic', ...where, '--stop', 'deployment/llamacloud-backend', ...(targetRevision === false ? [] : ['--target-revision', targetRevision])];
}

/** User data in the tables 0.1.47 keeps, as it must read after the rollback (the 0.1.48-only column left out). */
const KEPT = {
  projects: [
    { id: 1, name: 'Acme support', description: 'support docs' },
    { id: 2, name: 'Globex search', description: null },
  ],
  pipelines: [
    { id: 1, project_id: 1, name: 'docs-index' },
    { id: 2, project_id: 2, name: 'web-crawl' },
    { id: 3, project_id: 1, name: 'faq' },
  ],
};

/** What the backend of 0.1.48 leaves when it migrates on start (`alembic upgrade head`), plus user data, also in what 0.1.48 added. */
async function migrateLlamacloud0148(url: string): Promise<void> {
  alembicOk(IMAGE_DIR, url, ['upgrade', 'head']);
  await query(url, `INSERT INTO projects (name, description) VALUES ('Acme support', 'support docs'), ('Globex search', NULL);
    INSERT INTO pipelines (project_id, name, embedding_model) VALUES (1, 'docs-index', 'text-embedding-3-small'), (2, 'web-crawl', 'bge-m3'), (1, 'faq', NULL);
    INSERT INTO pipeline_runs (pipeline_id, status) VALUES (1, 'succeeded'), (2, 'failed'), (1, 'running');`);
}

/** A copy of the 0.1.48 image whose 0e1a7c5d9b32 downgrade drops pipeline_runs, then raises: a release that shipped a broken downgrade. */
export function brokenImage(): string {
  return imageWithFailingDowngrade(IMAGE_DIR, `versions/${MIDDLE}_create_pipeline_runs.py`, 'op.execute("DROP TABLE pipeline_runs")', 'pipeline runs cannot be restored by this downgrade');
}


/**
 * A world with release llamacloud of chart 0.1.48 installed (backend at 2 replicas, jobs-service at
 * 1), its database migrated to a9c4e2f70d15 with user data. `imageDir` is what the 0.1.48 image
 * runs (the fixture, or a broken copy); the 0.1.47 image is always the fixture.
 */
export function llamacloud(helm: (typeof helmVersions)[number], prefix: string, imageDir: () => string, pgMajor?: PgMajor): Scenario {
  return scenario({
    ...(pgMajor ? { pgMajor } : {}),
    helm, prefix, namespace: NS, release: RELEASE, chart: 'llamacloud', version: '0.1.48', installArgs: ['--set', 'backend.replicaCount=2'],
    images: () => ({ [IMAGE]: imageDir(), [OLDER_IMAGE]: OLDER_IMAGE_DIR }), needsDouble: 'runs the llamacloud images from the fake kubelet\'s image map',
    deployment: 'llamacloud-backend', skipUnless: (ctx) => skipWithoutAlembic(ctx, 'the llamacloud fixture images'), prepare: migrateLlamacloud0148,
  });
}

/** Nothing changed: the database at the 0.1.48 head with every row, what 0.1.48 added still there, the release on 0.1.48. */
async function assertUnchanged(s: Scenario): Promise<void> {
  assert.deepEqual(await versionRows(s.db.url), [{ version_num: HEAD }]);
  assert.deepEqual(await query(s.db.url, 'SELECT pipeline_id, status FROM pipeline_runs ORDER BY id'), [
    { pipeline_id: 1, status: 'succeeded' },
    { pipeline_id: 2, status: 'failed' },
    { pipeline_id: 1, status: 'running' },
  ]);
  assert.deepEqual(await query(s.db.url, 'SELECT embedding_model FROM pipelines ORDER BY id'), [
    { embedding_model: 'text-embedding-3-small' },
    { embedding_model: 'bge-m3' },
    { embedding_model: null },
  ]);
  assert.deepEqual(await query(s.db.url, 'SELECT * FROM projects ORDER BY id'), KEPT.projects);
  assert.equal(await s.replicas('llamacloud-backend'), '2');
  assert.equal(await s.replicas('llamacloud-jobs-service'), '1');
  assert.deepEqual(await s.history(), ['llamacloud-0.1.48']);
}

/** After a successful rollback: alembic_version at exactly f43d21f9cdb8, the 0.1.47 image in step, kept data intact, the release on 0.1.47. */
async function assertRolledBack(s: Scenario, r: RunResult): Promise<void> {
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^scaled deployment\/llamacloud-backend 2 -> 0$/m);
  assert.match(r.stderr, new RegExp(`^track main: alembic down ${HEAD} -> ${TARGET}$`, 'm'));
  // alembic's own log lines, from the 0.1.48 image (only it knows a9c4e2f70d15's down).
  assert.match(r.stderr, new RegExp(`^ {2}main \\| .*Running downgrade ${HEAD} -> ${MIDDLE}, add pipelines embedding model$`, 'm'));
  assert.match(r.stderr, new RegExp(`^ {2}main \\| .*Running downgrade ${MIDDLE} -> ${TARGET}, create pipeline runs$`, 'm'));
  assert.match(r.stderr, new RegExp(`^track main: verified at ${TARGET}$`, 'm'));
  assert.match(r.stderr, /helm upgrade llamacloud fixtures\/llamacloud --version 0\.1\.47/);
  // alembic_version holds exactly the runbook's id, written by alembic.
  assert.deepEqual(await versionRows(s.db.url), [{ version_num: TARGET }]);
  // The 0.1.47 image's alembic knows where the database is, and has nothing to upgrade.
  assert.match(alembicOk(OLDER_IMAGE_DIR, s.db.url, ['current']), new RegExp(`^${TARGET} \\(head\\)$`, 'm'));
  const up = alembicOk(OLDER_IMAGE_DIR, s.db.url, ['upgrade', 'head']);
  assert.doesNotMatch(up, /Running upgrade/);
  assert.deepEqual(await versionRows(s.db.url), [{ version_num: TARGET }]);
  // What 0.1.48 added is gone (its data with it); the tables 0.1.47 has are intact, row for row.
  assert.equal(await regclass(s.db.url, 'pipeline_runs'), null);
  assert.deepEqual(await columns(s.db.url, 'pipelines'), ['id', 'project_id', 'name']);
  assert.deepEqual(await query(s.db.url, 'SELECT * FROM projects ORDER BY id'), KEPT.projects);
  assert.deepEqual(await query(s.db.url, 'SELECT * FROM pipelines ORDER BY id'), KEPT.pipelines);
  assert.equal(await regclass(s.db.url, 'pipelines_project_id_idx'), 'pipelines_project_id_idx', 'f43d21f9cdb8 itself is not undone');
  // The release is on 0.1.47, the backend back at its replicas through helm upgrade (values kept), no Job of ours left.
  assert.deepEqual(await s.history(), ['llamacloud-0.1.48', 'llamacloud-0.1.47']);
  assert.equal(await s.replicas('llamacloud-backend'), '2');
  assert.equal(await s.replicas('llamacloud-jobs-service'), '1');
  assert.deepEqual(s.ourJobs(), []);
  assert.match(r.stdout, /^Rolled back llamacloud to chart llamacloud 0\.1\.47\.$/m);
}

for (const helm of helmVersions) {
  describe(`e2e rollback of llamacloud (unannotated chart, contract from flags, alembic in the 0.1.48 image) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = llamacloud(helm, 'hsr-rollback-llamacloud-', () => IMAGE_DIR);

    it('--dry-run plans `alembic downgrade f43d21f9cdb8` in a Job cloned from the backend, with the SQL preview, and changes nothing', async () => {
      const r = await s.sr([...rollbackArgs(), '--dry-run']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^Release llamacloud \(namespace llama\): chart llamacloud 0\.1\.48 -> 0\.1\.47 \(fixtures\/llamacloud\)$/m);
      assert.match(r.stdout, /^Database URL from deployment\/llamacloud-backend container backend env DATABASE_URL \(Secret llamacloud-db key url\)$/m);
      // The target is the flag's (the target chart carries no contract), and the plan says so.
      assert.match(r.stdout, new RegExp(`^main\\s+alembic\\s+${HEAD}\\s+${TARGET} \\(--target-revision\\)\\s+\\(tool decides\\)\\s+job$`, 'm'));
      assert.match(r.stdout, new RegExp(`^Commands \\(in a Job cloned from deployment/llamacloud-backend container backend\\):\\n {2}main: alembic downgrade ${TARGET}$`, 'm'));
      assert.match(r.stdout, new RegExp(`^-- What runs, in this order\\n {2}1\\. scale deployment/llamacloud-backend 2->0\\n {2}2\\. copy the data at risk into schema schema_rollback_archive \\(one transaction\\)\\n {2}3\\. down main ${HEAD} -> ${TARGET}: alembic downgrade ${TARGET} \\(job runner\\); then its version table is checked$`, 'm'));
      // The SQL preview: `alembic downgrade a9c4e2f70d15:f43d21f9cdb8 --sql` in a Job from the 0.1.48 image.
      assert.match(r.stdout, new RegExp(`^SQL preview for track main \\(alembic downgrade ${HEAD}:${TARGET} --sql: the tool's offline output, not run; .*\\):$`, 'm'));
      assertInOrder(r.stdout, [
        '  | BEGIN;',
        `  | -- Running downgrade ${HEAD} -> ${MIDDLE}`,
        '  | ALTER TABLE pipelines DROP COLUMN embedding_model;',
        `  | UPDATE alembic_version SET version_num='${MIDDLE}' WHERE alembic_version.version_num = '${HEAD}';`,
        `  | -- Running downgrade ${MIDDLE} -> ${TARGET}`,
        '  | DROP TABLE pipeline_runs;',
        `  | UPDATE alembic_version SET version_num='${TARGET}' WHERE alembic_version.version_num = '${MIDDLE}';`,
        '  | COMMIT;',
        '(end of SQL preview for track main)',
      ]);
      assert.doesNotMatch(r.stdout, /INFO {2}\[alembic/, 'alembic\'s log lines are not SQL');
      assert.match(r.stderr, /dry run: nothing was changed/);
      assert.deepEqual(s.ourJobs(), [], 'the preview Job is removed');
      await assertUnchanged(s);
    });

    it('without --target-revision, an image the cluster cannot run makes discovery fail: exit 20, what the Job said, nothing changed, no Job left', async () => {
      delete s.images[OLDER_IMAGE];
      try {
        const r = await s.sr([...rollbackArgs({ targetRevision: false }), '--dry-run']);
        assert.equal(r.exitCode, 20, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, new RegExp(`cannot discover the alembic revision of chart llamacloud 0\\.1\\.47 \\(track main\\): alembic heads in ${OLDER_IMAGE} failed: job/llamacloud-schema-rollback-main-[a-z0-9]+ never started: its image ${OLDER_IMAGE} cannot be pulled \\((ErrImagePull|ImagePullBackOff)`));
        assert.match(r.stderr, /--target-revision REV/);
        assert.deepEqual(s.ourJobs(), [], 'the discovery Job is removed, failed or not');
        await assertUnchanged(s);
      } finally {
        s.images[OLDER_IMAGE] = OLDER_IMAGE_DIR;
      }
    });

    it('without --target-revision, discovers f43d21f9cdb8: the 0.1.47 chart rendered with the release\'s values, `alembic heads` in a Job from its backend image; shown as discovered, then answered from the cache', async () => {
      const r = await s.sr([...rollbackArgs({ targetRevision: false }), '--dry-run']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      // Only the 0.1.47 image's files end at f43d21f9cdb8 (the 0.1.48 image's head is a9c4e2f70d15).
      assert.match(r.stdout, new RegExp(`^main\\s+alembic\\s+${HEAD}\\s+${TARGET} \\(discovered\\)\\s+\\(tool decides\\)\\s+job$`, 'm'));
      assert.match(r.stdout, /^Target revision of track main discovered in example\/llamacloud-backend:0\.1\.47 \(alembic heads, in a Job\)$/m);
      assert.match(r.stderr, /^dry run: nothing was changed \(the discovery and the SQL preview ran in a Job, now removed\)$/m);
      assert.deepEqual(s.ourJobs(), []);
      // Kept per chart version, track, image and command, in the helm cache of this installation.
      const dir = join(s.plugin.env['HELM_CACHE_HOME']!, 'schema-rollback', 'discovered');
      const entries = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { key: string; revision: string });
      assert.deepEqual(entries.map((e) => [JSON.parse(e.key), e.revision]), [[['llamacloud', '0.1.47', 'main', OLDER_IMAGE, ['alembic', 'heads']], TARGET]]);
      // The repeat runs no discovery Job: with the 0.1.47 image gone from the cluster it still plans.
      delete s.images[OLDER_IMAGE];
      try {
        const again = await s.sr([...rollbackArgs({ targetRevision: false }), '--dry-run', '-o', 'json']);
        assert.equal(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
        const [plan] = assertOutputDocuments(again.stdout, 'json', ['Plan']) as unknown as Array<{ target: { revisionSources: Record<string, string>; discovered: unknown }; tracks: Array<{ step?: { target: string } }> }>;
        assert.deepEqual(plan!.target.revisionSources, { main: 'discovered (cached)' });
        assert.deepEqual(plan!.target.discovered, { main: { image: OLDER_IMAGE, command: ['alembic', 'heads'] } });
        assert.equal(plan!.tracks[0]!.step?.target, TARGET);
        assert.match(again.stderr, /^dry run: nothing was changed \(the SQL preview ran in a Job, now removed\)$/m);
      } finally {
        s.images[OLDER_IMAGE] = OLDER_IMAGE_DIR;
      }
      await assertUnchanged(s);
    });

    it('stops the backend, runs `alembic downgrade f43d21f9cdb8` (the discovered revision) in a Job from the 0.1.48 image, hands off to helm upgrade; the 0.1.47 image is in step', async () => {
      const r = await s.sr([...rollbackArgs({ targetRevision: false }), '--yes']);
      assert.match(r.stdout, new RegExp(`${TARGET} \\(discovered \\(cached\\)\\)`));
      await assertRolledBack(s, r);
    });
  });

  describe(`e2e rollback of llamacloud whose data-dropping downgrade fails, then is fixed, through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = llamacloud(helm, 'hsr-rollback-llamacloud-fail-', brokenImage);

    it('exits 14 with alembic_version still a9c4e2f70d15 (one transaction), pipeline_runs and its rows still there, the backend restored, no hand-off', async () => {
      const r = await s.sr([...rollbackArgs(), '--yes']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      // alembic ran a9c4e2f70d15's down and 0e1a7c5d9b32's, which dropped pipeline_runs and raised: PostgreSQL rolled it all back.
      assert.match(r.stderr, /^ {2}main \| .*RuntimeError: pipeline runs cannot be restored by this downgrade/m);
      assert.match(r.stderr, new RegExp(`^ {2}main: ${HEAD}, target ${TARGET}, failed$`, 'm'));
      assert.match(r.stderr, /^scaled deployment\/llamacloud-backend 0 -> 2$/m);
      assert.doesNotMatch(r.stderr, /helm upgrade llamacloud/);
      await assertUnchanged(s);
      // The failed Job is kept for its log; the error says how to read it and remove it.
      const jobs = s.ourJobs();
      assert.equal(jobs.length, 1);
      const name = jobs[0]!.metadata.name!;
      assert.match(r.stderr, new RegExp(`kubectl logs job/${name} -n ${NS}`));
      assert.match(r.stderr, new RegExp(`kubectl delete job ${name} -n ${NS}`));
    });

    it('after the fix (the image\'s downgrade repaired, the kept Job removed as the hint says), the same command succeeds', async () => {
      const name = s.ourJobs()[0]!.metadata.name!;
      const del = await run(kubectl, ['delete', 'job', name, '-n', NS], { env: s.plugin.env });
      assert.equal(del.exitCode, 0, del.stderr);
      s.images[IMAGE] = IMAGE_DIR;
      const r = await s.sr([...rollbackArgs(), '--yes']);
      await assertRolledBack(s, r);
    });
  });

  describe(`e2e rollback of llamacloud with the exec runner in the jobs-service (the runbook's way) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = llamacloud(helm, 'hsr-rollback-llamacloud-exec-', () => IMAGE_DIR);

    it('runs the --command given (`alembic -c alembic.ini downgrade f43d21f9cdb8`) by kubectl exec in the jobs-service pod while the backend is stopped, creates no Job, then hands off', async () => {
      const r = await s.sr([...rollbackArgs({ runner: 'exec' }), '--command', 'alembic -c alembic.ini downgrade {{ .Revision }}', '--yes']);
      assert.match(r.stderr, new RegExp(`^ {2}main \\| exec in pod/llamacloud-jobs-service-[a-z0-9]+-[a-z0-9]{5} container jobs: alembic -c alembic.ini downgrade ${TARGET}$`, 'm'));
      await assertRolledBack(s, r);
      assert.deepEqual(s.world.cluster.double!.list(JOB, { namespace: NS }), [], 'the exec runner creates nothing in the cluster');
    });
  });
}
