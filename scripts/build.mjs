// Bundles the CLI into one CommonJS file for the Node SEA (see scripts/build.sh).
// Run from any cwd: paths are resolved from this file's location.
import { build } from 'esbuild';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Modules whose top level is costly and that a run rarely calls: string-width builds an
 * Intl.Segmenter and Unicode property regexes (\p{RGI_Emoji}: about 25 ms for its copies under
 * yargs and cliui) when it loads, yet is called only to lay out help and spinners. Every import of
 * one gets a stand-in that loads the real module (the same version the importer resolved) at its
 * first call. Each must have a default export that is a function.
 */
const LAZY_DEFAULT_EXPORTS = ['string-width'];
const lazyModules = {
  name: 'lazy-default-exports',
  setup(b) {
    const filter = new RegExp(`^(${LAZY_DEFAULT_EXPORTS.join('|')})$`);
    b.onResolve({ filter }, async (args) => {
      if (args.pluginData?.real) return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { real: true } });
      if (real.errors.length > 0) return { errors: real.errors };
      // Relative: the bundle names no directory of the build machine.
      return { path: relative(root, real.path), namespace: 'lazy', pluginData: { name: args.path } };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      resolveDir: dirname(resolve(root, args.path)),
      contents: [
        `// ${args.pluginData.name}, loaded at its first call (scripts/build.mjs).`,
        'let real;',
        `export default function ${args.pluginData.name.replace(/\W/g, '_')}(...args) {`,
        `  real ??= require(${JSON.stringify(`./${basename(args.path)}`)}).default;`,
        '  return real(...args);',
        '}',
      ].join('\n'),
    }));
  },
};
/** yargs' own import of node:assert gets src/stubs/yargs-assert.cjs (two functions; see there why). */
const yargsAssert = {
  name: 'yargs-assert',
  setup(b) {
    b.onResolve({ filter: /^(node:)?assert$/ }, (args) => (/[\\/]node_modules[\\/]yargs[\\/]/.test(args.importer) ? { path: resolve(root, 'src/stubs/yargs-assert.cjs') } : undefined));
  },
};
/** pg's password-auth helpers (lib/crypto/utils.js) get src/stubs/pg-crypto-utils.cjs (node:crypto, not WebCrypto; see there why). */
const pgCryptoUtils = {
  name: 'pg-crypto-utils',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/(crypto\/)?utils$/ }, (args) => {
      const importer = args.importer.replace(/\\/g, '/');
      const pgCrypto = (/\/node_modules\/pg\/lib\/client\.js$/.test(importer) && args.path === './crypto/utils')
        || (/\/node_modules\/pg\/lib\/crypto\/sasl\.js$/.test(importer) && args.path === './utils');
      return pgCrypto ? { path: resolve(root, 'src/stubs/pg-crypto-utils.cjs') } : undefined;
    });
  },
};
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
  plugins: [lazyModules, yargsAssert, pgCryptoUtils],
});

// The binary runs this bundle through vm.Script (scripts/sea-main.cjs, for its trained code cache),
// where import() has no loader: a module left to import() fails at its first use, far from here
// (the confirmation question once never took an answer). Built-ins are loaded with require
// (src/adapters/lazy-builtins.ts); bundled modules' import() become requires.
const { readFileSync } = await import('node:fs');
const dynamicImports = readFileSync(outfile, 'utf8').match(/\bimport\(\s*["'`][^"'`]*["'`]\s*\)/g);
if (dynamicImports) {
  console.error(`build: the bundle keeps ${dynamicImports.length} dynamic import(s): ${[...new Set(dynamicImports)].join(', ')}. Fix: load built-ins through src/adapters/lazy-builtins.ts.`);
  process.exit(1);
}
