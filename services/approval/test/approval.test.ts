// phigate-test: stack
// The approval service in-process against the local stack's real Redis, with a Slack stand-in
// (the local slack-sink) on port 0: approvals created through the internal API, votes as signed
// Slack interactions, decisions recorded atomically and replays ignored.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type InternalHttpClient, type InternalTls, internalHttpClient, loadConfig } from '@phigate/config';
import { type RedisClient, redisEnv, redisFromEnv } from '@phigate/redis';
import { buildSlackSink, type SlackRecord, silentLogger } from '@phigate/slack-sink';
import { signedClick } from '@phigate/slack-sink/click';
import { createLogger } from '@phigate/telemetry';
import { demoToken, eventually, foreignCertificate, httpsWithoutClientCert, need, stackEnv, uniqueName } from '@phigate/testkit';
import { buildApp } from '../src/app.js';
import { approvalConfigSchema } from '../src/config.js';
import { slackSignature } from '../src/domain/slack-signature.js';

// The demo identities of deploy/local/dev-idp/clients.json, as the stack will pass them.
const SLACK_USERS = {
  U0ALICE: { subject: 'alice', groups: ['phi-approvers'] },
  U0BOB: { subject: 'bob', groups: ['phi-approvers'] },
  U0CAROL: { subject: 'carol', groups: [] },
};
const SSN = '078-05-1120';

interface Harness {
  base: string;
  /** The internal listener (mutual TLS), and a client presenting a certificate of the stack's internal CA. */
  internal: string;
  call: InternalHttpClient;
  secret: string;
  token: string;
  prefix: string;
  redis: RedisClient;
  sink: ReturnType<typeof buildSlackSink>;
  sinkUrl: string;
  clock: { now: Date };
}

async function start(t: TestContext): Promise<Harness> {
  const redisUrl = need('REDIS_URL');
  const sink = buildSlackSink({ port: 0, logger: silentLogger });
  const { url: sinkUrl } = await sink.start();
  t.after(() => sink.stop());
  const secret = randomBytes(24).toString('hex');
  const token = randomBytes(24).toString('hex');
  const prefix = `${uniqueName('approval-test')}:`;
  const config = loadConfig(approvalConfigSchema, {
    APPROVAL_HTTP_PORT: '0',
    ...redisEnv(stackEnv()),
    REDIS_URL: redisUrl,
    APPROVAL_KEY_PREFIX: prefix,
    SLACK_SIGNING_SECRET: secret,
    SLACK_WEBHOOK_URL: `${sinkUrl}/services/T0TEST/B0TEST/hook`,
    APPROVAL_SLACK_USERS: JSON.stringify(SLACK_USERS),
    APPROVAL_INTERNAL_TOKEN: token,
    APPROVAL_INTERNAL_PORT: '0',
    ...internalTlsEnv(),
    OIDC_ISSUER: need('DEV_IDP_ISSUER'),
    OIDC_AUDIENCE: need('DEV_IDP_AUDIENCE'),
    OIDC_JWKS_URI: `${need('DEV_IDP_ISSUER')}/jwks`,
    LOG_LEVEL: 'silent',
  });
  const clock = { now: new Date() };
  const app = buildApp(config, createLogger({ service: 'approval-test', level: 'silent' }), { clock: () => clock.now });
  const { httpPort, internalPort } = await app.start();
  t.after(() => app.stop());
  const call = internalHttpClient(tlsOf(internalTlsEnv()));
  t.after(() => call.close());
  const redis = redisFromEnv(stackEnv(), { maxRetriesPerRequest: 1 });
  t.after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { base: `http://127.0.0.1:${httpPort}`, internal: `https://127.0.0.1:${internalPort}`, call, secret, token, prefix, redis, sink, sinkUrl, clock };
}

/** What the service needs to start against the stack's Redis and IdP, posting to the Slack stand-in at `sinkUrl`. */
function minimalEnv(sinkUrl: string) {
  return {
    APPROVAL_HTTP_PORT: '0',
    ...redisEnv(stackEnv()),
    REDIS_URL: need('REDIS_URL'),
    SLACK_SIGNING_SECRET: randomBytes(24).toString('hex'),
    SLACK_WEBHOOK_URL: `${sinkUrl}/services/T/B/x`,
    OIDC_ISSUER: need('DEV_IDP_ISSUER'),
    OIDC_AUDIENCE: need('DEV_IDP_AUDIENCE'),
    OIDC_JWKS_URI: `${need('DEV_IDP_ISSUER')}/jwks`,
  };
}

/** The stack's internal TLS files (its tools identity: a certificate of the internal CA for client and server use). */
function internalTlsEnv() {
  return {
    INTERNAL_TLS_CA_FILE: need('INTERNAL_TLS_CA_FILE'),
    INTERNAL_TLS_CERT_FILE: need('INTERNAL_TLS_CERT_FILE'),
    INTERNAL_TLS_KEY_FILE: need('INTERNAL_TLS_KEY_FILE'),
  };
}

function tlsOf(files: { INTERNAL_TLS_CA_FILE: string; INTERNAL_TLS_CERT_FILE: string; INTERNAL_TLS_KEY_FILE: string }, refreshMs = 60_000): InternalTls {
  return { ...files, INTERNAL_TLS_REFRESH_MS: refreshMs, INTERNAL_PLAINTEXT: false };
}

async function createApproval(h: Harness, over: Record<string, unknown> = {}) {
  const res = await h.call.request('POST', `${h.internal}/internal/approvals`, {
    headers: { 'content-type': 'application/json', 'x-phigate-internal-token': h.token },
    body: JSON.stringify({
      requestId: uniqueName('req'),
      requester: 'analytics-agent',
      connection: 'clinical-pg',
      role: 'analyst',
      statement: `SELECT name, ssn FROM patients WHERE ssn = '${SSN}'`,
      tables: ['public.patients'],
      phiColumns: ['public.patients.ssn'],
      ruleIds: ['ai-ssn-needs-approval'],
      reason: 'AI agents need a human to approve SSN access',
      approverGroups: ['phi-approvers'],
      quorum: 1,
      expiresAt: new Date(h.clock.now.getTime() + 30 * 60_000).toISOString(),
      ...over,
    }),
  });
  return { status: res.status, body: JSON.parse(res.text) as Record<string, any> };
}

async function status(h: Harness, approvalId: string) {
  const res = await h.call.request('GET', `${h.internal}/internal/approvals/${approvalId}`, { headers: { 'x-phigate-internal-token': h.token } });
  assert.equal(res.status, 200);
  return JSON.parse(res.text) as Record<string, any>;
}

interface Click {
  user: string;
  action: 'approve' | 'deny';
  approvalId: string;
  responseUrl?: string;
}

/** A Slack block_actions delivery: form-encoded `payload`, and its exact bytes. */
function interaction(h: Harness, click: Click): Buffer {
  const responseUrl = click.responseUrl ?? `${h.sinkUrl}/response/${uniqueName('r')}`;
  return signedClick({ approvalUrl: h.base, secret: h.secret, ...click, responseUrl }).body;
}

async function post(h: Harness, body: Buffer, headers: Record<string, string> = sign(h, body)) {
  const res = await fetch(`${h.base}/slack/interactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

function sign(h: Harness, body: Buffer, ts = Math.floor(h.clock.now.getTime() / 1000), secret = h.secret): Record<string, string> {
  return { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': slackSignature(secret, ts, body) };
}

const click = (h: Harness, c: Click) => post(h, interaction(h, c));
const responses = (h: Harness): SlackRecord[] => h.sink.records().filter((r) => r.path.startsWith('/response/'));
const webhooks = (h: Harness): SlackRecord[] => h.sink.records().filter((r) => r.path.startsWith('/services/'));

test('one approval by an eligible approver grants; the update reaches response_url; a replay changes nothing', async (t) => {
  const h = await start(t);
  const signals: string[] = [];
  const sub = redisFromEnv(stackEnv());
  t.after(() => sub.disconnect());
  await sub.subscribe(`${h.prefix}decisions`);
  sub.on('message', (_channel, message) => signals.push(message));

  const created = await createApproval(h);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.status, 'pending');
  assert.equal(created.body.notified, true);
  const id = created.body.approvalId as string;

  const [posted] = webhooks(h);
  assert.ok(posted, 'the approval message was posted to the webhook');
  const text = JSON.stringify(posted.body);
  assert.ok(!text.includes(SSN), 'no statement literal reaches Slack');
  assert.ok(text.includes('WHERE ssn = ?'));
  const buttons = (posted.body as any).blocks.find((b: any) => b.type === 'actions').elements;
  assert.deepEqual(
    buttons.map((b: any) => [b.action_id, b.value]),
    [
      ['approve', id],
      ['deny', id],
    ],
  );
  const stored = await h.redis.hget(`${h.prefix}approval:{${id}}`, 's');
  assert.ok(stored && !stored.includes(SSN), 'only the redacted statement is stored');

  const responseUrl = `${h.sinkUrl}/response/${uniqueName('r')}`;
  const body = interaction(h, { user: 'U0ALICE', action: 'approve', approvalId: id, responseUrl });
  const headers = sign(h, body);
  const first = await post(h, body, headers);
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { outcome: 'granted', status: 'granted' });
  const after = await status(h, id);
  assert.equal(after.status, 'granted');
  assert.deepEqual(
    after.votes.map((v: any) => [v.approver, v.decision]),
    [['alice', 'approve']],
  );
  const update = await eventually('the update on response_url', async () => responses(h).find((r) => r.path === new URL(responseUrl).pathname));
  assert.equal((update.body as any).replace_original, true);
  assert.match(JSON.stringify(update.body), /Approved\* by `alice` at <!date\^/);
  assert.ok(!JSON.stringify(update.body).includes(SSN));
  assert.equal((update.body as any).blocks.filter((b: any) => b.type === 'actions').length, 0, 'the buttons are gone');

  const replay = await post(h, body, headers);
  assert.equal(replay.status, 200);
  assert.deepEqual(replay.body, { outcome: 'replay' });
  await sleep(200);
  assert.equal(responses(h).length, 1, 'a replay posts nothing');
  assert.deepEqual((await status(h, id)).votes.length, 1);
  await eventually('the decision signal', async () => (signals.length > 0 ? true : undefined));
  assert.deepEqual(
    signals.map((s) => JSON.parse(s)),
    [{ approvalId: id, requestId: created.body.requestId, status: 'granted' }],
  );
});

test('a non-approver, an unmapped Slack user and the requester themselves are refused; the request stays pending', async (t) => {
  const h = await start(t);
  const { body } = await createApproval(h, { requester: 'alice' });
  const id = body.approvalId as string;

  const carol = await click(h, { user: 'U0CAROL', action: 'approve', approvalId: id });
  assert.deepEqual(carol.body, { outcome: 'refused', reason: 'not_eligible', status: 'pending' });
  const stranger = await click(h, { user: 'U0NOBODY', action: 'approve', approvalId: id });
  assert.deepEqual(stranger.body, { outcome: 'refused', reason: 'unknown_user' });
  const self = await click(h, { user: 'U0ALICE', action: 'approve', approvalId: id });
  assert.deepEqual(self.body, { outcome: 'refused', reason: 'self_approval', status: 'pending' });
  const selfDeny = await click(h, { user: 'U0ALICE', action: 'deny', approvalId: id });
  assert.equal(selfDeny.body.reason, 'self_approval');

  const s = await status(h, id);
  assert.equal(s.status, 'pending');
  assert.deepEqual(s.votes, []);
  const notices = await eventually('four ephemeral notices', async () => (responses(h).length === 4 ? responses(h) : undefined));
  for (const n of notices) {
    assert.equal((n.body as any).response_type, 'ephemeral');
    assert.equal((n.body as any).replace_original, false);
  }

  const bob = await click(h, { user: 'U0BOB', action: 'approve', approvalId: id });
  assert.deepEqual(bob.body, { outcome: 'granted', status: 'granted' });
});

test('forged, tampered, stale, future and unsigned interactions get 401 and change nothing', async (t) => {
  const h = await start(t);
  const { body } = await createApproval(h);
  const id = body.approvalId as string;
  const approve = interaction(h, { user: 'U0ALICE', action: 'approve', approvalId: id });
  const deny = interaction(h, { user: 'U0BOB', action: 'deny', approvalId: id });
  const now = Math.floor(h.clock.now.getTime() / 1000);
  const attempts: Array<[string, Buffer, Record<string, string>]> = [
    ['wrong secret', approve, sign(h, approve, now, 'not-the-signing-secret-at-all')],
    ['tampered body', deny, sign(h, approve)],
    ['stale timestamp', approve, sign(h, approve, now - 301)],
    ['future timestamp', approve, sign(h, approve, now + 301)],
    ['no headers', approve, {}],
    ['no signature', approve, { 'x-slack-request-timestamp': String(now) }],
    ['signature for another timestamp', approve, { ...sign(h, approve, now - 1), 'x-slack-request-timestamp': String(now) }],
  ];
  for (const [what, b, headers] of attempts) {
    const r = await post(h, b, headers);
    assert.equal(r.status, 401, what);
    assert.equal(r.body.code, 'APPROVAL_SLACK_SIGNATURE_INVALID', what);
  }
  await sleep(200);
  assert.equal((await status(h, id)).status, 'pending');
  assert.equal(responses(h).length, 0, 'nothing was posted to response_url');
  const metrics = await (await fetch(`${h.base}/metrics`)).text();
  assert.match(metrics, /phigate_approval_slack_interactions_total\{outcome="bad_signature",service="approval"\} 7/);
});

test('two approvers clicking at once cannot both finalise', async (t) => {
  const h = await start(t);
  for (let round = 0; round < 10; round++) {
    const { body } = await createApproval(h);
    const id = body.approvalId as string;
    const [a, b] = await Promise.all([
      click(h, { user: 'U0ALICE', action: 'approve', approvalId: id }),
      click(h, { user: 'U0BOB', action: 'deny', approvalId: id }),
    ]);
    const finals = [a.body, b.body].filter((r) => r.outcome === 'granted' || r.outcome === 'denied');
    assert.equal(finals.length, 1, JSON.stringify([a.body, b.body]));
    const loser = [a.body, b.body].find((r) => r !== finals[0]);
    assert.deepEqual(loser, { outcome: 'refused', reason: 'already_final', status: finals[0]?.status });
    assert.equal((await status(h, id)).votes.length, 1);
  }
  // With a quorum of two, both concurrent grants count.
  const { body } = await createApproval(h, { quorum: 2 });
  const both = await Promise.all([
    click(h, { user: 'U0ALICE', action: 'approve', approvalId: body.approvalId }),
    click(h, { user: 'U0BOB', action: 'approve', approvalId: body.approvalId }),
  ]);
  assert.deepEqual(both.map((r) => r.body.outcome).sort(), ['granted', 'recorded']);
  assert.equal((await status(h, body.approvalId)).status, 'granted');
});

test('an approval stored before hash tags (approval:<id>) is adopted when first read, and can still be decided', async (t) => {
  const h = await start(t);
  const created = await createApproval(h);
  const id = created.body.approvalId as string;
  // Back to the old layout, as a service before the upgrade left it.
  await h.redis.rename(`${h.prefix}approval:{${id}}`, `${h.prefix}approval:${id}`);
  assert.equal((await status(h, id)).status, 'pending');
  assert.equal(await h.redis.exists(`${h.prefix}approval:{${id}}`), 1, 'renamed to the new key');
  assert.equal((await click(h, { user: 'U0BOB', action: 'approve', approvalId: id })).status, 200);
  assert.equal((await status(h, id)).status, 'granted');
});

test('a denial ends the request; a new vote is refused and a repeated one is idempotent', async (t) => {
  const h = await start(t);
  const { body } = await createApproval(h, { quorum: 2 });
  const id = body.approvalId as string;
  assert.deepEqual((await click(h, { user: 'U0ALICE', action: 'approve', approvalId: id })).body, { outcome: 'recorded', status: 'pending' });
  assert.deepEqual((await click(h, { user: 'U0ALICE', action: 'approve', approvalId: id })).body, { outcome: 'duplicate', status: 'pending' });
  assert.deepEqual((await click(h, { user: 'U0BOB', action: 'deny', approvalId: id })).body, { outcome: 'denied', status: 'denied' });
  // Alice's approve was already counted: repeating it is a no-op that reports the final status.
  assert.deepEqual((await click(h, { user: 'U0ALICE', action: 'approve', approvalId: id })).body, { outcome: 'duplicate', status: 'denied' });
  assert.deepEqual((await click(h, { user: 'U0ALICE', action: 'deny', approvalId: id })).body, {
    outcome: 'refused',
    reason: 'already_final',
    status: 'denied',
  });
  const s = await status(h, id);
  assert.equal(s.status, 'denied');
  assert.ok(s.decidedAt);
  const updates = await eventually('the denial update', async () => responses(h).find((r) => /Denied\* by `bob`/.test(JSON.stringify(r.body))));
  assert.equal((updates.body as any).replace_original, true);
});

test('a vote after the expiry is refused and the request ends as expired', async (t) => {
  const h = await start(t);
  const { body } = await createApproval(h, { expiresAt: new Date(h.clock.now.getTime() + 60_000).toISOString() });
  h.clock.now = new Date(h.clock.now.getTime() + 61_000);
  assert.equal((await status(h, body.approvalId)).status, 'expired', 'reads as expired before anyone votes');
  const r = await click(h, { user: 'U0ALICE', action: 'approve', approvalId: body.approvalId });
  assert.deepEqual(r.body, { outcome: 'refused', reason: 'expired', status: 'expired' });
  const update = await eventually('the expiry update', async () => responses(h)[0]);
  assert.match((update.body as any).text, /^Expired/);
});

test('response_url outside the allowed origins is never contacted', async (t) => {
  const h = await start(t);
  const other = buildSlackSink({ port: 0, logger: silentLogger });
  const { url: otherUrl } = await other.start();
  t.after(() => other.stop());
  const { body } = await createApproval(h);
  const r = await click(h, { user: 'U0ALICE', action: 'approve', approvalId: body.approvalId, responseUrl: `${otherUrl}/response/x` });
  assert.equal(r.body.outcome, 'granted', 'the vote itself counts');
  await sleep(300);
  assert.equal(other.records().length, 0);
});

test('the internal API needs its token, validates its input, and is idempotent per request id', async (t) => {
  const h = await start(t);
  const url = `${h.internal}/internal/approvals`;
  const noToken = await h.call.request('POST', url, { headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(noToken.status, 401);
  const wrong = await h.call.request('POST', url, { headers: { 'content-type': 'application/json', 'x-phigate-internal-token': `${h.token}x` }, body: '{}' });
  assert.equal(wrong.status, 401);
  assert.equal((await h.call.request('GET', `${url}/whatever`)).status, 401);
  // Only on the internal listener: the public one (Slack, approvers) does not serve it.
  assert.equal((await fetch(`${h.base}/internal/approvals`, { method: 'POST', headers: { 'x-phigate-internal-token': h.token } })).status, 404);

  const bad = await createApproval(h, { approverGroups: [], quorum: 0, extra: true });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'APPROVAL_REQUEST_INVALID');
  assert.ok(bad.body.problems.length >= 3, JSON.stringify(bad.body.problems));
  const past = await createApproval(h, { expiresAt: new Date(h.clock.now.getTime() - 1000).toISOString() });
  assert.equal(past.status, 400);

  const requestId = uniqueName('req');
  const first = await createApproval(h, { requestId });
  const again = await createApproval(h, { requestId });
  assert.equal(first.status, 201);
  assert.equal(again.status, 200);
  assert.equal(again.body.approvalId, first.body.approvalId);
  assert.equal(webhooks(h).length, 1, 'the Slack message is posted once');

  const missing = await h.call.request('GET', `${url}/no-such-approval`, { headers: { 'x-phigate-internal-token': h.token } });
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.text).code, 'APPROVAL_NOT_FOUND');
});

test('the internal API refuses a client certificate of another CA, no certificate, and plaintext', async (t) => {
  const h = await start(t);
  const path = `${h.internal}/internal/approvals/no-such-approval`;
  const headers = { 'x-phigate-internal-token': h.token };
  // The positive case first: the stack CA's certificate gets an answer.
  assert.equal((await h.call.request('GET', path, { headers })).status, 404);

  const intruder = internalHttpClient(tlsOf({ ...foreignCertificate(), INTERNAL_TLS_CA_FILE: need('INTERNAL_TLS_CA_FILE') }));
  t.after(() => intruder.close());
  await assert.rejects(intruder.request('GET', path, { headers }), 'a certificate another CA signed is refused in the handshake');

  await assert.rejects(httpsWithoutClientCert(path, need('INTERNAL_TLS_CA_FILE')), 'no client certificate, no answer');
  await assert.rejects(
    fetch(path.replace('https:', 'http:'), { headers }).then((r) => r.text()),
    'plaintext HTTP on the TLS port gets no answer',
  );
});

test('the internal listener takes a rotated certificate without a restart', async (t) => {
  // The server starts with another CA's files (so the stack's clients are refused), then the files
  // are replaced by the stack CA's: the running server accepts those clients within the refresh.
  const d = mkdtempSync(join(tmpdir(), 'approval-tls-'));
  const files = { INTERNAL_TLS_CA_FILE: join(d, 'ca.pem'), INTERNAL_TLS_CERT_FILE: join(d, 'svc.pem'), INTERNAL_TLS_KEY_FILE: join(d, 'svc.key') };
  const other = foreignCertificate();
  copyFileSync(other.INTERNAL_TLS_CA_FILE, files.INTERNAL_TLS_CA_FILE);
  copyFileSync(other.INTERNAL_TLS_CERT_FILE, files.INTERNAL_TLS_CERT_FILE);
  copyFileSync(other.INTERNAL_TLS_KEY_FILE, files.INTERNAL_TLS_KEY_FILE);
  const sink = buildSlackSink({ port: 0, logger: silentLogger });
  const { url } = await sink.start();
  t.after(() => sink.stop());
  const token = randomBytes(24).toString('hex');
  const config = loadConfig(approvalConfigSchema, {
    ...minimalEnv(url),
    APPROVAL_INTERNAL_PORT: '0',
    ...files,
    INTERNAL_TLS_REFRESH_MS: '1000',
    APPROVAL_INTERNAL_TOKEN: token,
  });
  const app = buildApp(config, createLogger({ service: 'approval-test', level: 'silent' }));
  const { internalPort } = await app.start();
  t.after(() => app.stop());
  const call = internalHttpClient(tlsOf(internalTlsEnv()));
  t.after(() => call.close());
  const path = `https://127.0.0.1:${internalPort}/internal/approvals/no-such-approval`;
  await assert.rejects(call.request('GET', path, { headers: { 'x-phigate-internal-token': token } }), 'before the rotation: another CA');

  copyFileSync(need('INTERNAL_TLS_KEY_FILE'), files.INTERNAL_TLS_KEY_FILE);
  copyFileSync(need('INTERNAL_TLS_CERT_FILE'), files.INTERNAL_TLS_CERT_FILE);
  copyFileSync(need('INTERNAL_TLS_CA_FILE'), files.INTERNAL_TLS_CA_FILE);
  const status = await eventually('the rotated certificate is served', () =>
    call.request('GET', path, { headers: { 'x-phigate-internal-token': token } }).then(
      (r) => r.status,
      () => undefined,
    ),
  );
  assert.equal(status, 404);
});

test('without a token configured the internal API is not served; ops routes answer', async (t) => {
  const sink = buildSlackSink({ port: 0, logger: silentLogger });
  const { url } = await sink.start();
  t.after(() => sink.stop());
  const config = loadConfig(approvalConfigSchema, minimalEnv(url));
  const app = buildApp(config, createLogger({ service: 'approval-test', level: 'silent' }));
  const { httpPort } = await app.start();
  t.after(() => app.stop());
  const base = `http://127.0.0.1:${httpPort}`;
  assert.equal((await fetch(`${base}/internal/approvals`, { method: 'POST' })).status, 404);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { redis: true } });
});

test('the approvers’ API: an eligible approver lists and approves with a bearer token; others are refused', async (t) => {
  const h = await start(t);
  const { body } = await createApproval(h, { requester: 'analytics-agent', quorum: 1 });
  const id = body.approvalId as string;
  const api = async (who: string, method: 'GET' | 'POST', path: string) => {
    const res = await fetch(`${h.base}${path}`, { method, headers: { authorization: `Bearer ${await demoToken(who)}` } });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  assert.equal((await fetch(`${h.base}/v1/approvals`)).status, 401, 'no token, no list');
  const alices = await api('alice', 'GET', '/v1/approvals');
  assert.equal(alices.status, 200);
  const listed = alices.body.approvals.find((a: { approvalId: string }) => a.approvalId === id);
  assert.ok(listed, 'alice sees the pending approval');
  assert.equal(listed.statement, 'SELECT name, ssn FROM patients WHERE ssn = ?');
  const carols = await api('carol', 'GET', '/v1/approvals');
  assert.ok(!carols.body.approvals.some((a: { approvalId: string }) => a.approvalId === id), 'carol is in no approver group');
  const refused = await api('carol', 'POST', `/v1/approvals/${id}/approve`);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'APPROVAL_VOTE_REFUSED');
  assert.equal((await status(h, id)).status, 'pending');
  const granted = await api('alice', 'POST', `/v1/approvals/${id}/approve`);
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  assert.equal(granted.body.outcome, 'granted');
  assert.equal((await status(h, id)).status, 'granted');
  // The channel learns of the decision: a new message (an incoming webhook cannot edit the first).
  const announced = await eventually('the decision announced in Slack', async () =>
    webhooks(h).find((r) => JSON.stringify(r.body).includes(id) && JSON.stringify(r.body).includes('Approved')),
  );
  assert.ok(JSON.stringify(announced.body).includes('alice'));
  const again = await api('bob', 'POST', `/v1/approvals/${id}/deny`);
  assert.equal(again.status, 403, 'a decided approval takes no more votes');
  assert.ok(!(await api('alice', 'GET', '/v1/approvals')).body.approvals.some((a: { approvalId: string }) => a.approvalId === id));
  assert.equal((await api('alice', 'POST', '/v1/approvals/00000000-0000-0000-0000-000000000000/approve')).status, 404);
});
