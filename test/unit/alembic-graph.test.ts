import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MigrationsError } from '../../src/core/errors.js';
import { findHead } from '../../src/core/migrations.js';
import { alembic } from '../../src/tools/alembic.js';
import { parseRevisionFile, readAlembicHistory } from '../../src/tools/alembic-graph.js';

const fixtures = path.join(import.meta.dirname, '..', 'fixtures');
const read = (dir: string) => readdirSync(dir).map((name) => ({ name, body: readFileSync(path.join(dir, name), 'utf8') }));
const file = (name: string, body: string) => ({ name, body });
const rev = (id: string, down: string | null, extra = '') => file(`${id}_x.py`, `revision = ${JSON.stringify(id)}\ndown_revision = ${down === null ? 'None' : JSON.stringify(down)}\n${extra}`);

describe('tools/alembic-graph', () => {
  describe('parseRevisionFile', () => {
    it('reads plain and type-annotated assignments, tuples, lists and None', () => {
      const r = parseRevisionFile(file('m.py', 'from typing import Union\nrevision: str = "m1"\ndown_revision: Union[str, None] = (\n  "a",  # first parent\n  \'b\',\n)\nbranch_labels = ["x"]\ndepends_on = None\n'));
      assert.deepEqual(r, { revision: 'm1', downRevisions: ['a', 'b'], branchLabels: ['x'], dependsOn: [], file: 'm.py' });
      assert.deepEqual(parseRevisionFile(file('s.py', "revision = 'a'\ndown_revision = None\nbranch_labels = ('feat',)\ndepends_on = 'z'\n")).dependsOn, ['z']);
    });

    it('ignores look-alikes in docstrings, comments and indented code', () => {
      const r = parseRevisionFile(file('d.py', '"""\nrevision = "doc"\n"""\n# revision = "comment"\nrevision = "real"\ndown_revision = None\ndef f():\n    revision = "local"\n'));
      assert.equal(r.revision, 'real');
    });

    it('refuses computed values and a file without revision, naming the file', () => {
      assert.throws(() => parseRevisionFile(file('c.py', 'revision = make_id()\n')), (e) => e instanceof MigrationsError && /c\.py: revision is not a literal/.test(e.message));
      assert.throws(() => parseRevisionFile(file('n.py', 'down_revision = None\n')), (e) => e instanceof MigrationsError && /n\.py: no module-level/.test(e.message));
    });
  });

  describe('readAlembicHistory', () => {
    it('finds the heads of the branch-and-merge fixture as `alembic heads` lists them', () => {
      const h = readAlembicHistory(read(path.join(fixtures, 'alembic-graph', 'versions')));
      assert.deepEqual(h.heads, ['d0002', 'e0005']);
      assert.deepEqual(h.branches, { feat: 'b0001', reports: 'd0001' });
      assert.deepEqual(h.revisions.slice(0, 2), ['a0001', 'a0002']);
      assert.ok(h.revisions.indexOf('m0003') > h.revisions.indexOf('b0002'));
      assert.ok(h.isAncestor('b0001', 'e0005'), 'through the merge');
      assert.ok(!h.isAncestor('e0005', 'd0002'));
      assert.ok(!h.isAncestor('c0004', 'c0004'));
    });

    it('findHead: several heads need a branch; a label picks the head that descends from it', () => {
      const migrations = { origin: 'versions/', history: alembic.offers.history!.read(read(path.join(fixtures, 'alembic-graph', 'versions'))) };
      assert.throws(() => findHead(alembic, migrations), (e) => e instanceof MigrationsError && /versions\/ has 2 heads: d0002, e0005/.test(e.message) && /--branch/.test(e.hint ?? ''));
      assert.equal(findHead(alembic, migrations, 'reports'), 'd0002');
      assert.equal(findHead(alembic, migrations, 'e0005'), 'e0005');
      // As alembic: feat reaches both heads through the merge ("Multiple head revisions ... 'feat@head'").
      assert.throws(() => findHead(alembic, migrations, 'feat'), /branch feat of versions\/ has 2 heads/);
      assert.throws(() => findHead(alembic, migrations, 'nope'), (e) => e instanceof MigrationsError && /feat, reports/.test(e.hint ?? ''));
      const simple = { origin: 'v', history: alembic.offers.history!.read(read(path.join(fixtures, 'alembic', 'versions'))) };
      assert.equal(findHead(alembic, simple, 'feat'), '0102');
    });

    it('refuses what alembic refuses: a missing down_revision, a duplicate id, a cycle', () => {
      assert.throws(() => readAlembicHistory([rev('a', null), rev('b', 'zz')]), /revision zz, the down_revision of b .* is not among the files/);
      assert.throws(() => readAlembicHistory([rev('a', null), file('a2_x.py', 'revision = "a"\ndown_revision = None\n')]), /declared twice/);
      assert.throws(() => readAlembicHistory([rev('a', 'b'), rev('b', 'a')]), /cycle/);
      assert.throws(() => readAlembicHistory([rev('a', null, 'depends_on = "nope"\n')]), /depends_on nope/);
    });

    it('skips what alembic skips, and reads an empty directory as no revision (base)', () => {
      const h = readAlembicHistory([rev('a', null), file('__init__.py', ''), file('README', 'x'), file('.#a_x.py', 'lock')]);
      assert.deepEqual([h.revisions, h.ignored], [['a'], ['.#a_x.py', 'README', '__init__.py']]);
      assert.equal(findHead(alembic, { origin: 'v', history: readAlembicHistory([]) }), 'base');
    });
  });
});
