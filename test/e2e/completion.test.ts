/**
 * Help examples and shell completion, at the boundary: the built binary, its bash script sourced in
 * a real bash, and `helm __complete schema-rollback ...` through real Helm 3.17 and 4.1 (what
 * `helm schema-rollback <TAB>` runs), with releases in the Kubernetes API double.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, exampleCommand, type Example } from '../../src/cli/examples.js';
import { ensureBinary } from '../harness/build.js';
import { helmVersions, makeTempDir, removeTempDirs, run } from '../harness/plugin.js';
import { startWorld, type World } from '../harness/world.js';

/** What the CLI says when it refuses a command line before acting (src/cli/usage.ts, yargs). */
const USAGE_REFUSAL = /unknown flag|unexpected argument|missing [A-Z-]|is not one of|needs a value|was given \d+ times|is not a chart version|is not a Helm release name|is a command word|looks like the command|Not enough|Unknown argument/;

function shellAvailable(shell: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, shell)));
}

describe('help examples and shell completion (the binary)', function () {
  this.timeout(120_000);
  let binary: string;
  let dir: string;
  let helmLog: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    binary = ensureBinary();
    dir = makeTempDir('hsr-completion-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // On PATH under the name the scripts complete, as after linking the plugin's binary there.
    symlinkSync(binary, join(bin, 'helm-schema-rollback'));
    helmLog = join(dir, 'helm.log');
    // A helm that knows one release, kagent of chart kagent 0.9.0, in a repository with 0.1.0 to 1.0.0.
    writeFileSync(join(bin, 'helm'), `#!/usr/bin/env bash
echo "helm $*" >> '${helmLog}'
case "$1 $2" in
  "list --short") printf 'kagent\\nopenkat\\n' ;;
  "get metadata") echo '{"name":"kagent","chart":"kagent","version":"0.9.0","namespace":"ai","revision":1,"status":"deployed"}' ;;
  "search repo") echo '[{"name":"fixtures/kagent","version":"1.0.0"},{"name":"fixtures/kagent","version":"0.9.0"},{"name":"fixtures/kagent","version":"0.8.0"},{"name":"fixtures/kagent","version":"0.1.0"},{"name":"fixtures/kagent-extra","version":"0.5.0"}]' ;;
  *) echo "fake helm: no cluster" >&2; exit 1 ;;
esac
`);
    chmodSync(join(bin, 'helm'), 0o755);
    writeFileSync(join(bin, 'kubectl'), `#!/usr/bin/env bash\necho "kubectl $*" >> '${helmLog}'\nexit 1\n`);
    chmodSync(join(bin, 'kubectl'), 0o755);
    mkdirSync(join(dir, 'charts', 'kagent'), { recursive: true });
    writeFileSync(join(dir, 'charts', 'notes.txt'), '');
    env = { PATH: `${bin}:${process.env.PATH}`, HOME: dir, HELM_BIN: join(bin, 'helm'), SCHEMA_ROLLBACK_KUBECTL: join(bin, 'kubectl'), KUBECONFIG: join(dir, 'none') };
  });

  after(() => removeTempDirs());

  describe('every --help example parses (no usage refusal) and is printed by its command', () => {
    for (const [command, examples] of Object.entries(EXAMPLES) as [string, Example[]][]) {
      it(`${command}: ${examples.length} examples, shown in ${command} --help`, async () => {
        assert.ok(examples.length >= 2 && examples.length <= 3);
        const help = await run(binary, command === 'rollback' ? ['--help'] : [command, '--help'], { env });
        assert.equal(help.exitCode, 0, help.stderr);
        // yargs wraps long lines; the example reads the same once the lines are joined again.
        const shown = help.stdout.replace(/ \\\n\s*/g, ' ').replace(/\s+/g, ' ');
        for (const example of examples) assert.ok(shown.includes(exampleCommand(example)), `${exampleCommand(example)} in:\n${help.stdout}`);
      });
      for (const example of examples) {
        it(`${exampleCommand(example)}`, async () => {
          writeFileSync(helmLog, '');
          const r = await run(binary, example.args, { env, cwd: dir });
          assert.doesNotMatch(r.stderr, USAGE_REFUSAL, r.stderr);
          // The commands that ask helm reached it: past every usage check.
          if (['rollback', 'status', 'revisions'].includes(command)) assert.match(readFileSync(helmLog, 'utf8'), /^helm /m, r.stderr);
          if (command === 'completion') assert.equal(r.exitCode, 0, r.stderr);
        });
      }
    }
  });

  describe('the bash script', () => {
    /** COMPREPLY after sourcing `completion bash` and completing `words` (the last one is being typed). */
    const complete = async (...words: string[]): Promise<string[]> => {
      const quoted = ['helm-schema-rollback', ...words].map((w) => `'${w}'`).join(' ');
      const script = `source <(helm-schema-rollback completion bash) || exit 9
complete -p helm-schema-rollback >/dev/null || exit 8
COMP_WORDS=(${quoted}); COMP_CWORD=${words.length}
_helm_schema_rollback
printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await run('bash', ['-c', script], { env, cwd: dir });
      assert.equal(r.exitCode, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };

    it('completes commands and release names (helm list in the namespace) for the first word', async () => {
      writeFileSync(helmLog, '');
      const words = await complete('');
      for (const w of ['status', 'annotate', 'verify', 'revisions', 'completion', 'rollback', 'kagent', 'openkat']) assert.ok(words.includes(w), `${w} in ${words}`);
      assert.ok(!words.some((w) => w.includes('\t')), 'descriptions are not inserted');
      assert.deepEqual(await complete('st'), ['status']);
      assert.deepEqual(await complete('-n', 'ai', 'ka'), ['kagent']);
      assert.match(readFileSync(helmLog, 'utf8'), /^helm list --short --namespace ai$/m);
    });

    it('completes the flags of the command, and their choices', async () => {
      assert.deepEqual(await complete('kagent', '--runner', ''), ['native', 'job', 'exec']);
      assert.deepEqual(await complete('kagent', '-o', 'y'), ['yaml']);
      assert.deepEqual(await complete('kagent', '--port-forward', ''), ['auto', 'always', 'never']);
      assert.ok((await complete('kagent', '--tool', '')).includes('alembic'));
      assert.deepEqual(await complete('kagent', '--dr'), ['--dry-run']);
      assert.deepEqual(await complete('kagent', '--no-a'), ['--no-archive']);
      const status = await complete('status', 'kagent', '--');
      assert.ok(status.includes('--database-url') && status.includes('--output'));
      assert.ok(!status.includes('--to') && !status.includes('--dry-run'), 'status has no --to, no --dry-run');
      // A flag given once is not offered again.
      assert.ok(!(await complete('kagent', '--dry-run', '--d')).includes('--dry-run'));
      assert.deepEqual(await complete('completion', ''), ['bash', 'zsh', 'fish']);
    });

    it('completes --flag=VALUE as bash splits it ("--runner" "=" "j")', async () => {
      assert.deepEqual(await complete('kagent', '--runner', '=', 'j'), ['job']);
      assert.deepEqual(await complete('kagent', '--runner', '='), ['native', 'job', 'exec']);
    });

    it("completes --to with the release's chart versions older than the deployed one", async () => {
      assert.deepEqual(await complete('kagent', '--to', ''), ['0.8.0', '0.1.0']);
      assert.deepEqual(await complete('rollback', 'kagent', '--to', '0.8'), ['0.8.0']);
    });

    it('offers directories for a chart directory, and nothing for free text', async () => {
      assert.deepEqual(await complete('annotate', 'charts/'), ['charts/kagent']);
      assert.deepEqual(await complete('kagent', '--workload', ''), []);
    });

    it('is silent when helm fails: no candidates, no error output', async () => {
      const r = await run('bash', ['-c', `source <(helm-schema-rollback completion bash); COMP_WORDS=(helm-schema-rollback status ''); COMP_CWORD=2; _helm_schema_rollback; echo "[\${COMPREPLY[*]}]"`], {
        env: { ...env, HELM_BIN: '/nonexistent/helm' },
      });
      assert.equal(r.stdout, '[]\n');
      assert.equal(r.stderr, '');
    });
  });

  for (const shell of ['zsh', 'fish']) {
    it(`the ${shell} script loads in ${shell}`, async function () {
      if (!shellAvailable(shell)) {
        console.log(`      (skipped: ${shell} is not installed)`);
        this.skip();
      }
      const load = shell === 'zsh' ? 'autoload -U compinit && compinit -u && source <(helm-schema-rollback completion zsh) && whence -w _helm_schema_rollback' : 'helm-schema-rollback completion fish | source; and functions -q _helm_schema_rollback; and complete -c helm-schema-rollback';
      const r = await run(shell, ['-c', load], { env, cwd: dir });
      assert.equal(r.exitCode, 0, r.stderr);
    });
  }
});

for (const helm of helmVersions) {
  describe(`completion through ${helm.label} (helm __complete schema-rollback ..., plugin.complete)`, function () {
    this.timeout(240_000);
    let world: World;
    const complete = async (args: string[]): Promise<string[]> => {
      const r = await world.plugin.helm(['__complete', ...args]);
      assert.equal(r.exitCode, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).map((line) => line.split('\t')[0]!);
    };

    before(async () => {
      world = await startWorld(helm.bin, 'hsr-completion-helm-');
      await world.helmOk(['install', 'kagent', 'fixtures/kagent', '--version', '0.9.0', '-n', 'ai', '--create-namespace', '--set', `database.url=${world.db.url}`]);
    });

    after(async () => {
      await world?.close();
    });

    it('lists the commands, and the releases of the namespace given to helm', async () => {
      const words = await complete(['-n', 'ai', 'schema-rollback', '']);
      for (const w of ['status', 'annotate', 'verify', 'revisions', 'completion', 'rollback', 'kagent']) assert.ok(words.includes(w), `${w} in ${words}`);
      assert.equal(words.at(-1), ':4', 'no file names');
      const other = await complete(['-n', 'default', 'schema-rollback', '']);
      assert.ok(!other.includes('kagent'), 'kagent is in namespace ai only');
      assert.deepEqual(await complete(['-n', 'ai', 'schema-rollback', 'status', 'k']), ['kagent', ':4']);
    });

    it('completes flags and their choices', async () => {
      assert.deepEqual(await complete(['schema-rollback', 'kagent', '--runner', '']), ['native', 'job', 'exec', ':4']);
      assert.deepEqual(await complete(['schema-rollback', 'kagent', '--dry']), ['--dry-run', ':4']);
    });

    it("completes --to with the release's older chart versions from the repository", async () => {
      assert.deepEqual(await complete(['-n', 'ai', 'schema-rollback', 'kagent', '--to', '']), ['0.8.0', '0.1.0', ':4']);
    });
  });
}
