/**
 * The registry of migration tools. Explicit on purpose: a bundled binary cannot scan a directory,
 * and adding a tool is one import and one entry here.
 */
import { UsageError } from '../core/errors.js';
import type { MigrationTool } from '../core/ports.js';
import { alembic } from './alembic.js';
import { dbmate } from './dbmate.js';
import { golangMigrate } from './golang-migrate.js';
import { goose } from './goose.js';
import { nodePgMigrate } from './node-pg-migrate.js';
import { sqlMigrate } from './sql-migrate.js';

const tools = [alembic, golangMigrate, goose, dbmate, sqlMigrate, nodePgMigrate] as const;

/** Every tool name the plugin knows, in registry order. */
export const toolNames: readonly string[] = tools.map((tool) => tool.name);

/** The tool of that name, or undefined (for callers that report unknown names their own way, e.g. contract validation). */
export function findTool(name: string): MigrationTool | undefined {
  return tools.find((tool) => tool.name === name);
}

/** The tool of that name; throws UsageError naming the known tools otherwise. */
export function getTool(name: string): MigrationTool {
  const tool = findTool(name);
  if (tool === undefined) {
    throw new UsageError(`unknown migration tool "${name}"`, { hint: `known tools: ${toolNames.join(', ')}` });
  }
  return tool;
}
