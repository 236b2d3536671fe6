// Stand-in for the optional `pg-native` addon, aliased in by scripts/build.mjs.
// pg's `native` getter swallows only MODULE_NOT_FOUND; inside a Node SEA a bare
// `require('pg-native')` would throw ERR_UNKNOWN_BUILTIN_MODULE instead and crash the CLI.
const err = new Error("Cannot find module 'pg-native'");
err.code = 'MODULE_NOT_FOUND';
throw err;
