/**
 * Progress as an operator sees it, through real Helm 4.1 and the kagent fixture (native runner):
 * in a terminal (tmux), a spinner per step ending in ✔ lines, the tool's lines above it, no frame
 * left behind, colour unless --no-color; in a pipe (CI logs, | tee), timestamped step lines and
 * not one escape code, every other line as before.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { kagentVersionRows as versionRows, migrateUp, readTrack, KAGENT_SOURCE } from '../harness/golang-migrate-up.js';
import { helm4, repoRoot } from '../harness/plugin.js';
import { assertInOrder } from '../harness/scenario.js';
import { hasTmux, inTerminal } from '../harness/terminal.js';
import { startKagentWorld, type World } from '../harness/world.js';

const NS = 'ai';
const SOURCE = join(repoRoot, 'test', 'fixtures', 'migrations', 'kagent');
const STAMP = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
/** The frames of ora's default spinner (braille dots); the line spinner's where Unicode is not supported. */
const SPINNER_FRAMES = /[\u2800-\u28ff]/;

describe('e2e: progress on a terminal and in a pipe, through Helm 4.1', function () {
  this.timeout(300_000);
  let world: World;

  before(async () => {
    world = await startKagentWorld(helm4, 'hsr-progress-', NS);
  });

  after(async () => {
    await world?.close();
  });

  /** Back to chart 0.9.0 with both tracks migrated up, as the app would do, for the next rollback. */
  async function upAgain(): Promise<void> {
    await world.helmOk(['upgrade', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', NS, '--reuse-values']);
    const client = new pg.Client({ connectionString: world.db.url });
    await client.connect();
    try {
      await migrateUp(client, 'schema_migrations', readTrack(join(KAGENT_SOURCE, 'core')));
      await migrateUp(client, 'vector_schema_migrations', readTrack(join(KAGENT_SOURCE, 'vector')));
    } finally {
      await client.end();
    }
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
  }

  it('in a pipe: each step starts and ends on a timestamped line, the other lines as before, and no escape code at all', async () => {
    const r = await world.plugin.helm(['-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE, '--yes'], { timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\u001b/);
    assert.doesNotMatch(r.stdout, /\u001b/);
    const step = (text: string) => new RegExp(`^${STAMP} ${text}$`, 'm');
    const released = step('reading release kagent and chart version 0\\.8\\.0: chart kagent 0\\.9\\.0 -> 0\\.8\\.0 \\(\\d+\\.\\ds\\)');
    const scaled = /^scaled deployment\/kagent-controller 2 -> 0$/m;
    // Once the release is read, the plan's other reads run at once: each ends, in whatever order, before the first change.
    for (const read of [
      step('connecting to the database: direct \\(\\d+\\.\\ds\\)'),
      step('checking the hand-off to chart 0\\.8\\.0 \\(a dry run on the server\\): done \\(\\d+\\.\\ds\\)'),
      step('checking permissions \\(SelfSubjectAccessReview\\): \\d+ requests allowed \\(\\d+\\.\\ds\\)'),
    ]) assertInOrder(r.stderr, [released, read, scaled]);
    assertInOrder(r.stderr, [
      step('reading release kagent and chart version 0\\.8\\.0'),
      released,
      // The lines the run printed before progress existed keep their words, unprefixed.
      scaled,
      step('track vector: down 3 -> 1'),
      /^track vector: golang-migrate down 3 -> 1$/m,
      /^ {2}vector \| vector: 3 -> 2 \(000003_memory_uuid_default\.down\.sql\)$/m,
      step('track vector: down 3 -> 1: verified at 1 \\(\\d+\\.\\ds\\)'),
      step('track core: down 13 -> 8'),
      step('track core: down 13 -> 8: verified at 8 \\(\\d+\\.\\ds\\)'),
      step('helm upgrade kagent fixtures/kagent --version 0\\.8\\.0'),
      /^helm upgrade kagent fixtures\/kagent --version 0\.8\.0$/m,
      step('helm upgrade kagent fixtures/kagent --version 0\\.8\\.0: done \\(\\d+\\.\\ds\\)'),
    ]);
    assert.match(r.stdout, /^Rolled back kagent to chart kagent 0\.8\.0\.$/m);
    await upAgain();
  });

  it('on a terminal with --no-color: the plan\'s steps end in ✔ lines, with no colour code and no spinner frame left', async function () {
    if (!(await hasTmux())) this.skip();
    const t = await inTerminal([world.plugin.helmBin, '-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE, '--dry-run', '--no-color'], world.plugin.env);
    try {
      assert.equal(await t.exitCode(), 0, await t.screen());
      const screen = await t.waitFor(/dry run: nothing was changed/);
      assert.match(screen, /^✔ connecting to the database: direct \(\d+\.\ds\)$/m);
      assert.match(screen, /^✔ checking the hand-off to chart 0\.8\.0 \(a dry run on the server\) \(\d+\.\ds\)$/m);
      assert.doesNotMatch(screen, SPINNER_FRAMES);
      // tmux re-renders what reached the screen: colour would show as an SGR code with a colour in it.
      assert.doesNotMatch(await t.screen({ escapes: true }), /\u001b\[[0-9;]*(3[0-7]|9[0-7])(;[0-9]+)*m/);
    } finally {
      await t.close();
    }
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);
  });

  it('on a terminal: answering y, each step ends in a coloured ✔ line, the tool\'s lines above, then "Rolled back"; no frame left', async function () {
    if (!(await hasTmux())) this.skip();
    const env = { ...world.plugin.env };
    delete env['NO_COLOR'];
    const t = await inTerminal([world.plugin.helmBin, '-n', NS, 'schema-rollback', 'kagent', '--to', '0.8.0', '--source', SOURCE], env);
    try {
      await t.waitFor(/Proceed\? \[y\/N\] $/m);
      await t.keys('y', 'Enter');
      assert.equal(await t.exitCode(), 0, await t.screen());
      const screen = await t.waitFor(/^Rolled back kagent to chart kagent 0\.8\.0\.$/m);
      assertInOrder(screen, [
        /^✔ reading release kagent and chart version 0\.8\.0: chart kagent 0\.9\.0 -> 0\.8\.0 \(\d+\.\ds\)$/m,
        /^✔ connecting to the database: direct \(\d+\.\ds\)$/m,
        /^✔ measuring the data at risk \(\d+\.\ds\)$/m,
        /Proceed\? \[y\/N\] y$/m,
        /^scaled deployment\/kagent-controller 2 -> 0$/m,
        /^ {2}vector \| vector: 3 -> 2 \(000003_memory_uuid_default\.down\.sql\)$/m,
        /^✔ track vector: down 3 -> 1: verified at 1 \(\d+\.\ds\)$/m,
        /^ {2}core \| core: 9 -> 8 \(000009_agent_instances\.down\.sql\)$/m,
        /^✔ track core: down 13 -> 8: verified at 8 \(\d+\.\ds\)$/m,
        /^✔ helm upgrade kagent fixtures\/kagent --version 0\.8\.0 \(\d+\.\ds\)$/m,
        /^Rolled back kagent to chart kagent 0\.8\.0\.$/m,
      ]);
      // The spinner names the down; the line that announced it in a pipe would only repeat it here.
      assert.doesNotMatch(screen, /^track core: golang-migrate down/m);
      assert.doesNotMatch(screen, SPINNER_FRAMES);
      assert.match(await t.screen({ escapes: true }), /\u001b\[32m✔/, 'the ✔ in green');
    } finally {
      await t.close();
    }
    assert.deepEqual(await versionRows(world.db.url), [[{ version: '8', dirty: false }], [{ version: '1', dirty: false }]]);
  });
});
