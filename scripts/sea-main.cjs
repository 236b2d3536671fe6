/**
 * The binary's main script (scripts/sea-config.json): runs the bundle (build/cli.cjs, a SEA asset)
 * compiled with a V8 code cache trained at build time (build/cli.cache, an asset too).
 *
 * Why (issue 12, status start-up): Node's own SEA code cache (useCodeCache) holds only what V8
 * compiles eagerly, the bundle's top level; every function is compiled again by every run when it is
 * first called: yargs' parser, the YAML parser, pg's protocol. A cache made after running the bundle
 * holds those functions too. scripts/build.sh makes it by running this script under the same Node,
 * with the binary's own flags, through offline command lines (HSR_CODE_CACHE_TRAIN names the cache
 * file to read and write). The cache is compiled code only (V8's bytecode of this bundle), nothing of
 * the machine or the environment it was trained in. V8 checks it against the source and its own
 * version and flags and ignores it when it does not match (the bundle is then compiled as before,
 * only slower); HSR_CODE_CACHE_REPORT=1 says on stderr whether it was used (scripts/build.sh checks).
 */
'use strict';
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const sea = require('node:sea');
const training = process.env.HSR_CODE_CACHE_TRAIN;

let source;
let cachedData;
let filename;
if (sea.isSea()) {
  source = sea.getAsset('cli.cjs', 'utf8');
  cachedData = Buffer.from(sea.getRawAsset('cli.cache'));
  // What __filename was when the bundle itself was the SEA's main script.
  filename = process.execPath;
} else {
  filename = path.join(__dirname, '..', 'build', 'cli.cjs');
  source = require('node:fs').readFileSync(filename, 'utf8');
  if (training) {
    try {
      cachedData = require('node:fs').readFileSync(training);
    } catch {
      // The first training run starts without one.
    }
  }
}

const script = new vm.Script(Module.wrap(source), {
  filename,
  ...(cachedData && cachedData.length > 0 ? { cachedData } : {}),
  // No importModuleDynamically: Node's default loader here is experimental (a warning on stderr, and
  // a prompt that took no answer). The bundle has no import() left (scripts/build.mjs checks).
});
if (process.env.HSR_CODE_CACHE_REPORT === '1') {
  process.stderr.write(`code cache: ${cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
}
if (training) {
  // On exit: what this run compiled, with what the cache it started from held.
  process.on('exit', () => require('node:fs').writeFileSync(training, script.createCachedData()));
}
const mod = new Module(filename);
mod.filename = filename;
script.runInThisContext()(mod.exports, require, mod, filename, path.dirname(filename));
