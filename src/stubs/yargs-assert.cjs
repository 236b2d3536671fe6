// Stand-in for node:assert in yargs' platform shim, aliased in by scripts/build.mjs for yargs only.
// yargs takes two functions of it (notStrictEqual, strictEqual) to guard its own invariants, yet
// loading node:assert pulls in its AssertionError, colours and util.inspect: ~3 ms of every command
// that parses arguments (issue 12, status start-up). Same comparison (Object.is) and error code.
'use strict';
function fail(message, fallback) {
  if (message instanceof Error) throw message;
  const err = new Error(message ?? fallback);
  err.code = 'ERR_ASSERTION';
  throw err;
}
exports.strictEqual = (actual, expected, message) => {
  if (!Object.is(actual, expected)) fail(message, `Expected values to be strictly equal: ${String(actual)} !== ${String(expected)}`);
};
exports.notStrictEqual = (actual, expected, message) => {
  if (Object.is(actual, expected)) fail(message, `Expected "actual" to be strictly unequal to: ${String(expected)}`);
};
