/**
 * No secret in anything the plugin prints (README "Secrets"), end to end: the kagent release, whose
 * controller reads the database URL from a Secret, rolled back through real Helm 3.17 and 4.1 with
 * --debug (which also streams `helm upgrade --debug`, USER-SUPPLIED VALUES and all), -o json and
 * -o yaml, the user's own --set flags carrying the URL, a failing down step and a failing hand-off.
 * Every stdout and stderr captured is searched for the database password, in every form it can take.
 */
import assert from 'node:assert/strict';
import { brokenKagentSource, KAGENT_SOURCE, kagentVersionRows as versionRows, migrateKagent09 } from '../harness/golang-migrate-up.js';
import { helmVersions, kubectl, run, type RunResult } from '../harness/plugin.js';
import { query } from '../harness/postgres.js';
import { scenario } from '../harness/scenario.js';

const NS = 'ai';

for (const helm of helmVersions) {
  describe(`e2e: no secret in the output (--debug, -o json/yaml, failures) through ${helm.label}`, function () {
    this.timeout(300_000);
    const s = scenario({
      helm, prefix: 'hsr-secrets-', namespace: NS, release: 'kagent', chart: 'kagent', version: '0.9.0', installArgs: ['--set', 'replicaCount=2'],
      images: () => ({}), needsDouble: 'runs beside the other kagent scenarios on the double', deployment: 'kagent-controller', prepare: migrateKagent09,
    });
    const sr = (args: string[]): Promise<RunResult> => s.sr(args);
    /** Every form the password can be printed in: as is, percent-encoded in the URL, the URL in a Secret's base64. */
    const secretForms = () => {
      const password = s.db.server.password;
      return [password, encodeURIComponent(password), s.db.url, Buffer.from(s.db.url).toString('base64'), password.split('-')[1]!];
    };
    const assertNoSecret = (what: string, r: RunResult) => {
      for (const form of secretForms()) {
        for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
          assert.ok(!text.includes(form), `${what}: ${stream} shows the password (as ${JSON.stringify(form)}):\n${text}`);
        }
      }
    };
    // The user's own helm flags after --, carrying the URL and the password. Not with --debug: Helm 4's
    // own "executing plugin command" line prints a plugin's whole argv, which no plugin can mask (README).
    const userSets = () => ['--', '--set', `database.url=${s.db.url}`, '--set-string', `database.password=${s.db.server.password}`];

    it('-o json and -o yaml plans mask the --set values in handoff.extra, keys kept', async () => {
      const json = await sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', '-o', 'json', ...userSets()]);
      assert.equal(json.exitCode, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout).handoff.extra, ['--set', 'database.url=***', '--set-string', 'database.password=***']);
      const yaml = await sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', '-o', 'yaml', ...userSets()]);
      assert.equal(yaml.exitCode, 0, yaml.stderr);
      assert.match(yaml.stdout, /database\.url=\*\*\*/);
      assertNoSecret('dry run -o json', json);
      assertNoSecret('dry run -o yaml', yaml);
    });

    it('--debug logs every call of the plan without the URL read from the Secret', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--dry-run', '--debug']);
      assert.equal(r.exitCode, 0, r.stderr);
      // The Secret read in process (kube-api.ts), and never its data.
      assert.match(r.stderr, /debug: kube-api: GET \/api\/v1\/namespaces\/ai\/secrets\/kagent-db 200 \d+ ms/);
      assertNoSecret('dry run --debug', r);
    });

    it('a failing down step (--debug) says where each track stands without the URL', async () => {
      // The failing down's error quotes the URL, as an app's error can (a connection string in a message).
      const failure = `DO $$ BEGIN RAISE EXCEPTION 'cannot reach %', '${s.db.url.replace(/'/g, "''")}'; END $$;`;
      const r = await sr(['kagent', '--to', '0.8.0', '--source', brokenKagentSource(failure), '--yes', '--debug']);
      assert.equal(r.exitCode, 14, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /track core: down of 11 failed: .*cannot reach \*\*\*/);
      assertNoSecret('failing step --debug', r);
      // The run record keeps the failed step's error in the cluster, where anyone who reads ConfigMaps sees it.
      const record = await run(kubectl, ['get', 'configmap', 'kagent-schema-rollback-run', '-n', NS, '-o', 'jsonpath={.data.run\\.json}'], { env: s.plugin.env });
      assert.match(record.stdout, /"detail": ".*cannot reach \*\*\*/);
      assertNoSecret('the run record', record);
      // The repair the failure names (force 11), so that the next runs reach the hand-off.
      await query(s.db.url, 'UPDATE schema_migrations SET version = 11, dirty = false');
    });

    it('a failing hand-off (-o json, the URL in the user\'s --set) reports helm\'s error without the URL', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--yes', '-o', 'json', ...userSets(), '--set-json', 'extra={']);
      // Found by the hand-off's check (helm upgrade --dry-run) before any down: refused, nothing changed.
      assert.equal(r.exitCode, 12, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /the hand-off would fail: helm upgrade kagent fixtures\/kagent --version 0\.8\.0 --dry-run=server says: failed parsing --set-json data extra=\*\*\*/);
      assert.deepEqual(await versionRows(s.db.url), [[{ version: '11', dirty: false }], [{ version: '1', dirty: false }]]);
      assertNoSecret('failing hand-off -o json', r);
    });

    it('the hand-off streamed with --debug (helm upgrade --debug: the release\'s values and manifests) shows *** for the URL', async () => {
      const r = await sr(['kagent', '--to', '0.8.0', '--source', KAGENT_SOURCE, '--yes', '--debug']);
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /helm \| .*url: \*\*\*/, 'helm --debug printed the user-supplied database.url, masked');
      assertNoSecret('hand-off --debug', r);
    });

    it('--database-url with a password warns (ps and helm --debug show flags) and prints it nowhere', async () => {
      const r = await sr(['status', 'kagent', '--database-url', s.db.url]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stderr, /warning: --database-url carries a password, .* set SCHEMA_ROLLBACK_DATABASE_URL instead/);
      assertNoSecret('status --database-url', r);
    });
  });
}
