/**
 * Preloaded (node --require) into the plugin's bundle by bench/native-downs.ts PROFILE=1: records
 * every child process the plugin starts (helm, kubectl, psql...) with its start and end, in ms since
 * the process started, and writes them with the process's own totals to $HSR_PROFILE_OUT on exit.
 * Where the wall time goes that no CPU profile shows: waiting for children, one after another.
 */
'use strict';
const childProcess = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');

const out = process.env.HSR_PROFILE_OUT;
const children = [];
const originalSpawn = childProcess.spawn;
childProcess.spawn = function spawn(file, args, options) {
  const started = performance.now();
  const child = originalSpawn.call(this, file, args, options);
  const argv = Array.isArray(args) ? args : [];
  const shown = argv.filter((a, i) => !a.startsWith('--namespace') && argv[i - 1] !== '--namespace');
  const entry = { command: [String(file).split('/').pop(), ...shown.slice(0, 3)].join(' '), start: started, end: undefined };
  children.push(entry);
  child.once('exit', () => (entry.end = performance.now()));
  return child;
};
process.once('exit', () => {
  if (!out) return;
  const usage = process.resourceUsage();
  writeFileSync(out, JSON.stringify({ wallMs: performance.now(), userMs: usage.userCPUTime / 1000, systemMs: usage.systemCPUTime / 1000, maxRssKb: usage.maxRSS, children }, null, 2));
});
