import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuditEvent, buildEvent, EVENT_TYPES, type EventContext, type EventType } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { SiemRelay, siemMessage } from '../src/adapters/kafka/siem-relay.js';
import { createStatementRedactor } from '../src/adapters/sql/literal-redactor.js';
import { type OcsfContext, type OcsfRecord, statementActivity } from '../src/domain/ocsf.js';
import { loadOcsfSchema, ocsfProblems } from './ocsf-validator.js';

// Every event type becomes an OCSF 1.4.0 record that is valid against the compiled schema
// (no network: the mapping and the validator only).

const schema = loadOcsfSchema();
const ctx: EventContext = {
  requestId: '5fbe633f-ccc7-46b3-aef9-ebffeb4c80e4',
  sessionId: '5fbe633f-ccc7-46b3-aef9-ebffeb4c80e4',
  frontDoor: 'pgwire',
  identity: { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'], issuer: 'http://127.0.0.1:9400' },
  connection: 'clinical-pg',
  role: 'clinical_reader',
  trace: { traceparent: '00-773fb309f30d1a41a74fece181b07737-b8ed7a933f42ca72-01', tracestate: '' },
  producer: 'gateway',
  client: { ip: '10.1.2.3', port: 51234 },
  replica: 'gw-0:4242',
};
const patients = { database: 'clinical', schema: 'public', name: 'patients' };
const analysis = (kind: string, written = false) => ({
  dialect: 'postgresql',
  fingerprint: 'fc1d8174557f954098c0a5e95f96788c',
  understood: true,
  error: '',
  statements: [
    {
      kind,
      tablesRead: written ? [] : [patients],
      tablesWritten: written ? [patients] : [],
      columnsRead: [],
      columnsWritten: [],
      columnsFiltered: [],
      flows: [],
      functions: [],
      hasWhere: true,
      whereTriviallyTrue: false,
      hasLimit: false,
      columnsResolved: true,
    },
  ],
});

/** One event of each type, as the gateway and the audit service build them. */
function samples(): AuditEvent[] {
  const at = new Date('2026-11-29T01:05:44.776Z');
  const plan = { columns: [], unknownSourceStrategy: 'STRATEGY_REDACT' as const, canary: 'CANARY_MODE_UNSPECIFIED' as const, visiblePhiKinds: [] };
  const decided = (action: 'ACTION_ALLOW' | 'ACTION_DENY' | 'ACTION_REQUIRE_APPROVAL') =>
    buildEvent(
      'policy.decided',
      ctx,
      { decisionId: 'd-1', action, ruleIds: ['block-ddl'], reasons: ['DDL is blocked'], policyRevision: '847b4828342d6679', maskingPlan: plan, rowLimit: 0 },
      at,
    );
  const audit = { requestId: '0d7e7d2e-8d7b-4c6e-9d0f-6a1c0b7c1e11', frontDoor: 'audit', producer: 'audit' };
  return [
    buildEvent('session.opened', ctx, { clientAddress: '10.1.2.3' }, at),
    buildEvent('session.closed', ctx, { reason: 'terminate', durationMs: 1200 }, at),
    buildEvent(
      'query.received',
      ctx,
      { statement: 'SELECT ssn FROM patients WHERE id = ?', fingerprint: 'fc1d', dialect: 'postgresql', analysis: analysis('select'), queryTag: '' },
      at,
    ),
    decided('ACTION_ALLOW'),
    decided('ACTION_DENY'),
    decided('ACTION_REQUIRE_APPROVAL'),
    buildEvent(
      'approval.requested',
      ctx,
      { approvalId: 'a-1', expiresAt: at, approverGroups: ['phi-approvers'], quorum: 1, fingerprint: 'fc1d', paramsHash: 'ab' },
      at,
    ),
    buildEvent('approval.granted', ctx, { approvalId: 'a-1', approver: 'alice', approvers: ['alice'] }, at),
    buildEvent('approval.denied', ctx, { approvalId: 'a-1', approver: 'bob', reason: 'not needed' }, at),
    buildEvent('approval.expired', ctx, { approvalId: 'a-1', reason: 'nobody answered' }, at),
    buildEvent('query.executed', ctx, { upstreamMs: 5, columns: ['ssn'] }, at),
    buildEvent(
      'query.failed',
      ctx,
      { code: 'GATEWAY_MASKING_UNAVAILABLE', message: 'the masking service is unavailable; no rows were released', stage: 'masking' },
      at,
    ),
    buildEvent('masking.applied', ctx, { columns: [{ index: 0, name: 'ssn', strategy: 'STRATEGY_REDACT', valuesMasked: 1 }] }, at),
    buildEvent('query.completed', ctx, { rows: 1, bytes: 92, durationMs: 15 }, at),
    buildEvent('phi.leak_suspected', ctx, { column: 'notes', detector: 'ssn', count: 2 }, at),
    buildEvent(
      'audit.event_quarantined',
      audit,
      { topic: 'phigate.audit.v1', partition: 2, offset: '17', reason: 'EVENT_INVALID', bytes: 12, sha256: 'ab', claimedId: '' },
      at,
    ),
    buildEvent('audit.checkpoint_signed', audit, { kind: 'periodic', body: 'phigate-audit-checkpoint\n', keyId: 'k1', signature: 'c2ln' }, at),
    served(at),
    ...(['budget.threshold_reached', 'budget.exceeded'] as const).map((type) =>
      buildEvent(
        type,
        ctx,
        {
          budgetId: 'analytics-patients',
          counter: 'analytics-patients',
          windowSec: 3600,
          onExceed: 'deny',
          alertAt: 0.8,
          metrics: [{ metric: 'patients', limit: 500, used: 400, requested: 100 }],
        },
        at,
      ),
    ),
  ];
}

/** A read that ran without waiting, in one record (schema version 2), with one suspected leak. */
function served(at = new Date('2026-11-29T01:05:44.776Z')): AuditEvent {
  const plan = { columns: [], unknownSourceStrategy: 'STRATEGY_REDACT' as const, canary: 'CANARY_MODE_REPORT' as const, visiblePhiKinds: [] };
  return buildEvent(
    'query.served',
    ctx,
    {
      received: {
        statement: "SELECT notes FROM patients WHERE ssn = '123-45-6789'",
        fingerprint: 'fc2e',
        dialect: 'postgresql',
        analysis: analysis('select'),
        queryTag: '',
      },
      decision: {
        decisionId: 'd-2',
        action: 'ACTION_ALLOW',
        ruleIds: ['etl-read'],
        reasons: ['ETL reads'],
        policyRevision: '847b',
        maskingPlan: plan,
        rowLimit: 0,
      },
      executed: { upstreamMs: 3, columns: ['notes'] },
      masking: { columns: [{ index: 0, name: 'notes', strategy: 'STRATEGY_NONE', valuesMasked: 0 }] },
      leaks: [{ column: 'notes', detector: 'ssn', count: 1 }],
      completed: { rows: 4, bytes: 120, durationMs: 9 },
    },
    at,
  );
}

const recordOf = (e: AuditEvent, c: OcsfContext = { productVersion: '0.1.0' }): OcsfRecord =>
  JSON.parse(siemMessage(e, c).value.toString('utf8')) as OcsfRecord;

test('every event type maps to an OCSF 1.4.0 record the compiled schema accepts', () => {
  const events = samples();
  assert.deepEqual(new Set(events.map((e) => e.type)), new Set(Object.keys(EVENT_TYPES) as EventType[]), 'a sample of every event type');
  for (const e of events) {
    const r = recordOf(e, { productVersion: '0.1.0', statement: statementActivity(analysis('select')) });
    assert.deepEqual(ocsfProblems(schema, r), [], `${e.type}: ${JSON.stringify(r)}`);
    const m = r.metadata as Record<string, unknown>;
    assert.equal(m.uid, e.id);
    assert.equal(m.correlation_uid, e.requestId);
    assert.deepEqual(m.product, { name: 'phigate', vendor_name: 'phigate', version: '0.1.0' });
    assert.equal(r.time, Date.parse('2026-11-29T01:05:44.776Z'));
    if (e.producer === 'gateway')
      assert.deepEqual(
        r.src_endpoint ?? (r.evidences as OcsfRecord[] | undefined)?.[0]?.src_endpoint,
        { name: '10.1.2.3', ip: '10.1.2.3', port: 51234 },
        e.type,
      );
  }
});

test('records carry the class, activity and status a SIEM filters on', () => {
  const by = new Map(samples().map((e) => [`${e.type}${e.detail?.$case === 'policyDecided' ? `:${e.detail.value.action}` : ''}`, recordOf(e)]));
  const pick = (k: string, ...fields: string[]) => Object.fromEntries(fields.map((f) => [f, by.get(k)![f]]));
  assert.deepEqual(pick('session.opened', 'class_uid', 'activity_id', 'type_uid'), { class_uid: 3002, activity_id: 1, type_uid: 300201 });
  assert.deepEqual((by.get('session.opened')!.user as OcsfRecord).uid, 'etl-pipeline');
  assert.deepEqual(pick('query.received', 'class_uid', 'activity_id', 'type_uid'), { class_uid: 6005, activity_id: 4, type_uid: 600504 });
  assert.equal((by.get('query.received')!.query_info as OcsfRecord).query_string, 'SELECT ssn FROM patients WHERE id = ?');
  assert.deepEqual(pick('policy.decided:ACTION_DENY', 'status_id', 'status_detail', 'action_id', 'disposition_id'), {
    status_id: 2,
    status_detail: 'DDL is blocked',
    action_id: 2,
    disposition_id: 2,
  });
  assert.deepEqual(pick('policy.decided:ACTION_ALLOW', 'status_id', 'action_id'), { status_id: 1, action_id: 1 });
  assert.deepEqual(pick('query.failed', 'status_id', 'status_code'), { status_id: 2, status_code: 'GATEWAY_MASKING_UNAVAILABLE' });
  assert.deepEqual(pick('approval.granted', 'class_uid', 'activity_id', 'status_id'), { class_uid: 6003, activity_id: 3, status_id: 1 });
  assert.deepEqual(pick('approval.denied', 'status_id', 'status_detail'), { status_id: 2, status_detail: 'not needed' });
  assert.deepEqual(pick('phi.leak_suspected', 'class_uid', 'severity_id', 'is_alert'), { class_uid: 2006, severity_id: 4, is_alert: true });
  assert.deepEqual(pick('audit.event_quarantined', 'class_uid', 'type_uid'), { class_uid: 2004, type_uid: 200401 });
  assert.deepEqual(pick('budget.exceeded', 'class_uid', 'type_uid', 'severity_id', 'is_alert'), {
    class_uid: 2004,
    type_uid: 200401,
    severity_id: 4,
    is_alert: true,
  });
  assert.deepEqual(pick('budget.threshold_reached', 'class_uid', 'severity_id'), { class_uid: 2004, severity_id: 2 });
  const one = by.get('query.served')!;
  assert.deepEqual(pick('query.served', 'class_uid', 'activity_id', 'status_id', 'status_code', 'action_id', 'count', 'duration'), {
    class_uid: 6005,
    activity_id: 4,
    status_id: 1,
    status_code: 'ALLOWED',
    action_id: 1,
    count: 4,
    duration: 9,
  });
  assert.equal((one.query_info as OcsfRecord).query_string, "SELECT notes FROM patients WHERE ssn = '123-45-6789'");
  assert.equal(
    JSON.stringify(one.unmapped).includes('123-45-6789'),
    false,
    'the statement is in query_info only (where the redacting relay replaces its literals)',
  );
  const checkpoint = by.get('audit.checkpoint_signed')!.unmapped as { checkpointSigned: Record<string, string> };
  assert.equal(checkpoint.checkpointSigned.body, 'phigate-audit-checkpoint\n', 'the signed body travels verbatim');
});

test('the statement kind names the Datastore activity', () => {
  const activity = (kind: string, written = false) => statementActivity(analysis(kind, written)).activityId;
  assert.deepEqual(
    ['select', 'insert', 'update', 'delete', 'drop', 'truncate', 'create', 'alter', 'show', 'set'].map((k) => activity(k)),
    [4, 6, 2, 7, 7, 7, 6, 2, 8, 99],
  );
  assert.equal(activity('copy'), 1, 'COPY … TO reads');
  assert.equal(activity('copy', true), 5, 'COPY … FROM writes');
  assert.equal(statementActivity({ statements: [{ kind: 'select' }, { kind: 'drop' }] }).activityId, 7, 'the statement that changes most');
  const set = recordOf(
    buildEvent('query.received', ctx, { statement: 'SET x = ?', fingerprint: 'f', dialect: 'postgresql', analysis: analysis('set'), queryTag: '' }),
  );
  assert.deepEqual([set.activity_id, set.activity_name], [99, 'SET']);
  // Later events of the request: the activity the relay remembered, else Unknown.
  const done = buildEvent('query.completed', ctx, { rows: 0, bytes: 0, durationMs: 1 });
  assert.equal(recordOf(done, { productVersion: '', statement: statementActivity(analysis('delete')) }).activity_id, 7);
  assert.equal(recordOf(done, { productVersion: '' }).activity_id, 0);
});

test('the validator refuses what OCSF forbids (it is not vacuous)', () => {
  const good = recordOf(samples()[2]!);
  assert.deepEqual(ocsfProblems(schema, good), []);
  const { actor: _a, ...noActor } = good;
  assert.match(ocsfProblems(schema, noActor).join('\n'), /actor: required, missing/);
  const { src_endpoint: _s, ...noSrc } = good;
  assert.match(ocsfProblems(schema, noSrc).join('\n'), /src_endpoint: required, missing/);
  assert.match(ocsfProblems(schema, { ...good, activity_id: 42 }).join('\n'), /activity_id: 42 is not in its enum/);
  assert.match(ocsfProblems(schema, { ...good, type_uid: 600599 }).join('\n'), /type_uid/);
  assert.match(ocsfProblems(schema, { ...good, time: '2026-11-29T01:05:44.776Z' }).join('\n'), /time: expected an integer/);
  assert.match(ocsfProblems(schema, { ...good, statement: 'x' }).join('\n'), /statement: not an attribute here/);
  assert.match(ocsfProblems(schema, { ...good, src_endpoint: { ip: '10.1.2.3.4', name: 'x' } }).join('\n'), /does not match ip_t/);
  assert.match(ocsfProblems(schema, { ...good, src_endpoint: { ip: '10.1.2.3', port: 70000, name: 'x' } }).join('\n'), /outside port_t's range/);
  const { database: _d, table: _t, ...noTarget } = good;
  assert.match(ocsfProblems(schema, noTarget).join('\n'), /at least one of database, databucket, table/);
  const metadata = good.metadata as OcsfRecord;
  assert.match(ocsfProblems(schema, { ...good, metadata: { ...metadata, profiles: [] } }).join('\n'), /device: belongs to profile host/);
  const { user: _u, ...noUser } = recordOf(samples()[0]!);
  assert.match(ocsfProblems(schema, noUser).join('\n'), /user: required, missing/);
});

test('the redacting relay: a query.served record loses its statement literals, and each suspected leak is also a finding', async () => {
  const relay = new SiemRelay({
    brokers: ['127.0.0.1:1'],
    log: createLogger({ service: 'test', level: 'silent' }),
    from: 'phigate.audit.v1',
    to: 'phigate.siem.v1',
    groupId: 'unused',
    redact: await createStatementRedactor(),
    productVersion: '0.1.0',
  });
  const e = served();
  const [record, leak, ...rest] = relay.records(e).map((m) => JSON.parse(m.value.toString('utf8')) as OcsfRecord);
  assert.equal(rest.length, 0);
  assert.equal((record!.query_info as OcsfRecord).query_string, 'SELECT notes FROM patients WHERE ssn = ?');
  assert.equal(JSON.stringify(record).includes('123-45-6789'), false);
  assert.deepEqual([leak!.class_uid, (leak!.metadata as OcsfRecord).uid, (leak!.metadata as OcsfRecord).correlation_uid], [2006, `${e.id}.leak1`, e.requestId]);
  for (const r of [record!, leak!]) assert.deepEqual(ocsfProblems(schema, r), [], JSON.stringify(r));
});
