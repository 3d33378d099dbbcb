import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Binding, resolveRole } from './bindings.js';

const id = (groups: string[], subject = 'svc') => ({ subject, clientId: subject, groups, issuer: 'i' });

test('first matching binding names the role; no binding means no access', () => {
  const bindings: Binding[] = [
    { identities: ['special'], connections: { a: 'special_role' } },
    { groups: ['etl'], connections: { a: 'reader', b: 'reader_b' } },
  ];
  assert.equal(resolveRole(bindings, id(['etl']), 'a'), 'reader');
  assert.equal(resolveRole(bindings, id(['etl'], 'special'), 'a'), 'special_role');
  assert.equal(resolveRole(bindings, id(['etl']), 'c'), undefined);
  assert.equal(resolveRole(bindings, id(['other']), 'a'), undefined);
});
