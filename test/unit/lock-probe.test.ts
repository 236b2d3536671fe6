/**
 * The lock probe's choice of what to hold on a table (src/core/lock-probe.ts): before the step's
 * first request, ACCESS EXCLUSIVE; after it, every mode that conflicts with none the step holds, so
 * that any later request blocking something more waits on the probe and is seen.
 */
import assert from 'node:assert/strict';
import { probeModes, spokenMode } from '../../src/core/lock-probe.js';

describe('lock probe: the modes it holds', () => {
  it('holds ACCESS EXCLUSIVE on a table the step has not asked for yet', () => {
    assert.deepEqual(probeModes(new Set()), ['ACCESS EXCLUSIVE']);
  });

  it("after an UPDATE's ROW EXCLUSIVE, holds the four modes that do not conflict with it, so an ALTER TABLE's ACCESS EXCLUSIVE or a CREATE INDEX's SHARE waits", () => {
    assert.deepEqual(probeModes(new Set(['ROW EXCLUSIVE'])), ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE']);
  });

  it("after a SELECT's ACCESS SHARE, holds everything but ACCESS EXCLUSIVE; after ACCESS EXCLUSIVE, nothing", () => {
    assert.deepEqual(probeModes(new Set(['ACCESS SHARE'])), ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE']);
    assert.deepEqual(probeModes(new Set(['ROW EXCLUSIVE', 'ACCESS EXCLUSIVE'])), []);
  });

  it('holds only what conflicts with none of several modes the step holds', () => {
    assert.deepEqual(probeModes(new Set(['ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE'])), ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE']);
    assert.deepEqual(probeModes(new Set(['SHARE'])), ['ACCESS SHARE', 'ROW SHARE', 'SHARE']);
  });

  it("names pg_locks' modes as LOCK TABLE does", () => {
    assert.equal(spokenMode('ShareRowExclusiveLock'), 'SHARE ROW EXCLUSIVE');
  });
});
