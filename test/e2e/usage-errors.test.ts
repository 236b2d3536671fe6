/**
 * Bad input at the boundary: the binary as an operator types it, and through real Helm 3.17 and
 * 4.1. Every case must exit 2 with a message naming the problem and the fix, and must not touch
 * anything: helm and kubectl are recording fakes first on PATH (and $HELM_BIN), and the database URL
 * points at a listener that counts connections. Each must see zero calls.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ensureBinary } from '../harness/build.js';
import { helmVersions, installPlugin, makeTempDir, removeTempDirs, run, stagePluginDir, type InstalledPlugin } from '../harness/plugin.js';

interface Case {
  args: string[];
  /** What stderr must say (the problem, and where there is one, the suggested fix). */
  says: RegExp[];
}

const ansi = 'kag\u001b[31ment';
const long = 'a'.repeat(100_000);

/** rollback (both forms), status, annotate, verify, revisions × unknown flag, missing/extra positional, bad choice, empty value, ... */
const cases: Case[] = [
  // rollback, the default command
  { args: ['kagent', '--to', '0.8.0', '--dryrun', '--yes'], says: [/unknown flag --dryrun/, /did you mean --dry-run\?/] },
  { args: ['kagent', '--to', '0.8.0', '--yse'], says: [/unknown flag --yse/, /did you mean --yes\?/] },
  { args: ['kagent', '--to', '0.8.0', '--sourse', 'dir'], says: [/unknown flag --sourse/, /did you mean --source\?/] },
  { args: ['kagent', '--version', '0.8.0'], says: [/unknown flag --version/, /did you mean --to\?/] },
  { args: ['kagent', '--to', '0.8.0', '--runner', 'bogus'], says: [/--runner "bogus" is not one of: native, job, exec/] },
  { args: ['kagent', '--to', '0.8.0', '--runner', 'jbo'], says: [/did you mean --runner job\?/] },
  { args: ['kagent', '--to', '0.8.0', '-o', 'xml'], says: [/--output "xml" is not one of: table, json, yaml/] },
  { args: ['kagent', '--to', '0.8.0', '--port-forward', 'bogus'], says: [/--port-forward "bogus" is not one of: auto, always, never/] },
  { args: ['kagent', '--to', '0.8.0', '--tool', 'alembix'], says: [/--tool "alembix" is not one of/, /did you mean --tool alembic\?/] },
  { args: ['kagent'], says: [/missing --to/] },
  { args: ['kagent', '--to='], says: [/--to needs a value/] },
  { args: ['kagent', '--to', ''], says: [/--to needs a value/] },
  { args: ['kagent', '--to', ' '], says: [/--to needs a value/] },
  { args: ['kagent', '--to', 'banana'], says: [/--to "banana" is not a chart version/] },
  { args: ['kagent', '--to', '0.8'], says: [/not a chart version/, /did you mean --to 0\.8\.0\?/] },
  { args: ['kagent', '--to', '^0.8.0'], says: [/not a chart version/] },
  { args: ['kagent', '--to', '0.8.0', '--to', '0.9.0'], says: [/--to was given 2 times/] },
  { args: ['kagent', 'extra', '--to', '0.8.0'], says: [/unexpected argument "extra"/] },
  { args: ['--to', '0.8.0'], says: [/missing RELEASE/] },
  { args: [], says: [/missing RELEASE/] },
  { args: ['Kagent', '--to', '0.8.0'], says: [/"Kagent" is not a Helm release name/] },
  { args: [ansi, '--to', '0.8.0'], says: [/"kag\\x1b\[31ment" is not a Helm release name/] },
  { args: [long, '--to', '0.8.0'], says: [/\(100000 characters\)" is not a Helm release name/] },
  { args: ['kagent', '--to', '0.8.0', '-n', 'Bad_NS'], says: [/"Bad_NS" is not a Kubernetes namespace name/] },
  { args: ['kagent', '--to', '0.8.0', '--namespace='], says: [/--namespace needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--argocd-app', 'Kagent App'], says: [/--argocd-app "Kagent App" is not a Kubernetes object name/] },
  { args: ['kagent', '--to', '0.8.0', '--argocd-app='], says: [/--argocd-app needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--argocd-namespace', 'Argo_CD'], says: [/"Argo_CD" is not a Kubernetes namespace name/] },
  { args: ['kagent', '--to', '0.8.0', '--argocd-namespace='], says: [/--argocd-namespace needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--rehearse', '--dev-url', 'postgres://u@h/scratch', '--rehearse-copy', 'pdo'], says: [/--rehearse-copy "pdo" is not one of: auto, local, pod/] },
  { args: ['kagent', '--to', '0.8.0', '--source='], says: [/--source needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--chart='], says: [/--chart needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--database-url='], says: [/--database-url needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--stop='], says: [/--stop needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--command='], says: [/--command needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--workload', ''], says: [/--workload needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--container='], says: [/--container needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--target-revision='], says: [/--target-revision needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--source', 'dir', '--lock-timeout', '500'], says: [/--lock-timeout "500" has no unit/, /500ms, 2s, 1m30s \(0 turns it off\)/] },
  { args: ['kagent', '--to', '0.8.0', '--source', 'dir', '--statement-timeout', 'ten minutes'], says: [/--statement-timeout "ten minutes" is not a duration/] },
  { args: ['kagent', '--to', '0.8.0', '--source', 'dir', '--lock-retries', 'many'], says: [/--lock-retries "many" is not a whole number from 0 to 100/] },
  { args: ['kagent', '--to', '0.8.0', '--runner', 'job', '--lock-timeout', '2s'], says: [/--lock-timeout is for the native runner/, /lock_timeout from the URL/] },
  { args: ['kagent', '--to', '0.8.0', '--track='], says: [/--track needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--revision='], says: [/--revision needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--table='], says: [/--table needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--schema='], says: [/--schema needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--database-url-env='], says: [/--database-url-env needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--port-forward-target='], says: [/--port-forward-target needs a value/] },
  { args: ['kagent', '--to', '0.8.0', '--source', 'a', '--source', 'b'], says: [/--source was given 2 times/] },
  { args: ['kagent', '--to', '0.8.0', '--command', '{{ .Nope }} down'], says: [/--command/] },
  { args: ['completion'], says: [/missing SHELL/, /helm schema-rollback completion SHELL \(bash, zsh or fish\)/] },
  { args: ['completion', 'powershell'], says: [/SHELL "powershell" is not one of: bash, zsh, fish/] },
  { args: ['completion', 'bsh'], says: [/did you mean helm schema-rollback completion bash\?/] },
  { args: ['stauts', 'foo'], says: [/"stauts" looks like the command "status"/] },
  { args: ['statsu', 'kagent'], says: [/looks like the command "status"/] },
  { args: ['rollbakc', 'kagent', '--to', '0.8.0'], says: [/looks like the command "rollback"/] },
  // rollback, named
  { args: ['rollback', '--to', '0.8.0'], says: [/missing RELEASE/] },
  { args: ['rollback', 'kagent'], says: [/missing --to/] },
  { args: ['rollback', 'kagent', '--to', '0.8.0', '--dryrun'], says: [/did you mean --dry-run\?/] },
  { args: ['rollback', 'kagent', 'extra', '--to', '0.8.0'], says: [/unexpected argument "extra"/] },
  { args: ['rollback', 'kagent', '--to', 'latest'], says: [/not a chart version/] },
  // status
  { args: ['status'], says: [/missing RELEASE/, /helm schema-rollback status RELEASE/] },
  { args: ['status', 'kagent', 'extra'], says: [/unexpected argument "extra"/] },
  { args: ['status', 'kagent', '--dryrun'], says: [/unknown flag --dryrun/] },
  { args: ['status', 'Kagent'], says: [/not a Helm release name/] },
  { args: ['status', 'kagent', '-o', 'xml'], says: [/--output "xml" is not one of/] },
  { args: ['status', 'kagent', '--tool='], says: [/--tool needs a value|--tool "" is not one of/] },
  { args: ['status', 'kagent', '--to', '0.8.0'], says: [/unknown flag --to/] },
  { args: ['status', 'kagent', '--stop', 'deploy/x'], says: [/unknown flag --stop/] },
  { args: ['status', 'kagent', '--port-forward', 'sometimes'], says: [/--port-forward "sometimes" is not one of/] },
  { args: ['status', 'kagent', '--database-url='], says: [/--database-url needs a value/] },
  { args: ['--outptu', 'json', 'status', 'kagent'], says: [/unknown flag --outptu/, /did you mean --output\?/] },
  // annotate
  { args: ['annotate'], says: [/missing CHART_DIR/] },
  { args: ['annotate', 'chart'], says: [/missing --migrations/] },
  { args: ['annotate', 'chart', '--migrations='], says: [/--migrations needs a value/] },
  { args: ['annotate', 'chart', '--migrations', 'm', '--tool', 'alembix'], says: [/did you mean --tool alembic\?/] },
  { args: ['annotate', 'chart', '--migrations', 'm', '--chek'], says: [/did you mean --check\?/] },
  { args: ['annotate', 'a', 'b', '--migrations', 'm'], says: [/unexpected argument "b"/] },
  // verify
  // capture
  { args: ['capture'], says: [/missing RELEASE/, /capture RELEASE --source DIR\|FILE\.tar\.gz\|URL/] },
  { args: ['capture', 'kagent'], says: [/missing --source/] },
  { args: ['capture', 'kagent', '--source='], says: [/--source needs a value/] },
  { args: ['capture', 'kagent', '--source', 'dir', '--replce'], says: [/did you mean --replace\?/] },
  { args: ['verify'], says: [/missing CHART_DIR/] },
  { args: ['verify', 'chart', '--againts', 'repo/x'], says: [/did you mean --against\?/] },
  { args: ['verify', 'chart', '--against='], says: [/--against needs a value/] },
  { args: ['verify', 'a', 'b'], says: [/unexpected argument "b"/] },
  // revisions
  { args: ['revisions'], says: [/missing REPO\/CHART/] },
  { args: ['revisions', 'repo/x', '--version', '1.0.0'], says: [/did you mean --versions\?/] },
  { args: ['revisions', 'repo/x', '--versions='], says: [/--versions needs a value/] },
  { args: ['revisions', 'repo/x', '--versions', 'not a range'], says: [/is not a semver range/] },
];

/** A script that appends its argv to `log` and fails, standing in for helm or kubectl. */
function recordingFake(dir: string, name: string, log: string, onlyInsidePlugin = false): string {
  const file = join(dir, name);
  const guard = onlyInsidePlugin ? '[ -n "$HELM_PLUGIN_NAME" ] || exec -a "$0" "$HSR_REAL_HELM" "$@"\n' : '';
  writeFileSync(file, `#!/usr/bin/env bash\n${guard}echo "${name} $*" >> '${log}'\necho "${name}: recording fake, no cluster" >&2\nexit 1\n`);
  chmodSync(file, 0o755);
  return file;
}

function calls(log: string): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

describe('usage errors: found before anything is read or changed', function () {
  let binary: string;
  let dir: string;
  let log: string;
  let server: Server;
  let connections = 0;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    this.timeout(300_000);
    binary = ensureBinary();
    dir = makeTempDir('hsr-usage-');
    log = join(dir, 'calls.log');
    recordingFake(dir, 'helm', log);
    recordingFake(dir, 'kubectl', log);
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    env = {
      PATH: `${dir}:${process.env.PATH}`,
      HOME: dir,
      HELM_BIN: join(dir, 'helm'),
      SCHEMA_ROLLBACK_KUBECTL: join(dir, 'kubectl'),
      SCHEMA_ROLLBACK_DATABASE_URL: `postgres://app:s3cret@127.0.0.1:${port}/app`,
      KUBECONFIG: join(dir, 'no-kubeconfig'),
    };
  });

  after(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    removeTempDirs();
  });

  beforeEach(() => {
    rmSync(log, { force: true });
    connections = 0;
  });

  it(`covers at least 60 cases over every command (${cases.length})`, () => {
    assert.ok(cases.length >= 60);
    for (const command of ['status', 'annotate', 'verify', 'revisions', 'rollback']) {
      assert.ok(cases.some((c) => c.args[0] === command), command);
    }
  });

  for (const c of cases) {
    const shown = c.args.map((a) => (a.length > 40 ? `${a.slice(0, 12)}…(${a.length})` : JSON.stringify(a))).join(' ');
    it(`exits 2 with the fix, no helm, kubectl or database call: ${shown}`, async () => {
      const r = await run(binary, c.args, { env });
      assert.equal(r.exitCode, 2, `exit code\n${r.stderr}`);
      for (const re of c.says) assert.match(r.stderr, re);
      assert.match(r.stderr, /^Error: .*\n {2}fix: /m, 'a message and a fix');
      assert.equal(r.stdout, '', 'nothing on stdout');
      assert.doesNotMatch(r.stderr, /\u001b/, 'no raw escape sequence echoed');
      assert.ok(r.stderr.length < 2_000, 'a long input is cut, not echoed whole');
      assert.doesNotMatch(r.stderr, /s3cret/);
      assert.deepEqual(calls(log), [], 'no helm or kubectl call');
      assert.equal(connections, 0, 'no database connection');
    });
  }

  it('a valid command does reach helm (the recorder sees calls, so the zero counts above mean something)', async () => {
    const r = await run(binary, ['kagent', '--to', '0.8.0', '--dry-run'], { env });
    assert.notEqual(r.exitCode, 2, r.stderr);
    assert.match(calls(log)[0] ?? '', /^helm get metadata kagent/);
  });

  for (const h of helmVersions) {
    describe(`through ${h.label}`, function () {
      let plugin: InstalledPlugin;
      let helmLog: string;

      before(async function () {
        this.timeout(300_000);
        const home = makeTempDir('hsr-helm-usage-');
        helmLog = join(home, 'calls.log');
        // The plugin's helm ($HELM_BIN = the path helm was started as) and kubectl record what the
        // plugin asks of them; helm itself, run by the test, passes through to the real binary.
        mkdirSync(join(home, 'bin'), { recursive: true });
        recordingFake(join(home, 'bin'), 'helm', helmLog, true);
        recordingFake(join(home, 'bin'), 'kubectl', helmLog);
        plugin = await installPlugin(h.bin, stagePluginDir(binary), { home, env: { HSR_REAL_HELM: h.bin } });
      });

      after(() => plugin.cleanup());

      for (const c of [cases[0]!, cases[10]!, cases[13]!, cases[42]!]) {
        it(`helm schema-rollback ${c.args.join(' ')}: exit 2, the fix, no call`, async () => {
          rmSync(helmLog, { force: true });
          const r = await plugin.helm(['schema-rollback', ...c.args]);
          assert.equal(r.exitCode, 2, r.stderr);
          for (const re of c.says) assert.match(r.stderr, re);
          assert.deepEqual(calls(helmLog), []);
        });
      }

      it('the recorder sees the plugin\'s calls when the input is valid', async () => {
        rmSync(helmLog, { force: true });
        await plugin.helm(['schema-rollback', 'kagent', '--to', '0.8.0', '--dry-run']);
        assert.match(calls(helmLog).join('\n'), /^helm get metadata kagent/m);
      });
    });
  }
});
