/**
 * `--verify-downs` for alembic with the job runner, end to end on the LlamaCloud-like world: the
 * 0.1.48 image's own alembic runs in Jobs cloned from the backend, given the dev URL in DATABASE_URL
 * instead of the live one; `alembic upgrade +1` from base to the head, then `alembic downgrade` one
 * revision at a time to the target, the schema compared at each. A downgrade that forgets a column
 * is refused (exit 12) naming its revision, the live database untouched.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageWith, versionRows } from '../harness/alembic.js';
import { helmVersions } from '../harness/plugin.js';
import { freshDatabase, type FreshDatabase } from '../harness/postgres.js';
import { HEAD, IMAGE_DIR, llamacloud, rollbackArgs } from './rollback-llamacloud.test.js';

const FORGETFUL = 'versions/a9c4e2f70d15_add_pipelines_embedding_model.py';

/** A copy of the 0.1.48 image whose a9c4e2f70d15 downgrade no longer drops pipelines.embedding_model. */
function imageForgettingColumn(): string {
  const good = readFileSync(join(IMAGE_DIR, FORGETFUL), 'utf8');
  const drop = 'op.execute("ALTER TABLE pipelines DROP COLUMN embedding_model")';
  assert.ok(good.includes(drop), `${FORGETFUL} no longer runs ${drop} as this test expects`);
  return imageWith(IMAGE_DIR, { [FORGETFUL]: good.replace(drop, 'op.execute("SELECT 1")') }, 'hsr-image-forgetful-');
}

for (const helm of helmVersions) {
  describe(`e2e rollback --verify-downs of alembic in the image (llamacloud) through ${helm.label}`, function () {
    this.timeout(300_000);
    let dev: FreshDatabase;
    before(async () => {
      dev = await freshDatabase(17);
    });
    after(async () => {
      await dev?.drop();
    });

    describe('a correct history', () => {
      const s = llamacloud(helm, 'hsr-verify-alembic-', () => IMAGE_DIR);
      it('--dry-run: every upgrade from base and both downgrades proven on the dev database, the live one untouched', async () => {
        const r = await s.sr([...rollbackArgs(), '--dry-run', '--verify-downs', '--dev-url', dev.url, '--dev-reset']);
        assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^Downs verified on the dev database: 2 steps, schemas equal at each \(main: 2 after 6 ups from empty\)$/m);
        assert.deepEqual(await versionRows(s.db.url), [{ version_num: HEAD }]);
        assert.deepEqual(s.ourJobs(), [], 'every Job of the check is removed');
        const password = new URL(dev.url).password;
        if (password) assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the dev URL password is never printed');
      });
    });

    describe('a downgrade that forgets a column', () => {
      const s = llamacloud(helm, 'hsr-verify-alembic-bad-', imageForgettingColumn);
      it('is refused (exit 12) naming the revision and what it leaves, before any question, the live database untouched', async () => {
        const r = await s.sr([...rollbackArgs(), '--yes', '--verify-downs', '--dev-url', dev.url, '--dev-reset']);
        assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, new RegExp(`track main: the downgrade of revision ${HEAD} \\(${HEAD} -> 0e1a7c5d9b32\\) leaves column public\\.pipelines\\.embedding_model`));
        assert.deepEqual(await versionRows(s.db.url), [{ version_num: HEAD }]);
        assert.equal(await s.replicas('llamacloud-backend'), '2');
      });
    });
  });
}
