import assert from 'node:assert/strict';
import { describeDifference, diffShapes, type SchemaShape } from '../../src/core/schema-shape.js';

const shape = (...objects: SchemaShape['objects']): SchemaShape => ({ objects });

describe('schema-shape: the pure diff', () => {
  const users = { kind: 'table', name: 'public.users', definition: '' } as const;
  const email = { kind: 'column', name: 'public.users.email', definition: 'text not null' } as const;
  const idx = { kind: 'index', name: 'public.users_email_idx', definition: 'CREATE INDEX users_email_idx ON public.users USING btree (email)' } as const;

  it('equal shapes: no difference', () => {
    assert.deepEqual(diffShapes(shape(users, email, idx), shape(idx, users, email)), []);
  });

  it('names what is left, removed and changed', () => {
    const diff = diffShapes(shape(users, email), shape(users, { ...email, definition: 'text' }, idx));
    assert.deepEqual(diff.map(describeDifference), [
      'changes column public.users.email: text where the ups give text not null',
      'leaves index public.users_email_idx (CREATE INDEX users_email_idx ON public.users USING btree (email))',
    ]);
    assert.deepEqual(diffShapes(shape(users, email, idx), shape(users, email)).map(describeDifference), [
      'removes index public.users_email_idx (CREATE INDEX users_email_idx ON public.users USING btree (email))',
    ]);
  });

  it('a table left behind is one difference, not one per column', () => {
    const diff = diffShapes(shape(), shape(users, email));
    assert.deepEqual(diff.map((d) => `${d.change} ${d.kind} ${d.name}`), ['extra table public.users']);
  });
});
