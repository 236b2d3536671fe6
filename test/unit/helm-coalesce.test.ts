/** helm get values --all from a stored release: Helm's CoalesceValues rules (checked against real helm in test/kube/helm-storage.test.ts). */
import assert from 'node:assert/strict';
import { coalesceValues, hasNestedNull } from '../../src/adapters/helm-coalesce.js';

describe('helm-coalesce: CoalesceValues of a stored release', () => {
  it('defaults under the user values: maps merge, lists and scalars replace, nulls delete a default', () => {
    const defaults = { image: { repo: 'app', tag: '1' }, list: [1, 2], drop: 'x', table: { a: 1 }, scalar: 5, nested: { a: { b: 1, c: 2 } } };
    const config = { image: { tag: '2' }, list: [9], drop: null, table: 'wins', scalar: { m: 1 }, top: null, nested: { a: { c: null } } };
    assert.deepEqual(coalesceValues(defaults, config), {
      image: { repo: 'app', tag: '2' }, list: [9], table: 'wins', scalar: { m: 1 }, top: null, nested: { a: { b: 1 } },
    });
    assert.deepEqual(config.nested.a, { c: null }, 'the inputs are not changed');
  });

  it('no user values: the defaults', () => {
    assert.deepEqual(coalesceValues({ a: 1 }, null), { a: 1 });
    assert.deepEqual(coalesceValues(null, null), {});
  });

  it('hasNestedNull: only nulls below the top level, lists included', () => {
    assert.equal(hasNestedNull({ a: null, b: { c: 1 } }), false);
    assert.equal(hasNestedNull({ b: { c: null } }), true);
    assert.equal(hasNestedNull({ l: [{ c: null }] }), true);
    assert.equal(hasNestedNull(null), false);
  });
});
