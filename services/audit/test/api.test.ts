// phigate-test: stack
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { buildEvent, EventPublisher, type Topic } from '@phigate/bus';
import { loadConfig } from '@phigate/config';
import { demoToken, eventually, kafkaConnection, kcatArgs, uniqueName } from '@phigate/testkit';
import { buildApp } from '../src/app.js';
import { auditConfigSchema } from '../src/config.js';
import type { Recording } from '../src/domain/recording.js';
import { allowedQuery, auditEnv, context, createTopics, log } from './helpers.js';
import { loadOcsfSchema, ocsfProblems } from './ocsf-validator.js';

// An audit service of our own (in process, port 0) on its own topic and group, storing into the
// shared store, with the SIEM relay on: the auditor API and the relay against real Kafka and PostgreSQL.

test('auditor API: recording, session, search, export, minimum-necessary report, public key; SIEM relay redacts literals', async (t) => {
  const topic = uniqueName('audit-api');
  const siem = uniqueName('audit-api-siem');
  await createTopics(topic, siem);
  const config = loadConfig(
    auditConfigSchema,
    auditEnv({
      AUDIT_TOPIC: topic,
      AUDIT_CONSUMER_GROUP: uniqueName('audit-api-group'),
      AUDIT_SIEM_TOPIC: siem,
      AUDIT_SIEM_CONSUMER_GROUP: uniqueName('audit-api-siem-group'),
    }),
  );
  const app = buildApp(config, log);
  const { httpPort } = await app.start();
  const publisher = new EventPublisher({ ...kafkaConnection(), clientId: 'audit-api-test', log, topic: topic as Topic });
  await publisher.start();
  t.after(async () => {
    await publisher.stop();
    await app.stop();
  });
  const base = `http://127.0.0.1:${httpPort}`;
  const token = await demoToken('audra');
  const get = async (path: string, tok = token) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${tok}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const json = async (path: string) => {
    const r = await get(path);
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return JSON.parse(r.text);
  };

  // One session with an allowed, masked query and a held query that an approver granted, then a denial.
  const subject = `api-${randomUUID()}`;
  const sessionId = randomUUID();
  const start = new Date(Date.now() - 1000).toISOString();
  const q1 = allowedQuery(context(subject, randomUUID(), sessionId));
  const ctx2 = context(subject, randomUUID(), sessionId);
  const q2 = allowedQuery(ctx2, 'SELECT id, ssn FROM patients WHERE id = 42');
  const approval = randomUUID();
  const held = [
    q2[0]!,
    {
      ...q2[1]!,
      detail: {
        $case: 'policyDecided',
        value: { ...(q2[1]!.detail!.value as object), action: 'ACTION_REQUIRE_APPROVAL', ruleIds: ['ai-agent-ssn-needs-approval'] },
      },
    },
    buildEvent('approval.requested', ctx2, {
      approvalId: approval,
      expiresAt: new Date(Date.now() + 60_000),
      approverGroups: ['phi-approvers'],
      quorum: 1,
      fingerprint: 'f',
      paramsHash: '',
    } as never),
    buildEvent('approval.granted', ctx2, { approvalId: approval, approver: 'alice', approvers: ['alice'] } as never),
    ...q2.slice(2),
  ] as typeof q2;
  const ctx3 = context(subject, randomUUID(), sessionId);
  const denied = [
    allowedQuery(ctx3, 'TRUNCATE claims')[0]!,
    buildEvent('policy.decided', ctx3, {
      decisionId: randomUUID(),
      action: 'ACTION_DENY',
      ruleIds: ['block-ddl'],
      reasons: ['DDL is blocked'],
      policyRevision: 'r',
      rowLimit: 0,
    } as never),
  ];
  await publisher.publish([...q1, ...held, ...denied]);

  const requestId = q2[0]!.requestId;
  const timeline = await eventually('the request in the store', async () => {
    const r = await get(`/v1/requests/${requestId}`);
    return r.status === 200 && (JSON.parse(r.text) as { events: unknown[] }).events.length === 7
      ? (JSON.parse(r.text) as { events: unknown[]; recording: Recording })
      : undefined;
  });
  const rec = timeline.recording;
  assert.equal(rec.statement?.text, 'SELECT id, ssn FROM patients WHERE id = 42');
  assert.equal(rec.identity?.subject, subject);
  assert.deepEqual(rec.statement?.tables, ['public.patients']);
  assert.equal(rec.decision?.action, 'ACTION_REQUIRE_APPROVAL');
  assert.deepEqual(rec.decision?.ruleIds, ['ai-agent-ssn-needs-approval']);
  assert.deepEqual([rec.approval?.outcome, rec.approval?.approvers, rec.approval?.quorum], ['granted', ['alice'], 1]);
  assert.deepEqual([rec.masking?.valuesMasked, rec.result?.rows, rec.timings.durationMs, rec.timings.upstreamMs, rec.status], [1, 1, 12, 3, 'completed']);

  const session = await eventually('the whole session', async () => {
    const s = await json(`/v1/sessions/${sessionId}`).catch(() => undefined);
    return s?.requests.length === 3 ? (s as { requests: Recording[] }) : undefined;
  });
  assert.deepEqual(session.requests.map((r) => r.status).sort(), ['completed', 'completed', 'denied'], 'requests in stored order (across partitions)');
  assert.equal((await get(`/v1/sessions/${randomUUID()}`)).status, 404);

  // Search: by identity (paged), plus table, PHI tag, decision and time range.
  const who = `identity=${encodeURIComponent(subject)}`;
  const page1 = await json(`/v1/events?${who}&limit=10`);
  assert.equal(page1.events.length, 10);
  const page2 = await json(`/v1/events?${who}&limit=10&after=${page1.next}`);
  assert.equal(page2.events.length, 4);
  assert.equal(page2.next, undefined);
  assert.equal(new Set([...page1.events, ...page2.events].map((e: { id: string }) => e.id)).size, 14);
  const byDecision = await json(`/v1/events?${who}&decision=deny`);
  assert.deepEqual(
    byDecision.events.map((e: { type: string }) => e.type),
    ['query.received', 'policy.decided'],
  );
  const byTable = await json(`/v1/events?${who}&table=public.patients&decision=deny&type=query.received`);
  assert.deepEqual(
    byTable.events.map((e: { queryReceived: { statement: string } }) => e.queryReceived.statement),
    ['TRUNCATE claims'],
  );
  assert.equal((await json(`/v1/events?${who}&table=claims`)).events.length, 0, 'the test analysis names patients only');
  const byTag = await json(`/v1/events?${who}&phiTag=ssn&type=policy.decided`);
  assert.equal(byTag.events.length, 3, 'every request read patients.ssn (the test analysis says so)');
  const none = await json(`/v1/events?${who}&to=${encodeURIComponent(start)}`);
  assert.equal(none.events.length, 0);
  const ranged = await json(`/v1/events?${who}&from=${encodeURIComponent(start)}&connection=clinical-pg`);
  assert.equal(ranged.events.length, 14);
  assert.equal((await get(`/v1/events?${who}&decision=maybe`)).status, 400);
  assert.match((await get(`/v1/events?${who}&phiTag=nope`)).text, /AUDIT_QUERY_INVALID/);

  // Export: JSON Lines, exactly the stored text.
  const exp = await get(`/v1/export?${who}`);
  assert.equal(exp.status, 200);
  assert.match(exp.type, /application\/x-ndjson/);
  const lines = exp.text.trimEnd().split('\n');
  assert.equal(lines.length, 14);
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { id: string }).id).sort(), [...q1, ...held, ...denied].map((e) => e.id).sort());

  // Minimum necessary: ssn allowed masked and read; email allowed masked, never read; phone, id read in clear.
  const report = await json(
    `/v1/reports/minimum-necessary?from=${encodeURIComponent(start)}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
  );
  const mine = report.identities.find((i: { identity: string }) => i.identity === subject);
  assert.equal(mine.connection, 'clinical-pg');
  assert.deepEqual([mine.requests, mine.allowedRequests], [3, 1]);
  const col = (c: string) => mine.columns.find((x: { column: string }) => x.column === c);
  assert.deepEqual([col('patients.ssn').access, col('patients.ssn').readIn, col('patients.ssn').phiKinds], [['STRATEGY_REDACT'], 1, ['ssn']]);
  assert.deepEqual([col('patients.email').readIn, col('patients.phone').access], [0, ['STRATEGY_NONE']]);
  assert.ok(mine.unused.includes('patients.email') && mine.unused.includes('patients.dob'));
  assert.deepEqual(mine.readInClear, ['patients.phone']);
  assert.equal((await get('/v1/reports/minimum-necessary?from=x')).status, 400);

  // Public key: no token needed; auditor-only routes refuse others.
  const pk = (await (await fetch(`${base}/v1/checkpoints/public-key`)).json()) as { algorithm: string; pem: string; keyId: string };
  assert.equal(pk.algorithm, 'Ed25519');
  assert.match(pk.pem, /BEGIN PUBLIC KEY/);
  assert.equal((await get('/v1/verify', await demoToken('etl-pipeline'))).status, 403);
  assert.equal((await get('/v1/events', 'not-a-token')).status, 401);

  // SIEM relay: the same events on the SIEM topic as OCSF 1.4.0 records, statement literals replaced.
  type Relayed = { metadata: { event_code: string }; query_info?: { query_string: string } };
  const relayed = await eventually(
    'the events on the SIEM topic',
    async () => {
      const out = execFileSync('kcat', ['-C', ...kcatArgs(), '-t', siem, '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { encoding: 'utf8' });
      const evs = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Relayed);
      return evs.length >= 14 ? evs : undefined;
    },
    30_000,
    500,
  );
  const schema = loadOcsfSchema();
  assert.deepEqual(
    relayed.flatMap((r) => ocsfProblems(schema, r).map((p) => `${r.metadata.event_code}: ${p}`)),
    [],
  );
  const statements = relayed.filter((e) => e.metadata.event_code === 'query.received').map((e) => e.query_info?.query_string);
  assert.deepEqual(statements.sort(), ['SELECT id, ssn FROM patients WHERE id = ?', 'SELECT id, ssn, phone FROM patients WHERE ssn = ?', 'TRUNCATE claims']);
  assert.ok(!relayed.some((e) => JSON.stringify(e).includes('123-45-6789')));
});
