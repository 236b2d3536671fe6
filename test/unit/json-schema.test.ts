import assert from 'node:assert/strict';
import { checkSchema, type SchemaNode } from '../../src/core/json-schema.js';

describe('json-schema: the keywords the output schemas use', () => {
  const schema: SchemaNode = {
    type: 'object',
    required: ['kind', 'count', 'run', 'map'],
    additionalProperties: false,
    properties: {
      kind: { const: 'Plan' },
      count: { type: 'integer', minimum: 0 },
      ratio: { type: 'number' },
      dirty: { type: 'boolean' },
      run: { type: ['object', 'null'], required: ['state'], additionalProperties: false, properties: { state: { type: 'string' } } },
      map: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
      step: { oneOf: [
        { type: 'object', required: ['kind', 'to'], additionalProperties: false, properties: { kind: { const: 'revert' }, to: { type: 'string' } } },
        { type: 'object', required: ['kind', 'reason'], additionalProperties: false, properties: { kind: { const: 'skip' }, reason: { type: 'string' } } },
      ] },
    },
  };
  const valid = { kind: 'Plan', count: 2, ratio: 0.5, dirty: false, run: null, map: { core: '8' }, step: { kind: 'skip', reason: 'at target' } };

  it('accepts a document that fits', () => {
    assert.deepEqual(checkSchema(schema, valid), []);
    assert.deepEqual(checkSchema(schema, { ...valid, run: { state: 'failed' }, step: { kind: 'revert', to: '8' } }), []);
  });

  it('names each field at fault: const, integer, minimum, boolean, type lists, map values', () => {
    assert.deepEqual(checkSchema(schema, { ...valid, kind: 'Status', count: 1.5, ratio: '1', dirty: 'no', run: 'x', map: { core: '' } }), [
      'kind: must be "Plan"',
      'count: must be an integer',
      'ratio: must be a number',
      'dirty: must be a boolean',
      'run: must be object or null',
      'map.core: must not be empty',
    ]);
    assert.deepEqual(checkSchema(schema, { ...valid, count: -1 }), ['count: must be at least 0']);
  });

  it('oneOf: reports the closest alternative\'s problems (a renamed field in a revert names the missing one)', () => {
    assert.deepEqual(checkSchema(schema, { ...valid, step: { kind: 'revert', target: '8' } }).map((p) => p.replace(/ \(known: .*\)$/, '')), [
      'step.to: is required',
      'step.target: unknown field',
    ]);
  });
});
