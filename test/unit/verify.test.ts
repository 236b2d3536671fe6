import assert from 'node:assert/strict';
import { githubAnnotations } from '../../src/cli/commands/verify.js';
import { goesBackwards } from '../../src/core/verify.js';
import { alembic } from '../../src/tools/alembic.js';
import { readAlembicHistory } from '../../src/tools/alembic-graph.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';
import { sqlMigrate } from '../../src/tools/sql-migrate.js';

const rev = (id: string, down: string | null) => ({ name: `${id}.py`, body: `revision = "${id}"\ndown_revision = ${down === null ? 'None' : `"${down}"`}\n` });

describe('core/verify', () => {
  it('goesBackwards: numbers for golang-migrate, the files\' order for sql-migrate, the graph for alembic', () => {
    assert.equal(goesBackwards(golangMigrate, undefined, '13', '9'), true);
    assert.equal(goesBackwards(golangMigrate, undefined, '9', '13'), false);
    assert.equal(goesBackwards(golangMigrate, undefined, '9', 'base'), true);
    assert.equal(goesBackwards(golangMigrate, undefined, 'base', '1'), false);
    assert.equal(goesBackwards(sqlMigrate, undefined, '10_b.sql', '9_a.sql'), true);
    const history = { origin: 'v', history: readAlembicHistory([rev('a', null), rev('b', 'a'), rev('c', 'b'), rev('x', 'a')]) };
    assert.equal(goesBackwards(alembic, history, 'c', 'b'), true);
    assert.equal(goesBackwards(alembic, history, 'b', 'c'), false);
    assert.equal(goesBackwards(alembic, history, 'c', 'x'), false, 'another branch is not backwards');
    assert.equal(goesBackwards(alembic, undefined, 'c', 'b'), undefined, 'alembic ids say nothing without the files');
  });

  it('githubAnnotations: workflow commands with escaped data and properties, paths relative to the workspace', () => {
    const out = githubAnnotations(
      [
        { level: 'error', code: 18, message: 'track core: 50% done\nnext', file: '/ws/charts/a,b/Chart.yaml', line: 9 },
        { level: 'warning', code: 0, message: 'published: x' },
      ],
      '/ws',
    );
    assert.equal(out, '::error file=charts/a%2Cb/Chart.yaml,line=9,title=schema-rollback verify (exit 18)::track core: 50%25 done%0Anext\n::warning title=schema-rollback verify::published: x\n');
  });
});
