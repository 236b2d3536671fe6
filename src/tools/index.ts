/**
 * The registry of migration tools: the one list everything else derives from (the contract
 * schema's tool enum and the README's tool table through `npm run gen`, the CLI's --tool choices,
 * the tools the core is given). Explicit on purpose: a bundled binary cannot scan a directory, and
 * adding a tool is one file and one entry in `registry` below (docs/CONTRIBUTING.md).
 */
import { UsageError } from '../core/errors.js';
import type { MigrationTool } from '../core/ports.js';
import { alembic } from './alembic.js';
import { dbmate } from './dbmate.js';
import { golangMigrate } from './golang-migrate.js';
import { goose } from './goose.js';
import { nodePgMigrate } from './node-pg-migrate.js';
import { sqlMigrate } from './sql-migrate.js';

/** A list of tools, looked up by name. */
export interface ToolCatalog {
  /** In registry order (the order of the enum, the choices and the README table). */
  readonly tools: readonly MigrationTool[];
  readonly names: readonly string[];
  /** The tool of that name, or undefined (for callers that report unknown names their own way, e.g. contract validation). */
  find(name: string): MigrationTool | undefined;
  /** The tool of that name; throws UsageError naming the known tools otherwise. */
  get(name: string): MigrationTool;
}

/** Names as the contract, flags and annotations spell them. */
const TOOL_NAME = /^[a-z][a-z0-9-]*$/;

/** A catalog of `tools`; throws on a name that is malformed or given twice (a mistake in the list, not the user's). */
export function createToolCatalog(tools: readonly MigrationTool[]): ToolCatalog {
  const byName = new Map<string, MigrationTool>();
  for (const tool of tools) {
    if (!TOOL_NAME.test(tool.name)) throw new Error(`tool name "${tool.name}" must be lower-case letters, digits and dashes`);
    if (byName.has(tool.name)) throw new Error(`two tools named "${tool.name}" in the registry`);
    byName.set(tool.name, tool);
  }
  const names = [...byName.keys()];
  return {
    tools: [...tools],
    names,
    find: (name) => byName.get(name),
    get(name) {
      const tool = byName.get(name);
      if (tool === undefined) throw new UsageError(`unknown migration tool "${name}"`, { hint: `known tools: ${names.join(', ')}` });
      return tool;
    },
  };
}

/** Every tool this build knows: one line per tool. */
export const registry = createToolCatalog([alembic, golangMigrate, goose, dbmate, sqlMigrate, nodePgMigrate]);

/** Every tool name the plugin knows, in registry order. */
export const toolNames: readonly string[] = registry.names;
export const findTool = registry.find;
export const getTool = registry.get;
