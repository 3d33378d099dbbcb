// phigate-test: stack
// The gateway's decision cache against the real policy service: a policy change takes effect on
// the very next request, because the revision stream drops every cached decision.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, eventually, need, REPO_ROOT } from '@phigate/testkit';

async function query(token: string, sql: string) {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ connection: 'clinical-pg', sql }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function cacheHits(): Promise<number> {
  const text = await (await fetch(`${need('GATEWAY_URL')}/metrics`)).text();
  const m = /phigate_gateway_cache_lookups\{[^}]*cache="decision"[^}]*result="hit"[^}]*\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

test('cached decisions are served, and a policy change takes effect on the next request', async (t) => {
  const token = await demoToken('etl-pipeline');
  const sql = `SELECT count(*) FROM claims WHERE amount > ${Math.floor(Math.random() * 1000)}`;
  assert.equal((await query(token, sql)).status, 200);
  const before = await cacheHits();
  assert.equal((await query(token, sql)).status, 200);
  assert.ok((await cacheHits()) > before, 'the repeated statement was decided from the cache');

  const file = join(REPO_ROOT, 'deploy/local/policies', `99-test-${randomBytes(3).toString('hex')}.yaml`);
  t.after(() => rmSync(file, { force: true }));
  writeFileSync(
    file,
    'version: 1\nrules:\n  - id: test-freeze-claims\n    match: { groups: [etl], anyTable: ["*.claims"] }\n    action: deny\n    reason: claims are frozen for this test\n',
  );
  const denied = await eventually('the new policy to apply', async () => {
    const r = await query(token, sql);
    return r.status === 403 ? r : undefined;
  });
  assert.equal(denied.body.ruleId, 'test-freeze-claims');
  rmSync(file);
  await eventually('the policy to be lifted again', async () => ((await query(token, sql)).status === 200 ? true : undefined));
});
