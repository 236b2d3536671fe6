// `npm run gen`: rewrites what derives from the tool registry (src/tools/index.ts) and is kept in
// files people read: the contract schema's tool enum (src/core/contract.schema.json, which chart
// CI validates against and the core loads as is) and the README's tool table. `npm run gen --
// --check` changes nothing and exits 1 when either is stale; test/unit/tools-registry.test.ts fails
// then too.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MigrationTool } from '../src/core/ports.js';
import { registry } from '../src/tools/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_PATH = resolve(root, 'src/core/contract.schema.json');
export const README_PATH = resolve(root, 'README.md');

export const TABLE_BEGIN = '<!-- tool table: generated from src/tools/index.ts by `npm run gen`, do not edit -->';
export const TABLE_END = '<!-- end of tool table -->';

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The README's table of how each tool's head is found from its files (annotate, verify). */
export function toolTable(tools: readonly MigrationTool[]): string {
  const rows = tools.map((tool) => {
    const about = tool.offers.history?.about;
    return about
      ? `| ${tool.name} | ${cell(about.files)} | ${cell(about.revision)} | ${cell(about.head)} |`
      : `| ${tool.name} | (not read: annotate and verify cannot read ${tool.name} files) | | |`;
  });
  return ['| tool | files read | revision written (as the tool stores it) | head |', '|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the text between the table's markers replaced. */
export function withToolTable(readme: string, tools: readonly MigrationTool[]): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the markers ${TABLE_BEGIN} ... ${TABLE_END}`);
  return `${readme.slice(0, begin + TABLE_BEGIN.length)}\n${toolTable(tools)}\n${readme.slice(end)}`;
}

/** The contract schema's text with the track's tool enum set to `names`; the rest of the file kept byte for byte. */
export function withToolEnum(schemaText: string, names: readonly string[]): string {
  const pattern = /("tool": \{ "enum": )\[[^\]]*\]/;
  if (!pattern.test(schemaText)) throw new Error('contract.schema.json: no "tool": { "enum": [...] } to rewrite');
  const text = schemaText.replace(pattern, (_, head: string) => `${head}${JSON.stringify(names).replace(/","/g, '", "')}`);
  const written = (JSON.parse(text) as { $defs: { track: { properties: { tool: { enum: string[] } } } } }).$defs.track.properties.tool.enum;
  if (JSON.stringify(written) !== JSON.stringify(names)) throw new Error('contract.schema.json: the rewritten enum is not where the track reads it');
  return text;
}

function main(check: boolean): number {
  const files = [
    { path: SCHEMA_PATH, make: (text: string) => withToolEnum(text, registry.names) },
    { path: README_PATH, make: (text: string) => withToolTable(text, registry.tools) },
  ];
  let stale = 0;
  for (const { path, make } of files) {
    const before = readFileSync(path, 'utf8');
    const after = make(before);
    if (after === before) continue;
    stale++;
    if (check) console.error(`gen: ${path} is stale; run npm run gen`);
    else {
      writeFileSync(path, after);
      console.error(`gen: rewrote ${path}`);
    }
  }
  return check && stale > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.includes('--check'));
}
