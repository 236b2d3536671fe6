// Bundles the CLI into one CommonJS file for the Node SEA (see scripts/build.sh).
// Run from any cwd: paths are resolved from this file's location.
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = resolve(root, process.env.BUNDLE_OUT ?? 'build/cli.cjs');

await build({
  absWorkingDir: root,
  entryPoints: [resolve(root, 'src/cli/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node24',
  // A SEA main script must be CommonJS; the entry avoids top-level await for that reason.
  format: 'cjs',
  // Class names survive bundling (esbuild would otherwise rename e.g. Client -> Client2).
  keepNames: true,
  minify: process.env.MINIFY === '1',
  legalComments: 'none',
  logLevel: 'warning',
  // ESM deps (yargs 18, yargs-parser) call createRequire(import.meta.url) at load time; in a CJS
  // bundle import.meta.url is undefined and they crash without any build warning.
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: {
    js: [
      '"use strict";',
      // The require() a SEA hands its main script loads builtins only; give it a real one.
      'require = require("node:module").createRequire(__filename);',
      'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;',
    ].join('\n'),
  },
  // pg's optional native binding: resolve to a stub that throws MODULE_NOT_FOUND, no disk lookup.
  alias: { 'pg-native': resolve(root, 'src/stubs/pg-native.cjs') },
});
