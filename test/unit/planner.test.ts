import assert from 'node:assert/strict';
import { planTrack, type TrackInput } from '../../src/core/planner.js';
import { alembic } from '../../src/tools/alembic.js';
import { golangMigrate } from '../../src/tools/golang-migrate.js';

const gm = (revision: string | undefined, targetRevision: string | undefined, revisions: string[], dirty = false): TrackInput => ({
  current: { name: 'core', tool: 'golang-migrate', revision },
  targetRevision,
  state: { tableExists: true, revisions, dirty },
  tool: golangMigrate,
  table: { table: 'schema_migrations' },
});

describe('planner: one track', () => {
  it('reverts from the database revision to the target', () => {
    const d = planTrack(gm('13', '8', ['13']));
    assert.equal(d.kind, 'revert');
    assert.deepEqual(d.kind === 'revert' && [d.step.current, d.step.target, d.step.table], [['13'], '8', { table: 'schema_migrations' }]);
  });

  it('warns, and still reverts, when the database is behind the release\'s chart', () => {
    const d = planTrack(gm('13', '8', ['11']));
    assert.equal(d.kind, 'revert');
    assert.match(d.kind === 'revert' ? (d.warning ?? '') : '', /the database \(11\) is behind the release's chart \(13\)/);
    assert.equal((planTrack(gm('13', '8', ['13'])) as { warning?: string }).warning, undefined);
  });

  it('refuses a version table that does not exist, naming the ones that do (not "target newer than base")', () => {
    const missing = { ...gm('13', '8', []), state: { tableExists: false, revisions: [], dirty: false }, table: { table: 'schema_migrations', schema: 'wrong' } };
    const d = planTrack({ ...missing, tablesElsewhere: ['app.schema_migrations', 'public.schema_migrations'] });
    assert.equal(d.kind, 'refuse');
    assert.equal(d.kind === 'refuse' && d.reason, 'golang-migrate version table wrong.schema_migrations does not exist in schema wrong; version tables that do exist: app.schema_migrations, public.schema_migrations');
    assert.match(d.kind === 'refuse' ? d.hint : '', /--schema app --table schema_migrations/);
    const none = planTrack({ ...missing, table: { table: 'typo_migrations' }, tablesElsewhere: [] });
    assert.match(none.kind === 'refuse' ? none.reason : '', /typo_migrations does not exist on the search_path, nor a table named typo_migrations or schema_migrations in any other schema/);
    // At base with a base target, a missing table is just a tool that never ran.
    assert.equal(planTrack({ ...missing, targetRevision: 'base' }).kind, 'skip');
  });

  it('skips a track already at the target, without error', () => {
    assert.deepEqual(planTrack(gm('13', '8', ['8'])), { kind: 'skip', track: 'core', reason: 'already at 8' });
    assert.equal(planTrack(gm('3', 'base', [])).kind, 'skip');
  });

  it("refuses a dirty track and explains golang-migrate's dirty semantics", () => {
    const d = planTrack(gm('13', '8', ['12'], true));
    assert.equal(d.kind, 'refuse');
    assert.match(d.kind === 'refuse' ? d.reason : '', /dirty at 12.*PREVIOUS version marked dirty/);
    assert.match(d.kind === 'refuse' ? d.hint : '', /failed DOWN .* next version above 12, so "migrate -path DIR -database URL force NEXT".* failed UP of 12 .*"force PREVIOUS"/);
  });

  it('refuses a database ahead of the current chart, and a target above the database', () => {
    const ahead = planTrack(gm('13', '8', ['14']));
    assert.match(ahead.kind === 'refuse' ? ahead.reason : '', /database \(14\) is ahead of the release's chart \(13\)/);
    const up = planTrack(gm('13', '12', ['10']));
    assert.match(up.kind === 'refuse' ? up.reason : '', /target revision 12 is newer than the database's 10: that is an upgrade/);
  });

  it('goes to base (empty table) when the target expects nothing', () => {
    const d = planTrack(gm('3', 'base', ['3']));
    assert.equal(d.kind === 'revert' && d.step.target, 'base');
  });

  it('compares numerically, not as text (golang-migrate versions are numbers)', () => {
    assert.equal(planTrack(gm('100', '9', ['100'])).kind, 'revert');
  });

  it('refuses when the target chart lacks the track', () => {
    assert.match(JSON.stringify(planTrack(gm('13', undefined, ['13']))), /the target chart has no track \\"core\\"/);
  });

  it('for alembic (graph order), requires the database to match the current chart exactly', () => {
    const input = (at: string[]): TrackInput => ({
      current: { name: 'main', tool: 'alembic', revision: '0010' },
      targetRevision: '0008',
      state: { tableExists: true, revisions: at, dirty: false },
      tool: alembic,
      table: { table: 'alembic_version' },
    });
    assert.equal(planTrack(input(['0010'])).kind, 'revert');
    assert.match(JSON.stringify(planTrack(input(['0009']))), /not at the revision the release's chart expects \(0010\)/);
    assert.match(JSON.stringify(planTrack(input(['0010', 'abcd']))), /several heads/);
  });

  it('refuses several alembic heads, naming each head and how to choose', () => {
    const d = planTrack({
      current: { name: 'main', tool: 'alembic', revision: '0010' },
      targetRevision: '0008',
      state: { tableExists: true, revisions: ['0003', '0102'], dirty: false },
      tool: alembic,
      table: { table: 'alembic_version' },
    });
    assert.equal(d.kind, 'refuse');
    if (d.kind !== 'refuse') return;
    assert.match(d.reason, /^alembic_version holds several heads \(0003, 0102\): the database is on several alembic branches/);
    assert.match(d.hint, /alembic downgrade BRANCH@REV/);
    assert.match(d.hint, /--track NAME/);
  });
});

describe('alembic ids as alembic resolves them', () => {
  it('a stored id is named by a prefix of 4+ characters (after alembic downgrade f43d the table holds f43d21f9cdb8); the planner still skips only on equal ids', () => {
    assert.equal(alembic.order!.names!('f43d', 'f43d21f9cdb8'), true);
    assert.equal(alembic.order!.names!('f43', 'f43d21f9cdb8'), false, 'alembic refuses prefixes under 4 characters');
    assert.equal(alembic.order!.names!('f43e', 'f43d21f9cdb8'), false);
    assert.equal(alembic.order!.names!('0010', '0010'), true);
    // '0010' may itself be a revision before '00100': only the tool in the image can tell, so the plan runs it.
    const d = planTrack({ current: { name: 'main', tool: 'alembic' }, targetRevision: '0010', state: { tableExists: true, revisions: ['00100'], dirty: false }, tool: alembic, table: { table: 'alembic_version' } });
    assert.equal(d.kind, 'revert');
  });
});
