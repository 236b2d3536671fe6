import assert from 'node:assert/strict';
import { renderTimings } from '../../src/cli/commands/rollback.js';

describe('--timings', () => {
  it('lists each read in the order it started, with its times, and bars on one axis: reads that ran at once overlap', () => {
    const text = renderTimings([
      { read: 'helm upgrade --dry-run=server', start: 100, end: 300 },
      { read: 'helm get metadata', start: 0, end: 100 },
      { read: 'database URL', start: 100, end: 200, failed: true },
    ]);
    const rows = text.trimEnd().split('\n').slice(2);
    assert.deepEqual(rows.map((r) => r.replace(/\|.*\|/, '|').split(/\s{2,}/)), [
      ['0', '100', '100', '|', 'helm get metadata'],
      ['100', '300', '200', '|', 'helm upgrade --dry-run=server'],
      ['100', '200', '100', '|', 'database URL (failed)'],
    ]);
    const bars = rows.map((r) => /\|(.*)\|/.exec(r)![1]!);
    const columns = (bar: string) => [...bar].flatMap((c, i) => (c === '=' ? [i] : []));
    // The metadata read ends where the other two begin; those two share their first columns.
    assert.equal(columns(bars[0]!).at(-1)! < columns(bars[1]!)[0]!, true);
    assert.equal(columns(bars[1]!)[0], columns(bars[2]!)[0]);
    assert.equal(columns(bars[1]!).at(-1), 39, 'the last read ends at the end of the axis');
  });
});
