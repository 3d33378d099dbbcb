// Failure suite: internal certificates rotated under load. A gateway replica with policy, masking and
// approval replicas of this drill's own (own ports, own certificate directory holding a copy of the
// stack's dev CA: the stack's certificates are not touched) serves masked reads, writes and held
// statements (gateway → approval's internal API) while every service's leaf certificate is replaced
// in place, as cert-manager renews a Secret; the services re-read their files every
// INTERNAL_TLS_REFRESH_MS and are never restarted.
//
// Promises:
//   same CA          new leaves from the same CA: no client sees an error, rows stay masked, and new
//                    connections to policy, masking and approval present the new certificates, as do
//                    the gateway's new connections to policy (seen by a TLS tap on that link)
//   another CA       a leaf from a CA the services do not trust is refused: the gateway's own (its next
//                    connection to approval is refused, so held statements get the documented
//                    GATEWAY_APPROVAL_UNAVAILABLE), and masking's and policy's (a client trusting the
//                    internal CA refuses their new connections); meanwhile only documented errors,
//                    no hang, no PHI
//   audit-durable    every released result is in the audit store exactly once
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, freePort, need, spawnApp } from '@phigate/testkit';
import { copyOfDevCa, issueLeaf, otherCa, presentedSerial, tlsTap } from './leaf-certs.js';
import { auditOf, CLIENT_TIMEOUT_MS, Load, type Outcome, tally } from './load.js';

const REFRESH_MS = 1000;
const SERVICES = ['policy', 'masking', 'approval', 'gateway', 'probe'] as const;

interface HeldAnswer {
  at: number;
  status: number;
  code: string;
  hung: boolean;
  leak?: string;
}

test('internal certificates rotated under load: same CA without a client error, another CA refused', async (t) => {
  const started = Date.now();
  // Undone last first: the replicas stop before what they use (Redis, their certificate files) goes.
  const undo: Array<() => unknown> = [];
  t.after(async () => {
    for (const step of undo.reverse()) await step();
  });
  const ca = copyOfDevCa(need('INTERNAL_TLS_CA_FILE'));
  const outbox = mkdtempSync(join(tmpdir(), 'chaos-cert-rotation-outbox-'));
  undo.push(() => {
    rmSync(ca.dir, { recursive: true, force: true });
    rmSync(outbox, { recursive: true, force: true });
  });
  const serials: Record<string, string> = {};
  for (const s of SERVICES) serials[s] = issueLeaf(ca, ca.dir, s);
  const tls = (name: string) => ({
    INTERNAL_TLS_CA_FILE: ca.pem,
    INTERNAL_TLS_CERT_FILE: join(ca.dir, `${name}.pem`),
    INTERNAL_TLS_KEY_FILE: join(ca.dir, `${name}.key`),
    INTERNAL_TLS_REFRESH_MS: String(REFRESH_MS),
  });
  const probeCert = { cert: join(ca.dir, 'probe.pem'), key: join(ca.dir, 'probe.key') };

  const ports = { policy: await freePort(), policyOps: await freePort(), masking: await freePort(), maskingOps: await freePort() };
  const [approvalPort, approvalInternal, gatewayPort] = [await freePort(), await freePort(), await freePort()];
  const policy = await spawnApp('policy', 'services/policy/dist/src/main.js', ports.policyOps, {
    ...tls('policy'),
    POLICY_GRPC_PORT: String(ports.policy),
    POLICY_OPS_PORT: String(ports.policyOps),
  });
  undo.push(() => policy.kill('SIGTERM'));
  const masking = await spawnApp('masking', 'services/masking/dist/src/main.js', ports.maskingOps, {
    ...tls('masking'),
    MASKING_GRPC_PORT: String(ports.masking),
    MASKING_OPS_PORT: String(ports.maskingOps),
  });
  undo.push(() => masking.kill('SIGTERM'));
  const approval = await spawnApp('approval', 'services/approval/dist/src/main.js', approvalPort, {
    ...tls('approval'),
    APPROVAL_HTTP_PORT: String(approvalPort),
    APPROVAL_INTERNAL_PORT: String(approvalInternal),
  });
  undo.push(() => approval.kill('SIGTERM'));
  // The gateway reaches policy through a tap that notes the certificate the gateway presents on each
  // new connection (masking and approval it reaches directly).
  const tap = await tlsTap(ports.policy, ca.pem, probeCert);
  undo.push(() => tap.close());
  const gateway = await spawnApp('gateway', 'services/gateway/dist/src/main.js', gatewayPort, {
    ...tls('gateway'),
    GATEWAY_HTTP_PORT: String(gatewayPort),
    GATEWAY_PG_PORT: '0',
    GATEWAY_REPLICA_ID: `chaos-cert-rotation-${gatewayPort}`,
    POLICY_GRPC_ADDR: `127.0.0.1:${tap.port}`,
    MASKING_GRPC_ADDR: `127.0.0.1:${ports.masking}`,
    GATEWAY_APPROVAL_URL: `https://127.0.0.1:${approvalInternal}`,
    // Every statement asks the policy replica: that link carries the whole load.
    GATEWAY_DECISION_CACHE_SIZE: '0',
    GATEWAY_AUDIT_OUTBOX_DIR: outbox,
  });
  undo.push(() => gateway.kill('SIGTERM'));
  const setUp = Date.now();

  const servers = { policy: ports.policy, masking: ports.masking, approval: approvalInternal } as const;
  const presented = async () =>
    Object.fromEntries(await Promise.all(Object.entries(servers).map(async ([s, p]) => [s, await presentedSerial(p, ca.pem, probeCert)])));
  assert.deepEqual(
    await presented(),
    { policy: { serial: serials.policy }, masking: { serial: serials.masking }, approval: { serial: serials.approval } },
    'each server presents the certificate it started with',
  );
  assert.deepEqual([...new Set(tap.clientSerials)], [serials.gateway], 'the gateway presents the certificate it started with');

  // Load: masked reads and writes (the Load checks every read is masked), and statements held for
  // approval, which cross the gateway → approval link.
  const agent = await demoToken('analytics-agent');
  const heldAnswers: HeldAnswer[] = [];
  // The approvals the held statements opened (in the stack's Redis): denied at the end, so none is left pending.
  const pending: string[] = [];
  let running = true;
  const holding = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const res = await fetch(`${gateway.url}/v1/query`, {
          method: 'POST',
          // With the purpose of use the analytics agent's binding requires.
          headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}`, 'x-phigate-purpose': 'population-health' },
          body: JSON.stringify({ connection: 'clinical-pg', sql: 'SELECT id, ssn FROM patients WHERE id = 12' }),
          signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
        });
        const text = await res.text();
        const body = JSON.parse(text || '{}') as { code?: string; rows?: unknown; approvalId?: string };
        if (body.approvalId) pending.push(body.approvalId);
        heldAnswers.push({
          at,
          status: res.status,
          code: String(body.code ?? ''),
          hung: false,
          ...(body.rows !== undefined || /\b\d{3}-\d{2}-\d{4}\b/.test(text) ? { leak: 'a held statement answered with rows' } : {}),
        });
      } catch (err) {
        heldAnswers.push({ at, status: 0, code: (err as Error).name, hung: (err as Error).name === 'TimeoutError' });
      }
      await sleep(200);
    }
  })();
  const load = await Load.start([gateway.url], 3);
  await sleep(1500);

  // 1. New leaves from the same CA for every service, swapped in place under load.
  const rotatedAt = Date.now();
  const renewed: Record<string, string> = {};
  for (const s of ['policy', 'masking', 'approval', 'gateway'] as const) renewed[s] = issueLeaf(ca, ca.dir, s);
  const want = { policy: { serial: renewed.policy }, masking: { serial: renewed.masking }, approval: { serial: renewed.approval } };
  await eventually(
    'new connections to policy, masking and approval to present the renewed certificates',
    async () => (JSON.stringify(await presented()) === JSON.stringify(want) ? true : undefined),
    30_000,
    100,
  );
  const takenAt = Date.now();
  // The gateway's renewed client certificate is re-read on the same interval: held statements keep
  // crossing to approval on new connections for a few more rounds of it.
  await sleep(3 * REFRESH_MS);
  const sameCaEnd = Date.now();
  const inSameCa = (a: { at: number }) => a.at >= rotatedAt && a.at < sameCaEnd;
  const sameCaLoad = load.outcomes.filter(inSameCa);
  const sameCaHeld = heldAnswers.filter(inSameCa);
  assert.ok(sameCaLoad.length > 0 && sameCaHeld.length > 0, 'statements ran while the certificates were swapped');
  assert.deepEqual(tally(sameCaLoad), { 200: sameCaLoad.length }, 'every read and write during the same-CA rotation succeeded');
  assert.deepEqual(
    sameCaHeld.filter((a) => a.status !== 202),
    [],
    'every held statement during the same-CA rotation reached approval',
  );

  // New connections from the gateway present its renewed certificate: the tap closes the policy
  // link's connections (the statements on them fail, documented), and the gateway dials again.
  const dropped = tap.clientSerials.length;
  tap.dropAll();
  await eventually(
    "the gateway's next connection to policy to present its renewed certificate",
    async () => (tap.clientSerials.length > dropped ? tap.clientSerials.slice(dropped) : undefined),
    30_000,
    100,
  );
  assert.deepEqual([...new Set(tap.clientSerials.slice(dropped))], [renewed.gateway], "the gateway's new connections present its renewed certificate");

  // 2. The gateway's own certificate from another CA: approval refuses its next connection.
  const foreign = otherCa();
  undo.push(() => rmSync(foreign.dir, { recursive: true, force: true }));
  const foreignAt = Date.now();
  issueLeaf(foreign, ca.dir, 'gateway');
  await eventually(
    'approval to refuse the gateway presenting a certificate of another CA',
    async () => {
      const last = heldAnswers.at(-1);
      return last && last.at > foreignAt && last.status === 503 && last.code === 'GATEWAY_APPROVAL_UNAVAILABLE' ? true : undefined;
    },
    30_000,
    100,
  );
  // 3. Masking's and policy's certificates from another CA: a client that trusts the internal CA
  // refuses their new connections.
  issueLeaf(foreign, ca.dir, 'masking');
  issueLeaf(foreign, ca.dir, 'policy');
  const refused = await eventually(
    'new connections to masking and policy to be refused',
    async () => {
      const p = await presented();
      return p.masking?.refused && p.policy?.refused ? p : undefined;
    },
    30_000,
    100,
  );
  assert.ok(refused.approval?.serial === renewed.approval, 'approval, not rotated, still presents its renewed certificate');
  await sleep(1000);
  running = false;
  const outcomes: Outcome[] = await load.stop();
  await holding;

  // Throughout: every request answered, no PHI, every error a documented one.
  const all = [...outcomes, ...heldAnswers];
  assert.deepEqual(
    all.filter((a) => a.hung),
    [],
    'every request was answered within its timeout',
  );
  assert.deepEqual(
    all.filter((a) => a.leak),
    [],
    'no PHI in any answer',
  );
  const documented = new Set(['GATEWAY_APPROVAL_UNAVAILABLE', 'GATEWAY_MASKING_UNAVAILABLE', 'GATEWAY_POLICY_UNAVAILABLE']);
  assert.deepEqual(
    all.filter((a) => a.status !== 200 && a.status !== 202 && !(a.status === 503 && documented.has(a.code))),
    [],
    'every refusal is a documented 503',
  );
  for (const approvalId of pending)
    await deliverClick(
      approval.url,
      signedClick({ approvalUrl: approval.url, secret: need('SLACK_SIGNING_SECRET'), user: 'U0ALICE', action: 'deny', approvalId }),
    );
  t.diagnostic(
    `cert-rotation: replicas up in ${setUp - started} ms; same-CA leaves presented ${takenAt - rotatedAt} ms after the swap (refresh ${REFRESH_MS} ms); ` +
      `same CA: ${sameCaLoad.length} reads/writes and ${sameCaHeld.length} held, no error; whole run ${JSON.stringify(tally(outcomes))}, held ${JSON.stringify(
        Object.fromEntries(
          [...new Set(heldAnswers.map((a) => `${a.status} ${a.code}`))].map((k) => [k, heldAnswers.filter((a) => `${a.status} ${a.code}` === k).length]),
        ),
      )}; refused: masking ${refused.masking?.refused}, policy ${refused.policy?.refused}; drill ${Date.now() - started} ms`,
  );
  const durable = await auditOf(outcomes);
  assert.deepEqual(
    { missing: durable.missing, duplicated: durable.duplicated },
    { missing: [], duplicated: [] },
    `every released result stored once (${durable.missing.length} of ${durable.completed} missing: is the stack's audit service consuming? npm run stack:status, .phigate/logs/audit.log)`,
  );
});
