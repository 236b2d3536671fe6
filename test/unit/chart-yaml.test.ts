import assert from 'node:assert/strict';
import { parseContract } from '../../src/core/contract.js';
import { readChartYaml, revisionLine, setRevisions } from '../../src/core/chart-yaml.js';
import { UsageError } from '../../src/core/errors.js';

/** The lines that differ between two texts of equal line count. */
function changedLines(before: string, after: string): Array<[string, string]> {
  const [a, b] = [before.split('\n'), after.split('\n')];
  assert.equal(a.length, b.length, `line count changed:\n${after}`);
  return a.map((line, i) => [line, b[i]!] as [string, string]).filter(([x, y]) => x !== y);
}

const SHORTHAND = `# Chart of the LlamaCloud-like fixture
apiVersion: v2
name: llamacloud   # the name on Artifact Hub
version: 0.1.52
annotations:
  # the revision this version's image migrates to
  schema-rollback.io/tool: alembic
  schema-rollback.io/revision: "a1b2c3d4e5f6"   # set by annotate
  artifacthub.io/license: Apache-2.0
dependencies:
- name: postgresql
  version: 12.x.x
`;

const TRACKS = `apiVersion: v2
name: kagent
version: 0.9.0
annotations:
  schema-rollback.io/tracks: |
    # core: the controller's tables
    - name: core
      tool: golang-migrate
      revision: "8"     # keep in step with go/core/pkg/migrations
      command: ["kagent", "migrate", "goto", "{{ .Revision }}", "--track", "{{ .Track }}"]

    - name: vector
      tool: golang-migrate
      revision: '1'
      table: vector_schema_migrations
  schema-rollback.io/workload: deployment/{{ .Fullname }}-controller
`;

describe('core/chart-yaml', () => {
  describe('setRevisions', () => {
    it('replaces only the characters of a shorthand revision, keeping quotes, comments and order', () => {
      const after = setRevisions(SHORTHAND, [{ track: 'main', revision: '0f9e8d7c6b5a' }], 'Chart.yaml');
      assert.deepEqual(changedLines(SHORTHAND, after), [
        ['  schema-rollback.io/revision: "a1b2c3d4e5f6"   # set by annotate', '  schema-rollback.io/revision: "0f9e8d7c6b5a"   # set by annotate'],
      ]);
    });

    it('is the identity when the revision is already there', () => {
      assert.equal(setRevisions(SHORTHAND, [{ track: 'main', revision: 'a1b2c3d4e5f6' }], 'Chart.yaml'), SHORTHAND);
    });

    it('keeps single quotes, and keeps a plain value plain only while it still reads as a string', () => {
      const single = SHORTHAND.replace('"a1b2c3d4e5f6"', "'a1b2c3d4e5f6'");
      assert.match(setRevisions(single, [{ track: 'main', revision: '0010' }], 'x'), /revision: '0010'   # set/);
      const plain = SHORTHAND.replace('"a1b2c3d4e5f6"', 'a1b2c3d4e5f6');
      assert.match(setRevisions(plain, [{ track: 'main', revision: 'ffee00112233' }], 'x'), /revision: ffee00112233   # set/);
      // 0010 unquoted would be the integer 8 (octal) or 10 to YAML: Helm needs a string.
      assert.match(setRevisions(plain, [{ track: 'main', revision: '0010' }], 'x'), /revision: "0010"   # set/);
    });

    it('edits a revision inside a tracks block literal in place: comments, blank lines and flow lists stay', () => {
      const after = setRevisions(TRACKS, [{ track: 'core', revision: '13' }, { track: 'vector', revision: '3' }], 'Chart.yaml');
      assert.deepEqual(changedLines(TRACKS, after), [
        ['      revision: "8"     # keep in step with go/core/pkg/migrations', '      revision: "13"     # keep in step with go/core/pkg/migrations'],
        ["      revision: '1'", "      revision: '3'"],
      ]);
      const contract = parseContract(readChartYaml(after, 'x').annotations, 'x')!;
      assert.deepEqual(contract.tracks.map((t) => [t.name, t.revision]), [['core', '13'], ['vector', '3']]);
    });

    it('handles a |- block at another indentation', () => {
      const text = 'name: c\nversion: 1.0.0\nannotations:\n    schema-rollback.io/tracks: |-\n        - name: core\n          tool: goose\n          revision: "5"\n';
      const after = setRevisions(text, [{ track: 'core', revision: '20240101120000' }], 'x');
      assert.equal(after, text.replace('"5"', '"20240101120000"'));
    });

    it('falls back to the Document API for a folded tracks scalar, and the contract reads back right', () => {
      const text = 'name: c\nversion: 1.0.0\nannotations:\n  schema-rollback.io/tracks: >\n    - name: core\n      tool: golang-migrate\n      revision: "5"\n';
      const after = setRevisions(text, [{ track: 'core', revision: '7' }], 'x');
      assert.equal(parseContract(readChartYaml(after, 'x').annotations, 'x')!.tracks[0]!.revision, '7');
    });

    it('creates the shorthand contract in a chart without one, as double-quoted strings', () => {
      const text = '# my chart\napiVersion: v2\nname: c\nversion: 1.0.0 # bumped by CI\n';
      const after = setRevisions(text, [{ track: 'main', revision: '13', tool: 'golang-migrate' }], 'x');
      assert.equal(after, `${text}annotations:\n  schema-rollback.io/tool: "golang-migrate"\n  schema-rollback.io/revision: "13"\n`);
      const empty = 'name: c\nversion: 1.0.0\nannotations: {}\n';
      assert.equal(setRevisions(empty, [{ track: 'main', revision: 'base', tool: 'dbmate' }], 'x'), 'name: c\nversion: 1.0.0\nannotations:\n  schema-rollback.io/tool: "dbmate"\n  schema-rollback.io/revision: "base"\n');
      const others = 'name: c\nversion: 1.0.0\nannotations:\n  artifacthub.io/license: MIT # kept\n';
      assert.equal(setRevisions(others, [{ track: 'main', revision: '3', tool: 'goose' }], 'x'), `${others}  schema-rollback.io/tool: "goose"\n  schema-rollback.io/revision: "3"\n`);
    });

    it('creates a tracks list for a named track', () => {
      const after = setRevisions('name: c\nversion: 1.0.0\n', [{ track: 'core', revision: '4', tool: 'goose' }], 'x');
      const contract = parseContract(readChartYaml(after, 'x').annotations, 'x')!;
      assert.deepEqual(contract.tracks, [{ name: 'core', tool: 'goose', revision: '4' }]);
      assert.match(after, /schema-rollback\.io\/tracks: \|\n    - name: core\n/);
    });

    it('refuses a track the contract lacks', () => {
      assert.throws(() => setRevisions(TRACKS, [{ track: 'nope', revision: '1' }], 'Chart.yaml'), (e) => e instanceof UsageError && /no track "nope"/.test(e.message));
      assert.throws(() => setRevisions(SHORTHAND, [{ track: 'core', revision: '1' }], 'Chart.yaml'), UsageError);
    });
  });

  describe('revisionLine', () => {
    it('points at the shorthand revision and at a track inside a block literal', () => {
      assert.equal(revisionLine(SHORTHAND, 'main'), 8);
      assert.equal(revisionLine(TRACKS, 'core'), 9);
      assert.equal(revisionLine(TRACKS, 'vector'), 14);
    });
  });

  it('readChartYaml refuses what is not a mapping or not YAML', () => {
    assert.throws(() => readChartYaml('- a\n', 'x'), UsageError);
    assert.throws(() => readChartYaml('a: [\n', 'x'), UsageError);
    assert.deepEqual(readChartYaml(SHORTHAND, 'x').annotations['schema-rollback.io/revision'], 'a1b2c3d4e5f6');
  });
});
