// require_approval rules: quorum and expiresIn, carried in the domain decision as `approval`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateAt } from '../src/domain/evaluate.js';
import { policy, problems, request, select } from './fixtures.js';

const NOW = new Date('2026-03-02T12:00:00Z');
const read = { id: 'read', match: { groups: ['etl'] }, action: 'allow', reason: 'r' };

test('an approval decision carries the defaults: one approver, 30 minutes', () => {
  const doc = policy({ rules: [read, { id: 'hold', match: { anyColumn: ['*.patients.ssn'] }, action: 'require_approval', approvers: ['a'], reason: 'r' }] });
  const d = evaluateAt(doc, 'r', request([select('patients.ssn')]), NOW);
  assert.equal(d.action, 'require_approval');
  assert.deepEqual(d.approval, { groups: ['a'], quorum: 1, expiresInSec: 1800 });
  assert.deepEqual(d.approverGroups, ['a']);
});

test('several approval rules: every group, the largest quorum, the shortest expiry', () => {
  const doc = policy({
    rules: [
      read,
      { id: 'ssn', match: { anyColumn: ['*.patients.ssn'] }, action: 'require_approval', approvers: ['a'], quorum: 2, expiresIn: '2h', reason: 'r' },
      { id: 'mrn', match: { anyColumn: ['*.patients.mrn'] }, action: 'require_approval', approvers: ['b', 'a'], quorum: 1, expiresIn: '90s', reason: 'r' },
    ],
  });
  const both = evaluateAt(doc, 'r', request([select('patients.ssn', 'patients.mrn')]), NOW);
  assert.deepEqual(both.approval, { groups: ['a', 'b'], quorum: 2, expiresInSec: 90 });
  const multi = evaluateAt(doc, 'r', request([select('patients.ssn'), select('patients.mrn')]), NOW);
  assert.deepEqual(multi.approval, { groups: ['a', 'b'], quorum: 2, expiresInSec: 90 }, 'across statements too');
  const one = evaluateAt(doc, 'r', request([select('patients.mrn')]), NOW);
  assert.deepEqual(one.approval, { groups: ['b', 'a'], quorum: 1, expiresInSec: 90 });
});

test('allow and deny decisions carry no approval', () => {
  const doc = policy({
    rules: [read, { id: 'hold', match: { anyColumn: ['*.patients.ssn'] }, action: 'require_approval', approvers: ['a'], reason: 'r' }],
  });
  assert.equal('approval' in evaluateAt(doc, 'r', request([select('patients.id')]), NOW), false);
  assert.equal('approval' in evaluateAt(doc, 'r', request([select('patients.ssn')], { groups: ['nobody'] }), NOW), false);
});

test('quorum and expiresIn are validated, and only on require_approval rules', () => {
  const hold = (extra: Record<string, unknown>) => ({
    rules: [{ id: 'x', action: 'require_approval', approvers: ['a'], reason: 'r', ...extra }],
  });
  assert.deepEqual(problems(hold({ quorum: 3, expiresIn: '24h' })), []);
  assert.deepEqual(problems(hold({ expiresIn: '1m' })), []);
  assert.ok(problems(hold({ quorum: 0 })).length > 0);
  assert.ok(problems(hold({ quorum: 1.5 })).length > 0);
  assert.match(problems(hold({ expiresIn: '25h' })).join('\n'), /from 1m to 24h/);
  assert.match(problems(hold({ expiresIn: '1441m' })).join('\n'), /from 1m to 24h/);
  assert.match(problems(hold({ expiresIn: '30s' })).join('\n'), /from 1m to 24h/);
  assert.ok(problems(hold({ expiresIn: '30' })).length > 0);
  assert.ok(problems(hold({ expiresIn: '1h30m' })).length > 0);
  assert.match(problems(hold({ approvers: undefined })).join('\n'), /must name approvers/);
  const allow = problems({ rules: [{ id: 'x', action: 'allow', reason: 'r', quorum: 2, expiresIn: '5m', approvers: ['a'] }] });
  assert.deepEqual(allow, [
    'rules.0.approvers: approvers is for require_approval rules only',
    'rules.0.quorum: quorum is for require_approval rules only',
    'rules.0.expiresIn: expiresIn is for require_approval rules only',
  ]);
});
