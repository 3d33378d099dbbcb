// match.timeWindow: rules that hold only inside a window of local time. The clock is an input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, evaluateAt } from '../src/domain/evaluate.js';
import { policy, problems, request, select } from './fixtures.js';

/** A document whose only allow rule holds inside `window`: allow inside, default-deny outside. */
const allowInside = (timeWindow: Record<string, unknown>) =>
  policy({ rules: [{ id: 'in-hours', match: { groups: ['etl'], timeWindow }, action: 'allow', reason: 'office hours' }] });
const at = (doc: ReturnType<typeof policy>, iso: string) => evaluateAt(doc, 'r', request([select('patients.id')]), new Date(iso)).action;

test('weekday office hours in UTC: [from, to) on the listed days', () => {
  const doc = allowInside({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00', timezone: 'UTC' });
  // 2026-03-02 is a Monday.
  assert.equal(at(doc, '2026-03-02T09:00:00Z'), 'allow', 'from is inclusive');
  assert.equal(at(doc, '2026-03-02T08:59:59Z'), 'deny');
  assert.equal(at(doc, '2026-03-02T16:59:59Z'), 'allow');
  assert.equal(at(doc, '2026-03-02T17:00:00Z'), 'deny', 'to is exclusive');
  assert.equal(at(doc, '2026-03-06T12:00:00Z'), 'allow', 'Friday');
  assert.equal(at(doc, '2026-03-07T12:00:00Z'), 'deny', 'Saturday');
  assert.equal(at(doc, '2026-03-08T12:00:00Z'), 'deny', 'Sunday');
});

test('the window is in its own time zone, across daylight saving', () => {
  const doc = allowInside({ from: '09:00', to: '17:00', timezone: 'Europe/London' });
  assert.equal(at(doc, '2026-01-05T16:30:00Z'), 'allow', 'GMT: 16:30 in London');
  assert.equal(at(doc, '2026-07-06T16:30:00Z'), 'deny', 'BST: 17:30 in London');
  assert.equal(at(doc, '2026-07-06T08:30:00Z'), 'allow', 'BST: 09:30 in London');
  assert.equal(at(doc, '2026-01-05T08:30:00Z'), 'deny', 'GMT: 08:30 in London');
});

test('the day is the local day, not the UTC day', () => {
  const doc = allowInside({ days: ['fri'], from: '20:00', to: '22:00', timezone: 'America/New_York' });
  assert.equal(at(doc, '2026-03-07T02:00:00Z'), 'allow', 'Saturday 02:00 UTC is Friday 21:00 in New York');
  assert.equal(at(doc, '2026-03-06T21:00:00Z'), 'deny', 'Friday 21:00 UTC is Friday 16:00 in New York');
  const tokyo = allowInside({ days: ['mon'], from: '00:00', to: '01:00', timezone: 'Asia/Tokyo' });
  assert.equal(at(tokyo, '2026-03-01T15:30:00Z'), 'allow', 'Sunday 15:30 UTC is Monday 00:30 in Tokyo');
});

test('a window whose to is before its from runs past midnight and belongs to the day it opens', () => {
  const doc = allowInside({ days: ['fri'], from: '22:00', to: '06:00', timezone: 'UTC' });
  assert.equal(at(doc, '2026-03-06T22:00:00Z'), 'allow', 'Friday 22:00');
  assert.equal(at(doc, '2026-03-06T23:59:00Z'), 'allow', 'Friday 23:59');
  assert.equal(at(doc, '2026-03-07T03:00:00Z'), 'allow', 'Saturday 03:00, still Friday night');
  assert.equal(at(doc, '2026-03-07T06:00:00Z'), 'deny', 'Saturday 06:00');
  assert.equal(at(doc, '2026-03-06T03:00:00Z'), 'deny', 'Friday 03:00 belongs to Thursday night');
  assert.equal(at(doc, '2026-03-07T22:30:00Z'), 'deny', 'Saturday night is not listed');
});

test('defaults: every day, 00:00 to 24:00', () => {
  const weekends = allowInside({ days: ['sat', 'sun'], timezone: 'UTC' });
  assert.equal(at(weekends, '2026-03-07T00:00:00Z'), 'allow');
  assert.equal(at(weekends, '2026-03-08T23:59:59Z'), 'allow');
  assert.equal(at(weekends, '2026-03-09T00:00:00Z'), 'deny');
  const evenings = allowInside({ from: '18:00', timezone: 'UTC' });
  assert.equal(at(evenings, '2026-03-09T23:59:00Z'), 'allow');
  assert.equal(at(evenings, '2026-03-10T00:00:00Z'), 'deny');
});

test('a wall-clock time skipped by daylight saving never falls inside', () => {
  // Europe/London jumps from 01:00 GMT to 02:00 BST on 2026-03-29.
  const doc = allowInside({ from: '01:00', to: '02:00', timezone: 'Europe/London' });
  assert.equal(at(doc, '2026-03-29T00:59:00Z'), 'deny', '00:59 GMT');
  assert.equal(at(doc, '2026-03-29T01:00:00Z'), 'deny', '02:00 BST');
  assert.equal(at(doc, '2026-03-30T00:30:00Z'), 'allow', 'the next night: 01:30 BST');
});

test('deny rules with a window deny inside it only; the window is one more AND condition', () => {
  const doc = policy({
    rules: [
      { id: 'etl-read', match: { groups: ['etl'], statements: ['select'] }, action: 'allow', reason: 'r' },
      {
        id: 'maintenance',
        match: { statements: ['select'], timeWindow: { days: ['sun'], from: '02:00', to: '04:00', timezone: 'UTC' } },
        action: 'deny',
        reason: 'maintenance',
      },
    ],
  });
  assert.deepEqual(evaluateAt(doc, 'r', request([select('patients.id')]), new Date('2026-03-08T03:00:00Z')).ruleIds, ['maintenance']);
  assert.deepEqual(evaluateAt(doc, 'r', request([select('patients.id')]), new Date('2026-03-08T04:00:00Z')).ruleIds, ['etl-read']);
  assert.equal(evaluateAt(doc, 'r', request([select('patients.id')], { groups: ['other'] }), new Date('2026-03-08T05:00:00Z')).action, 'deny');
});

test('a clock that cannot be read fails closed: deny and approval windows hold, allow windows do not', () => {
  const doc = policy({
    rules: [
      { id: 'read', match: { groups: ['etl'] }, action: 'allow', reason: 'r' },
      {
        id: 'night-approval',
        match: { timeWindow: { from: '22:00', to: '06:00', timezone: 'UTC' } },
        action: 'require_approval',
        approvers: ['ops'],
        reason: 'r',
      },
    ],
  });
  const invalid = new Date(Number.NaN);
  assert.equal(evaluateAt(doc, 'r', request([select('patients.id')]), invalid).action, 'require_approval');
  assert.equal(at(allowInside({ timezone: 'UTC' }), 'not a date'), 'deny');
});

test('evaluate() is evaluateAt() on the wall clock unless given an instant', () => {
  const always = allowInside({ timezone: 'UTC' });
  assert.equal(evaluate(always, 'r', request([select('patients.id')])).action, 'allow');
  const monday = allowInside({ days: ['mon'], timezone: 'UTC' });
  assert.equal(evaluate(monday, 'r', request([select('patients.id')]), new Date('2026-03-02T10:00:00Z')).action, 'allow');
  assert.equal(evaluate(monday, 'r', request([select('patients.id')]), new Date('2026-03-03T10:00:00Z')).action, 'deny');
});

test('time windows are validated', () => {
  const rule = (timeWindow: unknown) => ({ rules: [{ id: 'x', match: { timeWindow }, action: 'deny', reason: 'r' }] });
  assert.match(problems(rule({ from: '09:00', to: '17:00', timezone: 'Mars/Olympus' })).join('\n'), /IANA time zone/);
  assert.match(problems(rule({ from: '09:00', to: '17:00' })).join('\n'), /timezone/);
  assert.match(problems(rule({ from: '09:00', to: '09:00', timezone: 'UTC' })).join('\n'), /must differ/);
  assert.ok(problems(rule({ from: '24:00', timezone: 'UTC' })).length > 0);
  assert.ok(problems(rule({ from: '9:00', timezone: 'UTC' })).length > 0);
  assert.ok(problems(rule({ to: '17:60', timezone: 'UTC' })).length > 0);
  assert.ok(problems(rule({ days: ['monday'], timezone: 'UTC' })).length > 0);
  assert.ok(problems(rule({ days: [], timezone: 'UTC' })).length > 0);
  assert.ok(problems(rule({ timezone: 'UTC', at: 'noon' })).length > 0, 'unknown keys are errors');
  assert.deepEqual(problems(rule({ from: '00:00', to: '24:00', timezone: 'Europe/London' })), []);
  assert.ok(
    problems({ masking: [{ id: 'm', match: { timeWindow: { timezone: 'UTC' } }, columns: { '*.t.c.d': 'redact' } }] }).length > 0,
    'masks have no time windows',
  );
});
