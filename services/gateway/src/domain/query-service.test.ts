import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Catalog } from '@phigate/sql';
import type { AuditPort, UpstreamPort } from './ports.js';
import { effectiveCanary, QueryService } from './query-service.js';
import type { Analysis, Decision } from './types.js';

const write: Analysis = {
  dialect: 'postgresql',
  fingerprint: 'f',
  understood: true,
  error: '',
  statements: [
    {
      kind: 'update',
      tablesRead: [],
      tablesWritten: [{ database: 'd', schema: 'public', name: 'claims' }],
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
};
const allow: Decision = {
  decisionId: 'd1',
  action: 'allow',
  ruleIds: ['r'],
  reasons: [],
  policyRevision: 'rev',
  maskingPlan: { columns: [], unknownSourceStrategy: 'none' },
  rowLimit: 0,
  approverGroups: [],
};

function service(audit: AuditPort, log: string[]) {
  const upstream: UpstreamPort = {
    catalog: async () => new Catalog('d', []),
    execute: async (_c, _r, _sql, _p, sink, opts) => {
      log.push(`execute transaction=${opts.transaction}`);
      await sink.columns([]);
      return {
        command: 'UPDATE',
        rowCount: 1,
        upstreamMs: 1,
        finish: async (commit) => {
          log.push(commit ? 'commit' : 'rollback');
        },
      };
    },
  };
  return new QueryService({
    connections: () => new Map([['c', { name: 'c', type: 'postgresql', dialect: 'postgresql', database: 'd', defaultSchema: 'public' }]]),
    bindings: () => [{ groups: ['g'], connections: { c: 'writer' } }],
    analyse: () => write,
    policy: { evaluate: async () => allow },
    upstream,
    masking: { open: () => assert.fail('nothing to mask: no masking call') },
    audit,
    rateLimit: { take: async () => ({ allowed: true, retryAfterSec: 0 }) },
    limits: { maxSqlBytes: 1000, maxRows: 10 },
  });
}

const request = {
  requestId: 'r1',
  sessionId: 's',
  frontDoor: 'http',
  identity: { subject: 'u', clientId: 'u', groups: ['g'], issuer: 'i' },
  connection: 'c',
  sql: "UPDATE claims SET status = 'x' WHERE id = 1",
  params: [],
  traceparent: '',
};

test('a write commits only after its outcome events are durable', async () => {
  const log: string[] = [];
  const result = await service({ record: async (_ctx, events) => void log.push(`audit ${events.map((e) => e.type).join(',')}`) }, log).run(request);
  assert.equal(result.affectedRows, 1);
  assert.deepEqual(log, ['audit query.received,policy.decided', 'execute transaction=true', 'audit query.executed,masking.applied,query.completed', 'commit']);
});

test('when the outcome cannot be recorded, the write is rolled back and the client is told', async () => {
  const log: string[] = [];
  let calls = 0;
  const audit: AuditPort = {
    record: async () => {
      calls++;
      if (calls > 1) throw new Error('kafka down');
    },
  };
  await assert.rejects(service(audit, log).run(request), { code: 'GATEWAY_AUDIT_UNAVAILABLE' });
  assert.deepEqual(log, ['execute transaction=true', 'rollback']);
});

test('the canary: block and masked statements always watched; report on an unmasked statement sampled', () => {
  const draws = [0.05, 0.5];
  for (const r of draws) {
    assert.equal(
      effectiveCanary('block', false, 0.1, () => r),
      'block',
    );
    assert.equal(
      effectiveCanary('report', true, 0.1, () => r),
      'report',
      'its rows go through masking anyway',
    );
    assert.equal(
      effectiveCanary('off', false, 1, () => r),
      'off',
    );
    assert.equal(
      effectiveCanary('report', false, 1, () => r),
      'report',
      'rate 1: every statement',
    );
    assert.equal(
      effectiveCanary('report', false, 0, () => r),
      'off',
      'rate 0: none',
    );
  }
  assert.equal(
    effectiveCanary('report', false, 0.1, () => 0.05),
    'report',
  );
  assert.equal(
    effectiveCanary('report', false, 0.1, () => 0.5),
    'off',
  );
});
