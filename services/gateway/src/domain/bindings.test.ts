import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Binding, purposeProblem, resolveBinding, resolveRole } from './bindings.js';

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

test('a purpose of use is checked against its binding: required, allowed, well formed', () => {
  const open: Binding = { groups: ['etl'], connections: { a: 'r' } };
  const listed: Binding = { groups: ['ai'], connections: { a: 'r' }, purposes: ['care', 'research'], purposeRequired: true };
  assert.equal(resolveBinding([open, listed], id(['ai']), 'a'), listed);
  assert.equal(purposeProblem(open, undefined), undefined);
  assert.equal(purposeProblem(open, 'anything-well-formed'), undefined);
  assert.equal(purposeProblem(open, 'Not Well Formed'), 'not_allowed');
  assert.equal(purposeProblem(listed, undefined), 'required');
  assert.equal(purposeProblem(listed, 'care'), undefined);
  assert.equal(purposeProblem(listed, 'marketing'), 'not_allowed');
});
