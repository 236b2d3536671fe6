/**
 * `--rehearse` with the job runner, end to end on the LlamaCloud-like world (alembic in the 0.1.48
 * image, run in Jobs cloned from the backend): the live database copied into --dev-url, then, per
 * step, the proof that alembic in the image reads the copy (`alembic current` with the copy's version
 * table emptied for it, in a Job given the dev URL), and the downgrade in a Job given the dev URL; the
 * report names the step, its locks and what was lost, the live database untouched. An image that
 * does not read the URL from the variable the Jobs are given is refused before anything runs.
 *
 * The world runs on PostgreSQL 15: the copy's pg_dump is the one where the plugin runs, Debian's 15.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { query, versionRows } from '../harness/alembic.js';
import { helmVersions } from '../harness/plugin.js';
import { freshDatabase, testedMajors, type FreshDatabase } from '../harness/postgres.js';
import { HEAD, IMAGE_DIR, llamacloud, rollbackArgs, TARGET } from './rollback-llamacloud.test.js';

const helm = helmVersions.at(-1)!;

describe(`e2e rollback --rehearse with the job runner (alembic in the image, llamacloud) through ${helm.label}`, function () {
  this.timeout(300_000);
  let dev: FreshDatabase;
  before(async function () {
    if (!testedMajors().includes(15) || !existsSync('/usr/bin/pg_dump')) {
      console.log('      skipped: needs PostgreSQL 15 among HSR_PG_MAJORS and /usr/bin/pg_dump (postgresql-client 15)');
      this.skip();
    }
  });
  const s = llamacloud(helm, 'hsr-rehearse-job-', () => IMAGE_DIR, 15);
  beforeEach(async () => {
    dev = await freshDatabase(15);
  });
  afterEach(async () => {
    await dev?.drop();
  });

  it('--dry-run: each downgrade runs in a Job on the copy, after proof that alembic there reads it; the report, the live database untouched, every Job removed', async () => {
    const r = await s.sr([...rollbackArgs(), '--dry-run', '--rehearse', '--dev-url', dev.url]);
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\n-- Rehearsal on a copy \(hsr_t\d+_\w+, [\d.]+ \w*B, copied in \d+ ms by pg_dump \| pg_restore where the plugin runs/);
    assert.match(r.stdout, new RegExp(`^ {2}1\\. track main: from ${HEAD} -> ${TARGET}: done in \\d+ ms$`, 'm'));
    assert.match(r.stdout, /^ {7}lock: ACCESS EXCLUSIVE on public\.pipeline_runs$/m);
    assert.match(r.stdout, /^ {7}lock: ACCESS EXCLUSIVE on public\.pipelines$/m);
    assert.match(r.stdout, /^ {4}table public\.pipeline_runs dropped with its 3 rows$/m);
    assert.match(r.stdout, /^ {4}column public\.pipelines\.embedding_model \(\S+( \S+)*\) dropped$/m);
    // The copy is at the target, the live database where it was.
    assert.deepEqual(await versionRows(dev.url), [{ version_num: TARGET }]);
    assert.deepEqual(await versionRows(s.db.url), [{ version_num: HEAD }]);
    assert.equal((await query<{ n: string }>(s.db.url, 'SELECT count(*) AS n FROM pipeline_runs'))[0]!.n, '3');
    assert.deepEqual(s.ourJobs(), [], 'the proof\'s and the downgrade\'s Jobs are removed');
    assert.equal(await s.replicas('llamacloud-backend'), '2');
  });

  it('an image that does not read the URL from the variable the Jobs get: refused (exit 12) before anything runs, the copy\'s version table put back', async () => {
    // The Jobs get the dev URL in NOT_READ; the image's env.py reads DATABASE_URL, the live URL.
    const r = await s.sr([...rollbackArgs(), '--dry-run', '--rehearse', '--dev-url', dev.url, '--database-url', s.db.url, '--database-url-env', 'NOT_READ']);
    assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`track main: alembic in the image, given the dev URL in NOT_READ, reads a database at ${HEAD}, not the copy`));
    assert.match(r.stderr, /--database-url-env/);
    assert.deepEqual(await versionRows(dev.url), [{ version_num: HEAD }], 'the copy\'s version table is put back');
    assert.deepEqual(await versionRows(s.db.url), [{ version_num: HEAD }]);
    assert.deepEqual(s.ourJobs(), []);
  });
});
