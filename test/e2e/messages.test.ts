/**
 * Messages users act on (issue "Trust", item 13), through the installed plugin: a version table that
 * is not where the track says, a database behind its release's chart, a plan that stops nothing,
 * a malformed --source URL, and hostile input (terminal escapes, 100k characters) echoed back.
 */
import assert from 'node:assert/strict';
import { KAGENT_SOURCE, kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions } from '../harness/plugin.js';
import { query } from '../harness/postgres.js';
import { scenario } from '../harness/scenario.js';

const NS = 'ai';
// One Helm is enough: these messages are the plugin's own; the rollback files cover both Helms.
const helm = helmVersions[helmVersions.length - 1]!;

describe(`e2e: messages that say what is wrong and what to do, through ${helm.label}`, function () {
  this.timeout(300_000);
  const s = scenario({
    helm, prefix: 'hsr-messages-', namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
    images: () => ({}), needsDouble: 'runs beside the other kagent scenarios on the double', deployment: 'kagent-controller', prepare: migrateKagent09,
  });
  const plan = (args: string[]) => s.sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', ...args]);
  const unchanged = async () => assert.deepEqual(await versionRows(s.db.url), [[{ version: '13', dirty: false }], [{ version: '3', dirty: false }]]);

  it('a --schema without the version table says so and lists the version tables that exist (exit 12), not "that is an upgrade"', async () => {
    const r = await plan(['--track', 'core', '--schema', 'nope']);
    assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /track core: golang-migrate version table nope\.schema_migrations does not exist in schema nope; version tables that do exist: public\.schema_migrations/);
    assert.match(r.stderr, /fix: .*--schema public --table schema_migrations/);
    assert.doesNotMatch(r.stderr, /upgrade/);
    await unchanged();
  });

  it('a --table that does not exist is named too', async () => {
    const r = await plan(['--track', 'vector', '--table', 'vectors_migrations']);
    assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /track vector: golang-migrate version table vectors_migrations does not exist on the search_path; version tables that do exist: public\.schema_migrations/);
  });

  it('the plan warns when the database is behind the release\'s chart', async () => {
    await query(s.db.url, 'UPDATE schema_migrations SET version = 11');
    try {
      const r = await plan(['-o', 'json']);
      assert.equal(r.exitCode, 0, r.stderr);
      const core = JSON.parse(r.stdout).tracks.find((t: { step?: { track: string } }) => t.step?.track === 'core');
      assert.match(core.warning, /the database \(11\) is behind the release's chart \(13\)/);
      const table = await plan([]);
      assert.match(table.stdout, /^Warning: track core: the database \(11\) is behind the release's chart \(13\)/m);
    } finally {
      await query(s.db.url, 'UPDATE schema_migrations SET version = 13');
    }
  });

  it('a plan that stops nothing says so plainly', async () => {
    const r = await plan(['--no-stop']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^-- What runs, in this order\n {2}1\. nothing is stopped before the downs \(no --stop, no schema-rollback\.io\/stop\)\n {2}2\. (copy|down) /m);
  });

  it('a malformed --source URL is a usage error (exit 2) with the fix, not a crash', async () => {
    const r = await s.sr(['kagent', '--to', '0.8.0', '--source', 'http://[::1/x.tar.gz', '--dry-run']);
    assert.equal(r.exitCode, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /Error: --source is not a valid http\(s\) URL\n  fix: check its brackets \(an IPv6 host is written http:\/\/\[::1\]:8080\/x\.tar\.gz\)/);
    assert.doesNotMatch(r.stderr, /TypeError|internal error|unexpected failure/);
    await unchanged();
  });

  it('terminal escapes and 100k-character input are echoed escaped and cut', async () => {
    const name = `\u001b[2J\u001b[31mkagent${'x'.repeat(100_000)}`;
    const r = await s.sr([name, '--to', '0.8.0', '--dry-run']);
    assert.notEqual(r.exitCode, 0);
    assert.ok(!r.stderr.includes('\u001b'), `a raw escape reached the terminal:\n${JSON.stringify(r.stderr.slice(0, 500))}`);
    assert.match(r.stderr, /\\x1b\[2J\\x1b\[31mkagentx+… \(100015 characters\)/);
    assert.ok(r.stderr.length < 5_000, `${r.stderr.length} characters of error for one name`);
  });
});
