import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CachingPolicy } from './decision-cache.js';
import type { Decision } from './types.js';

const decision = (rev: string, action: Decision['action'] = 'allow'): Decision => ({
  decisionId: `d-${rev}`,
  action,
  ruleIds: ['r'],
  reasons: [],
  policyRevision: rev,
  maskingPlan: { columns: [], unknownSourceStrategy: 'none' },
  rowLimit: 0,
  approverGroups: [],
});
const stmt = (whereTriviallyTrue: boolean) => ({
  kind: 'delete',
  tablesRead: [],
  tablesWritten: [{ database: 'd', schema: 'public', name: 'claims' }],
  columnsRead: [],
  columnsWritten: [],
  columnsFiltered: [],
  flows: [],
  functions: [],
  hasWhere: true,
  whereTriviallyTrue,
  hasLimit: false,
  columnsResolved: true,
});
const req = (trivially = false) => ({
  requestId: 'x',
  identity: { subject: 's', clientId: 's', groups: ['g'], issuer: 'i' },
  connection: 'c',
  role: 'r',
  frontDoor: 'http',
  analysis: { dialect: 'postgresql' as const, fingerprint: 'same', understood: true, error: '', statements: [stmt(trivially)] },
});

test('decisions are cached only while a revision is known, and dropped when it changes', async () => {
  let rev = 'r1';
  let calls = 0;
  const cache = new CachingPolicy(
    {
      evaluate: async () => {
        calls++;
        return decision(rev);
      },
    },
    100,
  );
  await cache.evaluate(req());
  await cache.evaluate(req());
  assert.equal(calls, 2, 'no revision known yet: no caching');
  cache.revisionChanged('r1');
  await cache.evaluate(req());
  await cache.evaluate(req());
  assert.equal(calls, 3);
  rev = 'r2';
  cache.revisionChanged('r2');
  const d = await cache.evaluate(req());
  assert.equal(d.policyRevision, 'r2');
  assert.equal(calls, 4);
  cache.revisionChanged(undefined);
  await cache.evaluate(req());
  assert.equal(calls, 5, 'watch down: every decision goes to the policy service');
});

test('inputs that differ only in literal-dependent facts never share an entry', async () => {
  let calls = 0;
  const cache = new CachingPolicy(
    {
      evaluate: async (r) => {
        calls++;
        return decision('r1', r.analysis.statements[0]?.whereTriviallyTrue ? 'deny' : 'allow');
      },
    },
    100,
  );
  cache.revisionChanged('r1');
  assert.equal((await cache.evaluate(req(false))).action, 'allow');
  assert.equal((await cache.evaluate(req(true))).action, 'deny');
  assert.equal((await cache.evaluate(req(false))).action, 'allow');
  assert.equal(calls, 2);
});

test('a decision made under an older revision is not kept', async () => {
  let calls = 0;
  const cache = new CachingPolicy(
    {
      evaluate: async () => {
        calls++;
        return decision('old');
      },
    },
    100,
  );
  cache.revisionChanged('new');
  await cache.evaluate(req());
  await cache.evaluate(req());
  assert.equal(calls, 2);
});

test('a decision is cached per purpose of use: another purpose, or none, goes to the policy service', async () => {
  const asked: (string | undefined)[] = [];
  const cache = new CachingPolicy(
    {
      evaluate: async (r) => {
        asked.push(r.purpose);
        return decision('r1', r.purpose === 'care' ? 'allow' : 'deny');
      },
    },
    100,
  );
  cache.revisionChanged('r1');
  assert.equal((await cache.evaluate({ ...req(), purpose: 'care' })).action, 'allow');
  assert.equal((await cache.evaluate({ ...req(), purpose: 'care' })).action, 'allow');
  assert.equal((await cache.evaluate({ ...req(), purpose: 'marketing' })).action, 'deny');
  assert.equal((await cache.evaluate(req())).action, 'deny');
  assert.deepEqual(asked, ['care', 'marketing', undefined]);
});
