/**
 * Down files kept in the cluster, end to end through the built binary in real Helm 4.1: the kagent
 * release at chart 0.9.0 captures its migration files (as an upgrade pipeline would, right after
 * `helm upgrade`), then rolls back to 0.8.0 with no --source at all: native by default, the plan
 * naming the capture, ending as the --source rollback of rollback.test.ts ends. Before that, a copy
 * tampered with in the cluster, and a chart version without a capture, are refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kagentVersionRows as versionRows } from '../harness/golang-migrate-up.js';
import { assertOutputDocuments } from '../harness/output-schema.js';
import { helm4, kubectl, makeTempDir, repoRoot, run, type InstalledPlugin, type RunResult } from '../harness/plugin.js';
import { query, type FreshDatabase } from '../harness/postgres.js';
import { startKagentWorld, type World } from '../harness/world.js';
import type { KubeObject } from '../../src/core/ports.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');
const SECRET = { apiVersion: 'v1', kind: 'Secret' };
const OBJECT = 'kagent-schema-rollback-src-0.9.0-0';
/** Every file of both tracks is kept (ups too: the native runner reads the directory as golang-migrate does). */
const FILES = ['core', 'vector'].reduce((n, track) => n + readdirSync(join(SOURCE, track)).length, 0);

describe('e2e: down files kept in the cluster (capture, then a rollback without --source) through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;
  let db: FreshDatabase;
  let plugin: InstalledPlugin;
  const sr = (args: string[]): Promise<RunResult> => plugin.helm(['-n', NS, 'schema-rollback', ...args], { timeoutMs: 120_000 });

  before(async () => {
    world = await startKagentWorld(helm4, 'hsr-capture-', NS);
    ({ db, plugin } = world);
  });

  after(async () => {
    await world?.close();
  });

  async function assertNothingChanged(): Promise<void> {
    assert.deepEqual(await versionRows(db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
    const replicas = await run(kubectl, ['get', 'deployment', 'kagent-controller', '-n', NS, '-o', 'jsonpath={.spec.replicas}'], { env: plugin.env });
    assert.equal(replicas.stdout, '2');
    const history = JSON.parse((await plugin.helm(['history', 'kagent', '-n', NS, '-o', 'json'])).stdout);
    assert.deepEqual(history.map((h: { chart: string }) => h.chart), ['kagent-0.9.0']);
  }

  it('--runner native with neither --source nor a capture is refused, naming capture and --source (exit 12), nothing changed', async () => {
    const r = await sr(['kagent', '--to', '0.8.0', '--runner', 'native', '--yes']);
    assert.equal(r.exitCode, 12, r.stderr);
    assert.match(r.stderr, /no down files captured in the cluster for chart 0\.9\.0 of release kagent/);
    assert.match(r.stderr, /helm schema-rollback capture kagent --source DIR/);
    await assertNothingChanged();
  });

  it('without --runner, captured copies the user may not read leave the job runner as before, and the plan says why (nothing changed)', async () => {
    const allow = world.cluster.double!.deny({ verb: 'get', group: '', resource: 'secrets', name: OBJECT, namespace: NS });
    try {
      const r = await sr(['kagent', '--to', '0.8.0', '--dry-run']);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Down files: captured copies not looked at \\(Kubernetes refused: get secrets ${OBJECT.replace(/\./g, '\\.')} in namespace ai\\); job runner$`, 'm'));
      assert.match(r.stdout, /^core\s+golang-migrate\s+13\s+8\s+\(tool decides\)\s+job$/m);
    } finally {
      allow();
    }
    await assertNothingChanged();
  });

  it('capture stores 0.9.0\'s files in a Secret; the same files again are left as they are; other files need --replace', async () => {
    const r = await sr(['capture', 'kagent', '--source', SOURCE]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^Down files of release kagent at chart 0\.9\.0: captured$/m);
    assert.match(r.stdout, new RegExp(`^  ${FILES} files of tracks core, vector from `, 'm'));
    assert.match(r.stdout, new RegExp(`^  kept in namespace ai: Secret ${OBJECT}$`, 'm'));
    assert.ok(world.cluster.double!.get(SECRET, OBJECT, NS), 'the Secret is there');
    const again = await sr(['capture', 'kagent', '--source', SOURCE]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /already captured, the same files/);
    // -o json: the same record for programs (schemas/capture.v1.json).
    const json = await sr(['capture', 'kagent', '--source', SOURCE, '-o', 'json']);
    assert.equal(json.exitCode, 0, json.stderr);
    const [doc] = assertOutputDocuments(json.stdout, 'json', ['Capture']);
    assert.deepEqual([doc!['result'], doc!['chartVersion'], doc!['namespace'], doc!['objects'], doc!['files']], ['unchanged', '0.9.0', NS, [OBJECT], FILES]);

    const other = makeTempDir('hsr-capture-other-');
    cpSync(SOURCE, other, { recursive: true });
    writeFileSync(join(other, 'core', '000013_runtime_revision_agent_card.down.sql'), 'ALTER TABLE runtime_revisions DROP COLUMN agent_card; -- edited\n');
    const refused = await sr(['capture', 'kagent', '--source', other]);
    assert.equal(refused.exitCode, 12, refused.stderr);
    assert.match(refused.stderr, /already has down files captured for chart 0\.9\.0: other files/);
    assert.match(refused.stderr, /pass --replace/);
  });

  it('a captured copy edited in the cluster is refused (exit 12, naming capture --replace and --source), nothing changed', async () => {
    const double = world.cluster.double!;
    const secret = double.get<KubeObject & { data: Record<string, string> }>(SECRET, OBJECT, NS)!;
    // Another capture's bytes under this one's checksum: what an edit by hand, or a mix-up, leaves.
    const other = makeTempDir('hsr-capture-tamper-');
    cpSync(SOURCE, other, { recursive: true });
    writeFileSync(join(other, 'vector', '000002_add_memory_hnsw_index.down.sql'), 'DROP TABLE memory;\n');
    assert.equal((await sr(['capture', 'kagent', '--source', other, '--replace'])).exitCode, 0);
    const forged = double.get<KubeObject & { data: Record<string, string> }>(SECRET, OBJECT, NS)!;
    double.put({ ...secret, data: forged.data });

    for (const args of [['--dry-run'], ['--yes']]) {
      const r = await sr(['kagent', '--to', '0.8.0', ...args]);
      assert.equal(r.exitCode, 12, r.stderr);
      assert.match(r.stderr, /the down files captured for chart 0\.9\.0 of release kagent .* do not match their checksum/);
      assert.match(r.stderr, /helm schema-rollback capture kagent --source DIR --replace/);
      assert.match(r.stderr, /--source DIR\|FILE\.tar\.gz\|URL/);
      await assertNothingChanged();
    }
    const fixed = await sr(['capture', 'kagent', '--source', SOURCE, '--replace']);
    assert.equal(fixed.exitCode, 0, fixed.stderr);
    assert.match(fixed.stdout, /captured again, replacing other files/);
  });

  it('--dry-run without --source plans natively from the capture and says so', async () => {
    const r = await sr(['kagent', '--to', '0.8.0', '--dry-run']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Down files: captured in-cluster for 0\\.9\\.0 at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z by .+ \\(pid \\d+\\), sha256 [0-9a-f]{12}… \\(${FILES} files from .*kagent; Secret ${OBJECT.replace(/\./g, '\\.')}\\); native runner \\(the default when the running chart version has captured files\\)$`, 'm'));
    assert.match(r.stdout, /^vector\s+golang-migrate\s+3\s+1\s+3, 2\s+native$/m);
    assert.match(r.stdout, /^core\s+9 -> 8\s+000009_agent_instances\.down\.sql$/m);
    await assertNothingChanged();
  });

  it('rolls back without --source, ending as the --source rollback does (version tables, data kept, chart 0.8.0)', async () => {
    const r = await sr(['kagent', '--to', '0.8.0', '--yes', '-o', 'json']);
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    const [plan, result] = assertOutputDocuments(r.stdout, 'json', ['Plan', 'Result']);
    assert.equal(plan!['runner'], 'native');
    assert.deepEqual(Object.keys(plan!['downFiles'] as object).sort(), ['capturedAt', 'capturedBy', 'chartVersion', 'files', 'from', 'objects', 'origin', 'sha256']);
    assert.equal((plan!['downFiles'] as { from: string; chartVersion: string }).chartVersion, '0.9.0');
    assert.deepEqual(result!['tracks'], [
      { track: 'vector', outcome: 'reverted', from: ['3'], to: '1', reverted: ['3', '2'] },
      { track: 'core', outcome: 'reverted', from: ['13'], to: '8', reverted: ['13', '12', '11', '10', '9'] },
    ]);
    assert.deepEqual(await versionRows(db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
    const [{ instances }] = await query<{ instances: string | null }>(db.url, "SELECT to_regclass('agent_instances')::text AS instances");
    assert.equal(instances, null);
    assert.deepEqual(await query(db.url, 'SELECT id, agent_id, user_id FROM sessions ORDER BY id'), [
      { id: 's1', agent_id: 'a1', user_id: 'u1' },
      { id: 's2', agent_id: 'a2', user_id: 'u2' },
    ]);
    const meta = JSON.parse((await plugin.helm(['get', 'metadata', 'kagent', '-n', NS, '-o', 'json'])).stdout);
    assert.equal(meta.version, '0.8.0');
    assert.ok(world.cluster.double!.get(SECRET, OBJECT, NS), 'the capture outlives the hand-off (owned by nothing)');
  });
});
