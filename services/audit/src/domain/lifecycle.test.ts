import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lifecycleOf } from '@phigate/bus/lifecycle';
import { buildRecording } from './recording.js';

const envelope = { id: 'e1', requestId: 'r1', time: '2026-12-07T20:00:00Z', identity: { subject: 'etl' }, connection: 'clinical-pg' };
const received = { statement: 'SELECT ssn FROM patients', analysis: { statements: [{ kind: 'select', tablesRead: [{ name: 'patients' }] }] } };
const decision = { action: 'ACTION_ALLOW', ruleIds: ['etl-read'] };
const served = {
  ...envelope,
  type: 'query.served',
  queryServed: {
    received,
    decision,
    executed: { upstreamMs: 2, columns: ['ssn'] },
    masking: { columns: [{ name: 'ssn', strategy: 'STRATEGY_REDACT', valuesMasked: 3 }] },
    leaks: [{ column: 'notes', detector: 'ssn', count: 1 }],
    completed: { rows: 3, bytes: 60, durationMs: 5 },
  },
};

test('a query.served record reads as the steps schema version 1 recorded, each with its envelope', () => {
  const parts = lifecycleOf(served) as Record<string, unknown>[];
  assert.deepEqual(
    parts.map((p) => p.type),
    ['query.received', 'policy.decided', 'query.executed', 'masking.applied', 'phi.leak_suspected', 'query.completed'],
  );
  for (const p of parts) assert.deepEqual([p.requestId, p.connection, p.queryServed], ['r1', 'clinical-pg', undefined]);
  assert.deepEqual(parts[0]!.queryReceived, received);
  assert.deepEqual(parts[1]!.policyDecided, decision);
  assert.deepEqual(parts[5]!.queryCompleted, { rows: 3, bytes: 60, durationMs: 5 });
  const other = { ...envelope, type: 'query.received', queryReceived: received };
  assert.deepEqual(lifecycleOf(other), [other], 'any other event is itself');
  assert.deepEqual(lifecycleOf('not an object'), ['not an object']);
});

test('the session recording of a query.served request is the same as of its separate events', () => {
  const separate = lifecycleOf(served);
  assert.deepEqual(buildRecording('r1', [served]), buildRecording('r1', separate));
  const rec = buildRecording('r1', [served]);
  assert.equal(rec.status, 'completed');
  assert.deepEqual(
    [rec.statement?.text, rec.decision?.action, rec.result?.rows, rec.masking?.leaks.length],
    ['SELECT ssn FROM patients', 'ACTION_ALLOW', 3, 1],
  );
});
