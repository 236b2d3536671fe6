import assert from 'node:assert/strict';
import { parseCommand } from '../../src/core/contract.js';
import { ContractInvalidError, ContractMissingError, ExitCode, UsageError } from '../../src/core/errors.js';
import type { HelmPort, ReleaseInfo } from '../../src/core/ports.js';
import { renderName, resolveContract } from '../../src/core/resolve.js';
import { inStep } from '../../src/core/status.js';
import { chartFullname } from '../../src/core/template.js';
import { getTool } from '../../src/tools/index.js';

const tools = { get: getTool };
const release = (annotations: Record<string, string>): ReleaseInfo => ({
  name: 'kagent', namespace: 'ai', revision: 3, status: 'deployed', chart: 'kagent', version: '0.9.0', annotations,
});
const twoTracks = {
  'schema-rollback.io/tracks': '- {name: core, tool: golang-migrate, revision: "13"}\n- {name: vector, tool: golang-migrate, revision: "3", table: vector_schema_migrations}',
  'schema-rollback.io/workload': 'deployment/{{ .Fullname }}-controller',
};

describe('resolving a release contract with flags', () => {
  it('uses the annotations as they are when no flag is given', () => {
    const c = resolveContract(release(twoTracks), {}, tools);
    assert.equal(c.source, 'annotations');
    assert.deepEqual(c.tracks.map((t) => [t.name, t.revision]), [['core', '13'], ['vector', '3']]);
  });

  it('builds a one-track contract from flags for a chart without annotations, revision unknown', () => {
    const c = resolveContract(release({}), { tool: 'alembic', workload: 'deployment/x' }, tools);
    assert.equal(c.source, 'flags');
    assert.deepEqual(c.tracks, [{ name: 'main', tool: 'alembic' }]);
    assert.equal(c.run.workload, 'deployment/x');
  });

  it('refuses a chart without annotations and without --tool, naming both fixes', () => {
    assert.throws(() => resolveContract(release({}), {}, tools), (err: unknown) => {
      assert.ok(err instanceof ContractMissingError);
      assert.equal(err.code, ExitCode.contractMissing);
      assert.match(err.message, /chart kagent 0\.9\.0 \(release kagent\) carries no schema-rollback contract/);
      // The whole set a rollback of an unannotated chart needs, not just the track.
      assert.match(err.hint ?? '', /--tool TOOL --revision REV .*--workload KIND\/NAME .*--stop KIND\/NAME .*without it nothing is stopped/);
      return true;
    });
  });

  it('applies track flags to the track named by --track, and asks for --track when ambiguous', () => {
    const c = resolveContract(release(twoTracks), { track: 'vector', revision: '2' }, tools);
    assert.deepEqual(c.tracks.map((t) => t.revision), ['13', '2']);
    assert.equal(c.source, 'annotations and flags');
    assert.throws(() => resolveContract(release(twoTracks), { revision: '2' }, tools), (e: unknown) => e instanceof UsageError && /--track NAME/.test(e.hint ?? ''));
    assert.throws(() => resolveContract(release(twoTracks), { track: 'nope', revision: '2' }, tools), /no track "nope"/);
  });

  it('takes --command as the track\'s down command, for a chart without annotations or over the contract\'s', () => {
    const poetry = parseCommand('poetry run alembic -c conf/alembic.ini downgrade {{ .Revision }}');
    assert.deepEqual(poetry, { command: ['poetry', 'run', 'alembic', '-c', 'conf/alembic.ini', 'downgrade', '{{ .Revision }}'], problems: [] });
    const c = resolveContract(release({}), { tool: 'alembic', command: poetry.command }, tools);
    assert.deepEqual(c.tracks[0]!.command, poetry.command);
    const annotated = { 'schema-rollback.io/tool': 'alembic', 'schema-rollback.io/revision': '0010', 'schema-rollback.io/command': 'alembic downgrade {{ .Revision }}' };
    const over = resolveContract(release(annotated), { command: ['python', '-m', 'alembic', 'downgrade', '{{ .Revision }}'] }, tools);
    assert.deepEqual(over.tracks[0]!.command, ['python', '-m', 'alembic', 'downgrade', '{{ .Revision }}']);
    assert.equal(over.source, 'annotations and flags');
    assert.deepEqual(parseCommand('alembic downgrade {{ .Target }}').problems.length, 1, 'an unknown placeholder is named');
    assert.deepEqual(parseCommand('["alembic", "downgrade", "{{ .Revision }}"]').command, ['alembic', 'downgrade', '{{ .Revision }}']);
  });

  it('takes --stop as the workloads to scale down, replacing the contract\'s list, and refuses one that is not KIND/NAME', () => {
    const withStop = { ...twoTracks, 'schema-rollback.io/stop': 'deployment/{{ .Fullname }}-controller' };
    assert.deepEqual(resolveContract(release(withStop), {}, tools).run.stop, ['deployment/{{ .Fullname }}-controller']);
    const c = resolveContract(release({}), { tool: 'alembic', stop: ['deployment/llamacloud-backend', 'statefulset/llamacloud-worker'] }, tools);
    assert.deepEqual(c.run.stop, ['deployment/llamacloud-backend', 'statefulset/llamacloud-worker']);
    assert.equal(resolveContract(release(withStop), { stop: ['deployment/other'] }, tools).run.stop.join(), 'deployment/other');
    assert.throws(() => resolveContract(release({}), { tool: 'alembic', stop: ['llamacloud-backend'] }, tools), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--stop "llamacloud-backend" is not KIND\/NAME/);
      return true;
    });
  });

  it("checks each revision with its tool's rules: a bad --revision is a bad flag (exit 2)", () => {
    assert.throws(
      () => resolveContract(release({}), { tool: 'golang-migrate', revision: 'abc' }, tools),
      (err: unknown) => err instanceof UsageError && /--revision track main: revision "abc" is not a golang-migrate revision/.test(err.message),
    );
    assert.throws(() => resolveContract(release({}), { tool: 'nosuch' }, tools), /unknown migration tool "nosuch"/);
  });

  it('refuses a revision in the annotations not in its tool\'s form as an invalid contract (exit 5), every one listed, unless --revision replaces it', () => {
    const bad = { ...twoTracks, 'schema-rollback.io/tracks': '- {name: core, tool: golang-migrate, revision: "013"}\n- {name: vector, tool: golang-migrate, revision: "x3"}' };
    assert.throws(
      () => resolveContract(release(bad), {}, tools),
      (err: unknown) => {
        assert.ok(err instanceof ContractInvalidError, String(err));
        assert.equal(err.code, ExitCode.contractInvalid);
        assert.match(err.message, /^chart kagent 0\.9\.0 \(release kagent\): invalid schema-rollback annotations:/);
        assert.match(err.message, /track core: revision "013" is not a golang-migrate revision: write golang-migrate version "013" without leading zeros, as "13"/);
        assert.match(err.message, /track vector: revision "x3" is not a golang-migrate revision/);
        return true;
      },
    );
    const corrected = resolveContract(release({ ...bad, 'schema-rollback.io/tracks': '- {name: core, tool: golang-migrate, revision: "013"}' }), { revision: '13' }, tools);
    assert.deepEqual(corrected.tracks.map((t) => t.revision), ['13']);
  });
});

describe('release-specific names', () => {
  const helm = (values: Record<string, unknown>): HelmPort => ({
    namespace: 'ai',
    getRelease: async () => release({}),
    getValues: async () => values,
  });

  it('renders {{ .Fullname }} as helm create charts name their objects', async () => {
    assert.equal(await renderName('deployment/{{ .Fullname }}-controller', release({}), helm({})), 'deployment/kagent-controller');
    const other = { ...release({}), name: 'prod' };
    assert.equal(await renderName('deploy/{{ .Fullname }}', other, helm({})), 'deploy/prod-kagent');
    assert.equal(await renderName('deploy/{{ .Fullname }}', other, helm({ fullnameOverride: 'ka' })), 'deploy/ka');
    assert.equal(await renderName('sts/{{.Release.Name}}-{{ .Chart.Name }}-{{ .Release.Namespace }}', other, helm({})), 'sts/prod-kagent-ai');
  });

  it('cuts fullname to 63 characters without a trailing dash', () => {
    const long = `${'a'.repeat(62)}-x`;
    assert.equal(chartFullname(long, 'chart', {}), 'a'.repeat(62));
    assert.equal(chartFullname('rel', 'chart', { nameOverride: 'app' }), 'rel-app');
  });
});

describe('in step', () => {
  const state = (revisions: string[], dirty = false) => ({ tableExists: true, revisions, dirty });
  it('is true only for exactly the expected revision, clean', () => {
    assert.equal(inStep('13', state(['13'])), true);
    assert.equal(inStep('13', state(['13'], true)), false);
    assert.equal(inStep('13', state(['12'])), false);
    assert.equal(inStep('a', state(['a', 'b'])), false);
    assert.equal(inStep('base', state([])), true);
    assert.equal(inStep('0010', state(['10'])), false);
    assert.equal(inStep(undefined, state(['1'])), undefined);
  });
});
