// Policy replay without the stack: the comparison of a candidate decision with a recorded one, the
// bounded tally, and the rebuilding of a request from stored events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordedStatementOf, recordedStatementsQuery } from '../src/adapters/audit/recorded-statements.js';
import { evaluateAt } from '../src/domain/evaluate.js';
import { exceedsChangeLimit, type RecordedStatement, ReplayTally, replay, replayStatement } from '../src/domain/replay.js';
import type { EvaluationInput } from '../src/domain/types.js';
import { col, policy, stmt, table } from './fixtures.js';

const live = policy({
  rules: [
    { id: 'etl-read', match: { groups: ['etl'], statements: ['select'], tables: ['public.patients', 'public.claims'] }, action: 'allow', reason: 'etl reads' },
  ],
  masking: [{ id: 'etl-masks', match: { groups: ['etl'] }, columns: { 'public.patients.ssn': 'redact' } }],
});
const candidate = policy({
  rules: [
    { id: 'etl-read', match: { groups: ['etl'], statements: ['select'], tables: ['public.patients', 'public.claims'] }, action: 'allow', reason: 'etl reads' },
    { id: 'no-claims', match: { groups: ['etl'], anyTable: ['*.claims'] }, action: 'deny', reason: 'claims are closed' },
  ],
  masking: [{ id: 'etl-masks', match: { groups: ['etl'] }, columns: { 'public.patients.ssn': 'redact', 'public.patients.first_name': 'redact' } }],
});

const input = (...columns: string[]): EvaluationInput => {
  const cols = columns.map((c) => col(c.split('.')[0]!, c.split('.')[1]!));
  return {
    identity: { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'] },
    connection: 'clinical-pg',
    role: 'clinical_reader',
    frontDoor: 'http',
    analysis: {
      dialect: 'postgresql',
      fingerprint: 'f',
      understood: true,
      error: '',
      statements: [stmt({ tablesRead: [...new Set(cols.map((c) => c.table.name))].map((n) => table(n)), columnsRead: cols })],
    },
  };
};

const AT = new Date('2026-12-01T10:00:00Z');
let seq = 0;
/** A statement as recorded under the live policy. */
function recorded(sql: string, i: EvaluationInput): RecordedStatement {
  const d = evaluateAt(live, 'live', i, AT);
  seq += 1;
  return {
    seq: String(seq),
    requestId: `r${seq}`,
    time: AT,
    statement: sql,
    dialect: 'postgresql',
    input: i,
    recorded: {
      action: d.action,
      ruleIds: d.ruleIds,
      policyRevision: 'live',
      masks: d.maskingPlan.columns,
      unknownSourceStrategy: d.maskingPlan.unknownSourceStrategy,
      rowLimit: d.rowLimit,
    },
  };
}

test('the same policy changes nothing; a tightened one reports the action and the masking of exactly the columns read', () => {
  const names = recorded("SELECT id, first_name FROM patients WHERE last_name = 'Smith'", input('patients.id', 'patients.first_name'));
  const plain = recorded('SELECT id, ssn FROM patients', input('patients.id', 'patients.ssn'));
  const claims = recorded('SELECT amount FROM claims', input('claims.amount'));
  for (const r of [names, plain, claims]) assert.equal(replayStatement(live, 'live', r), undefined);

  assert.equal(replayStatement(candidate, 'cand', plain), undefined, 'first_name is not read: nothing changes for it');
  assert.deepEqual(replayStatement(candidate, 'cand', names), {
    transition: 'masking',
    from: 'allow',
    to: 'allow',
    recordedRules: ['etl-read'],
    candidateRules: ['etl-read'],
    masking: [
      { column: 'public.patients.first_name', from: 'none', to: 'redact' },
      // An expression over patients now reads a masked column: its result is redacted.
      { column: '(expressions)', from: 'none', to: 'redact' },
    ],
  });
  const denied = replayStatement(candidate, 'cand', claims);
  assert.equal(denied?.transition, 'allow→deny');
  assert.deepEqual(denied?.candidateRules, ['no-claims']);
});

test('a star read is compared column by column over what either plan masks on its table', () => {
  const star = recorded('SELECT * FROM patients', input('patients.*'));
  const change = replayStatement(candidate, 'cand', star);
  assert.deepEqual(
    change?.masking.map((m) => m.column),
    ['public.patients.first_name'],
  );
});

test('the tally counts transitions, rules and columns, keeps a few examples with literals redacted, and gates on --fail-on-changes', async () => {
  const records = [
    recorded("SELECT id, first_name FROM patients WHERE last_name = 'Smith'", input('patients.id', 'patients.first_name')),
    recorded("SELECT first_name FROM patients WHERE ssn = '123-45-6789'", input('patients.first_name')),
    recorded('SELECT amount FROM claims WHERE id = 42', input('claims.amount')),
    recorded('SELECT id FROM patients', input('patients.id')),
  ];
  async function* stream() {
    yield* records;
    yield { skipped: 'no decision recorded' };
  }
  const redact = (sql: string) => sql.replace(/'[^']*'|\b\d+\b/g, '?');
  const s = await replay(candidate, 'cand', stream(), new ReplayTally('cand', redact, 1));
  assert.equal(s.statements, 4);
  assert.equal(s.changed, 3);
  assert.deepEqual(s.transitions, { masking: 2, 'allow→deny': 1 });
  assert.deepEqual(s.rules, { 'etl-read': 2, 'no-claims': 1 });
  assert.equal(s.columns['public.patients.first_name none→redact'], 2);
  assert.deepEqual(s.skipped, { 'no decision recorded': 1 });
  assert.deepEqual(s.recordedRevisions, { live: 4 });
  assert.deepEqual(s.changedByRecordedRevision, { live: 3 });
  assert.deepEqual(
    s.examples.map((x) => x.statement),
    ['SELECT id, first_name FROM patients WHERE last_name = ?', 'SELECT amount FROM claims WHERE id = ?'],
    'one example per transition, redacted',
  );
  assert.equal(exceedsChangeLimit(s, undefined), false);
  assert.equal(exceedsChangeLimit(s, 3), false);
  assert.equal(exceedsChangeLimit(s, 2), true);
});

const envelope = {
  id: '947c9ce9-7740-482b-a6be-c3e1f51f8f65',
  time: '2026-12-07T22:50:36.680Z',
  requestId: 'b6d73761-d891-4f71-844f-1f4ceb501c27',
  sessionId: 'b6d73761-d891-4f71-844f-1f4ceb501c27',
  frontDoor: 'http',
  identity: { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'], issuer: 'http://127.0.0.1:9400' },
  connection: 'clinical-pg',
  role: 'clinical_reader',
  producer: 'gateway',
  schemaVersion: 2,
  purpose: 'operations',
};
const patients = { database: 'clinical', schema: 'public', name: 'patients' };
const received = {
  statement: 'SELECT id, first_name FROM patients WHERE id = 2',
  fingerprint: 'a94f54b09db14f07',
  dialect: 'postgresql',
  analysis: {
    dialect: 'postgresql',
    fingerprint: 'a94f54b09db14f07',
    understood: true,
    statements: [
      {
        kind: 'select',
        tablesRead: [patients],
        columnsRead: [
          { table: patients, column: 'id' },
          { table: patients, column: 'first_name' },
        ],
        hasWhere: true,
        columnsResolved: true,
        columnsFiltered: [{ table: patients, column: 'id' }],
      },
    ],
  },
};
const decision = {
  decisionId: '05d6cfdd-e555-4c80-9c9e-834396156778',
  action: 'ACTION_ALLOW',
  ruleIds: ['etl-read'],
  policyRevision: '9c2120c6150fc7c0',
  maskingPlan: {
    columns: [{ schema: '*', table: 'patients', column: 'ssn', strategy: 'STRATEGY_REDACT', keepLast: 4 }],
    unknownSourceStrategy: 'STRATEGY_NONE',
  },
  rowLimit: 500,
};

test('a stored query.served, and a query.received with its policy.decided, rebuild the request the gateway sent', () => {
  const served = recordedStatementOf('7', JSON.stringify({ ...envelope, type: 'query.served', queryServed: { received, decision } }), null);
  const split = recordedStatementOf(
    '8',
    JSON.stringify({ ...envelope, type: 'query.received', queryReceived: received }),
    JSON.stringify({ ...envelope, type: 'policy.decided', policyDecided: decision }),
  );
  for (const r of [served, split]) {
    assert.ok(!('skipped' in r));
    assert.equal(r.requestId, envelope.requestId);
    assert.equal(r.time.toISOString(), envelope.time);
    assert.deepEqual(r.input.identity, { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'] });
    assert.equal(r.input.purpose, 'operations');
    assert.equal(r.input.frontDoor, 'http');
    // Defaults the JSON encoding leaves out come back: an empty list, false.
    assert.deepEqual(r.input.analysis.statements[0]!.tablesWritten, []);
    assert.equal(r.input.analysis.statements[0]!.hasLimit, false);
    assert.deepEqual(r.recorded, {
      action: 'allow',
      ruleIds: ['etl-read'],
      policyRevision: '9c2120c6150fc7c0',
      masks: [{ schema: '*', table: 'patients', column: 'ssn', strategy: 'redact', keepLast: 4 }],
      unknownSourceStrategy: 'none',
      rowLimit: 500,
    });
  }
  assert.deepEqual(recordedStatementOf('9', JSON.stringify({ ...envelope, type: 'query.received', queryReceived: received }), null), {
    skipped: 'no decision recorded',
  });
  const anonymous = { ...envelope, identity: undefined, type: 'query.served', queryServed: { received, decision } };
  assert.deepEqual(recordedStatementOf('10', JSON.stringify(anonymous), null), { skipped: 'request incomplete (POLICY_REQUEST_INVALID)' });
});

test('the statements query binds each filter once, in order', () => {
  const q = recordedStatementsQuery({ since: AT, identity: 'etl-pipeline', connection: 'clinical-pg' });
  assert.deepEqual(q.values, [AT, 'etl-pipeline', 'clinical-pg']);
  assert.match(q.text, /s\.event_time >= \$1 AND s\.identity_subject = \$2 AND s\.connection = \$3/);
  assert.deepEqual(recordedStatementsQuery({}).values, []);
});
