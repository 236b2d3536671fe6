#!/usr/bin/env node
/**
 * The ratios the benchmarks are held to (issue 12): each bench records, per comparison, the
 * plugin's median, its baseline's median (measured in the same hyperfine invocation), their ratio
 * and the target, as bench/results/ratios/NAME.json, and fails loudly (exit 1, the slipped ratio
 * named) when the ratio is above its target. bench/run.sh prints them all as one table.
 *
 *   node bench/ratios.mjs record --json HYPERFINE.json --name NAME --plugin CMD --baseline CMD --target X
 *        (CMD: a command's -n name in that hyperfine JSON, or its index)
 *   node bench/ratios.mjs table [NAME...]   the table of the recorded ratios (all, or those named);
 *                                           exit 1 when one is above its target or missing
 *
 * Plain JavaScript (the Node 24 that node_modules ships runs it; the tsx benches import it).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RATIOS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results', 'ratios');

/** The median (seconds) of the hyperfine result named `command` (its -n name, or an index). */
export function hyperfineMedian(jsonFile, command) {
  const { results } = JSON.parse(readFileSync(jsonFile, 'utf8'));
  const found = /^[0-9]+$/.test(String(command)) ? results[Number(command)] : results.find((r) => r.command === command);
  if (found === undefined) throw new Error(`${jsonFile}: no result named ${command} (have: ${results.map((r) => r.command).join('; ')})`);
  return { command: found.command, median: found.median, runs: found.times.length };
}

/**
 * Records one ratio and returns it; prints one line. `unit` is how the medians read ('s' for times;
 * 'MB' for the memory rows of bench/scale.ts). A ratio above `target` is a FAIL: the caller exits 1.
 */
export function recordRatio({ name, plugin, baseline, pluginValue, baselineValue, target, unit = 's', runs }) {
  const ratio = pluginValue / baselineValue;
  const row = { name, plugin, baseline, pluginValue, baselineValue, unit, ratio, target, runs, pass: ratio <= target, measured: new Date().toISOString() };
  mkdirSync(RATIOS_DIR, { recursive: true });
  writeFileSync(join(RATIOS_DIR, `${name}.json`), `${JSON.stringify(row, null, 2)}\n`);
  const verdict = row.pass ? 'PASS' : `FAIL: ratio ${name} slipped above its target`;
  console.log(`bench: ${name}: ${show(pluginValue, unit)} / ${show(baselineValue, unit)} = ${ratio.toFixed(2)}× (target ≤ ${target}×) ${verdict}`);
  return row;
}

function show(value, unit) {
  if (unit === 's') return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`;
  return `${value.toFixed(1)} ${unit}`;
}

/** The recorded rows (all, or the named ones; a named one never recorded is returned as missing). */
export function readRatios(names = []) {
  let files = [];
  try {
    files = readdirSync(RATIOS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    // no bench recorded yet
  }
  const rows = files.map((f) => JSON.parse(readFileSync(join(RATIOS_DIR, f), 'utf8')));
  if (names.length === 0) return rows.sort((a, b) => a.name.localeCompare(b.name));
  return names.map((n) => rows.find((r) => r.name === n) ?? { name: n, missing: true });
}

/** The table (markdown) of `rows`; `ok` is false when a row failed or is missing. */
export function ratioTable(rows) {
  const lines = [
    '| bench | plugin | median | baseline | median | ratio | target | |',
    '|:---|:---|---:|:---|---:|---:|---:|:---|',
  ];
  for (const r of rows) {
    if (r.missing) {
      lines.push(`| ${r.name} | (not measured: its bench failed before recording) | | | | | | **FAIL** |`);
      continue;
    }
    lines.push(`| ${r.name} | ${r.plugin} | ${show(r.pluginValue, r.unit)} | ${r.baseline} | ${show(r.baselineValue, r.unit)} | ${r.ratio.toFixed(2)}× | ≤ ${r.target}× | ${r.pass ? 'PASS' : '**FAIL**'} |`);
  }
  return { text: lines.join('\n'), ok: rows.length > 0 && rows.every((r) => !r.missing && r.pass) };
}

function option(args, flag) {
  const i = args.indexOf(flag);
  if (i < 0 || i + 1 >= args.length) throw new Error(`missing ${flag}`);
  return args[i + 1];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'record') {
    const json = option(args, '--json');
    const p = hyperfineMedian(json, option(args, '--plugin'));
    const b = hyperfineMedian(json, option(args, '--baseline'));
    const row = recordRatio({
      name: option(args, '--name'), plugin: p.command, baseline: b.command,
      pluginValue: p.median, baselineValue: b.median, target: Number(option(args, '--target')), runs: p.runs,
    });
    process.exitCode = row.pass ? 0 : 1;
  } else if (command === 'table') {
    const rows = readRatios(args);
    const { text, ok } = ratioTable(rows);
    console.log(text);
    const failed = rows.filter((r) => r.missing || !r.pass).map((r) => r.name);
    if (!ok) console.error(`bench: FAIL: ${failed.length ? failed.join(', ') : 'no ratio recorded'}`);
    process.exitCode = ok ? 0 : 1;
  } else {
    console.error('usage: ratios.mjs record --json F --name N --plugin CMD --baseline CMD --target X | ratios.mjs table [NAME...]');
    process.exitCode = 2;
  }
}
