// phigate-test: stack
// Properties every service of the running stack must have: the ops surface, config validated at
// start-up, and logs that never carry tokens, statements or row values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, need, REPO_ROOT } from '@phigate/testkit';

const OPS = {
  gateway: 'GATEWAY_URL',
  policy: 'POLICY_URL',
  masking: 'MASKING_URL',
  approval: 'APPROVAL_URL',
  audit: 'AUDIT_URL',
} as const;

for (const [service, key] of Object.entries(OPS)) {
  test(`${service} serves /healthz, /readyz and Prometheus /metrics`, async () => {
    const base = need(key);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    const body = (await ready.json()) as { status: string; checks: Record<string, boolean> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ready');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`phigate_process_cpu_seconds_total\\{service="${service}"\\}`));
  });
}

for (const service of Object.keys(OPS)) {
  test(`${service} refuses to start on invalid config and names every problem at once`, () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'services', service, 'dist/src/main.js')], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'loud', KAFKA_BROKERS: '', REDIS_URL: 'not a url' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1, r.stderr);
    const line = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { code: string; problems: string[] };
    assert.equal(line.code, 'COMMON_CONFIG_INVALID');
    assert.ok(
      line.problems.some((p) => p.startsWith('LOG_LEVEL')),
      line.problems.join('\n'),
    );
    if (service !== 'policy' && service !== 'masking') assert.ok(line.problems.length >= 2, line.problems.join('\n'));
  });
}

test('no log line carries a token, a statement literal or a row value', async () => {
  const token = await demoToken('etl-pipeline');
  const marker = '987-65-4329';
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ connection: 'clinical-pg', sql: `SELECT id, ssn, notes FROM patients WHERE mrn <> '${marker}' ORDER BY id LIMIT 50` }),
  });
  assert.equal(res.status, 200);
  const rows = ((await res.json()) as { rows: unknown[][] }).rows;
  const dir = need('PHIGATE_LOG_DIR');
  // Logs of our own processes (the infrastructure's logs are theirs).
  const ours = ['gateway', 'policy', 'masking', 'audit', 'approval', 'dev-idp', 'slack-sink'];
  const text = readdirSync(dir)
    .filter((f) => ours.some((o) => f === `${o}.log`))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  assert.ok(text.length > 0);
  assert.ok(!text.includes(token), 'an access token was logged');
  assert.ok(!text.includes(token.split('.')[2]!), 'a token signature was logged');
  assert.ok(!text.includes(marker), 'a statement literal was logged');
  assert.doesNotMatch(text, /\b\d{3}-\d{2}-\d{4}\b/, 'something shaped like an SSN was logged');
  assert.ok(rows.length === 50);
});
