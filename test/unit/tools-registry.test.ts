/**
 * The one registry of migration tools (src/tools/index.ts) and what derives from it: the contract
 * schema's tool enum, the README's tool table, the CLI's --tool choices. Adding a tool must be one
 * file, one registry line and `npm run gen`: the last block walks through it with a throwaway tool.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { README_PATH, SCHEMA_PATH, withToolEnum, withToolTable } from '../../scripts/gen.js';
import { contractOverrideOptions } from '../../src/cli/options.js';
import { BASE } from '../../src/core/contract.js';
import { UsageError } from '../../src/core/errors.js';
import { checkSchema, type SchemaNode } from '../../src/core/json-schema.js';
import { findHead, historyReader, readHistory } from '../../src/core/migrations.js';
import type { MigrationTool } from '../../src/core/ports.js';
import { createToolCatalog, registry } from '../../src/tools/index.js';
import { linearHistory } from '../../src/tools/linear-history.js';

/** The --tool value yargs accepts with these choices, or its complaint. */
function parseTool(choices: readonly string[] | undefined, value: string): string {
  let failure: string | undefined;
  const argv = contractOverrideOptions(yargs(['--tool', value]).exitProcess(false).fail((msg) => (failure = msg)), choices).parseSync();
  return failure ?? String(argv.tool);
}

const oneTrack = (tool: string) => ({ contract: 'v1', tracks: [{ name: 'main', tool, revision: '3' }], run: { stop: [] } });

describe('tools/index: the registry', () => {
  it('refuses a tool list with a name twice or a name flags cannot carry', () => {
    const [alembic] = registry.tools;
    assert.throws(() => createToolCatalog([alembic!, alembic!]), /two tools named "alembic"/);
    assert.throws(() => createToolCatalog([{ ...alembic!, name: 'Flyway DB' }]), /lower-case letters, digits and dashes/);
  });

  it('every tool has at most six members, and reads files for annotate and verify', () => {
    for (const tool of registry.tools) {
      assert.ok(Object.keys(tool).length <= 6, `${tool.name}: ${Object.keys(tool).join(', ')}`);
      assert.ok(tool.offers.history, `${tool.name} offers no history reader`);
    }
  });

  it('the contract schema and the README table are what npm run gen writes', () => {
    const schema = readFileSync(SCHEMA_PATH, 'utf8');
    assert.equal(withToolEnum(schema, registry.names), schema, 'contract.schema.json is stale: run npm run gen');
    const readme = readFileSync(README_PATH, 'utf8');
    assert.equal(withToolTable(readme, registry.tools), readme, 'the README tool table is stale: run npm run gen');
  });

  it('the CLI offers exactly the registered tools for --tool', () => {
    assert.equal(parseTool(undefined, 'sql-migrate'), 'sql-migrate');
    const refused = parseTool(undefined, 'flyway');
    for (const name of registry.names) assert.match(refused, new RegExp(`"${name}"`));
  });
});

describe('tools/index: adding a tool', () => {
  // A throwaway tool: numbered files, a one-row version table. Only what a real one must give.
  const fake: MigrationTool = {
    name: 'fake-migrate',
    defaultTable: 'fake_versions',
    checkRevision: (revision) => (/^[0-9]+$/.test(revision) ? undefined : `fake-migrate versions are numbers, not "${revision}"`),
    readState: async () => ({ tableExists: true, revisions: [], dirty: false }),
    offers: {
      history: {
        read: (files) => linearHistory(files.flatMap((f) => /^([0-9]+)_/.exec(f.name)?.[1] ?? []).sort((a, b) => Number(a) - Number(b)), []),
        about: { files: '`N_name.fake`', revision: '`N`', head: 'the last file' },
      },
    },
  };
  const tools = createToolCatalog([...registry.tools, fake]);

  it('one entry in a registry makes it known by name, after the others', () => {
    assert.deepEqual(tools.names, [...registry.names, 'fake-migrate']);
    assert.equal(tools.get('fake-migrate'), fake);
    assert.throws(() => registry.get('fake-migrate'), (e) => e instanceof UsageError && /unknown migration tool "fake-migrate"/.test(e.message) && /known tools: alembic, /.test(e.hint ?? ''));
  });

  it('npm run gen then puts it in the contract schema, which accepts it, and in the README table', () => {
    const before = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SchemaNode;
    assert.match(checkSchema(before, oneTrack('fake-migrate')).join('\n'), /tracks\[0\]\.tool: "fake-migrate" is not one of/);
    const after = JSON.parse(withToolEnum(readFileSync(SCHEMA_PATH, 'utf8'), tools.names)) as SchemaNode;
    assert.deepEqual(checkSchema(after, oneTrack('fake-migrate')), []);
    assert.deepEqual(checkSchema(after, oneTrack('alembic')), []);
    assert.match(withToolTable(readFileSync(README_PATH, 'utf8'), tools.tools), /\n\| fake-migrate \| `N_name\.fake` \| `N` \| the last file \|\n<!-- end of tool table -->/);
  });

  it('the CLI accepts it for --tool, and annotate reads its files through its history reader', () => {
    assert.equal(parseTool(tools.names, 'fake-migrate'), 'fake-migrate');
    assert.match(parseTool(registry.names, 'fake-migrate'), /Invalid values/);
    const tool = tools.get('fake-migrate');
    const files = ['1_a.fake', '3_c.fake', '2_b.fake'].map((name) => ({ name, body: '' }));
    assert.equal(findHead(tool, readHistory(historyReader(tool), files, 'dir')), '3');
    assert.equal(findHead(tool, readHistory(historyReader(tool), [], 'dir')), BASE);
  });

  it('a tool that offers no history reader is refused by annotate and verify before any file is read', () => {
    const bare: MigrationTool = { ...fake, name: 'bare', offers: {} };
    assert.throws(() => historyReader(bare), (e) => e instanceof UsageError && /cannot read bare migration files/.test(e.message));
  });
});
