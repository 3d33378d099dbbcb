import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppError } from '@phigate/errors';
import { Catalog } from '@phigate/sql';
import type { Binding } from './bindings.js';
import type { AuditPort, DomainEvent, PolicyPort, RateLimitPort, UpstreamPort } from './ports.js';
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

function service(
  audit: AuditPort,
  log: string[],
  over: { analysis?: Analysis; upstream?: UpstreamPort; bindings?: Binding[]; rateLimit?: RateLimitPort; policy?: PolicyPort } = {},
) {
  const upstream: UpstreamPort = over.upstream ?? {
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
    bindings: () => over.bindings ?? [{ groups: ['g'], connections: { c: 'writer' } }],
    analyse: () => over.analysis ?? write,
    policy: over.policy ?? { evaluate: async () => allow },
    upstream,
    masking: { open: () => assert.fail('nothing to mask: no masking call') },
    audit,
    rateLimit: over.rateLimit ?? { take: async () => ({ allowed: true, retryAfterSec: 0, resetsAt: '', perMinute: 1 }) },
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

test('a streamed read: its statement, decision and execution are recorded before the first row leaves, rows leave in batches, the outcome follows; a policy cap truncates, the streaming maximum fails', async () => {
  const read: Analysis = { ...write, statements: [{ ...write.statements[0]!, kind: 'select', tablesWritten: [] }] };
  const batch = (n: number) => Array.from({ length: 4 }, (_, i) => [String(n * 4 + i)]);
  const run = async (rowLimit: number) => {
    const log: string[] = [];
    const upstream: UpstreamPort = {
      catalog: async () => new Catalog('d', []),
      execute: async (_c, _r, _sql, _p, sink, opts) => {
        log.push(`execute maxRows=${opts.maxRows ?? 'none'}`);
        await sink.columns([{ name: 'id', type: 'int8' }]);
        for (let n = 0; n < 3; n++) if (!(await sink.rows(batch(n)))) break;
        return { command: 'SELECT', rowCount: 12, upstreamMs: 1, finish: async () => {} };
      },
    };
    const qs = new QueryService({
      connections: () => new Map([['c', { name: 'c', type: 'postgresql', dialect: 'postgresql', database: 'd', defaultSchema: 'public' }]]),
      bindings: () => [{ groups: ['g'], connections: { c: 'reader' } }],
      analyse: () => read,
      policy: { evaluate: async () => ({ ...allow, rowLimit }) },
      upstream,
      masking: { open: () => assert.fail('nothing to mask: no masking call') },
      audit: { record: async (_ctx, events) => void log.push(`audit ${events.map((e) => e.type).join(',')}`) },
      rateLimit: { take: async () => ({ allowed: true, retryAfterSec: 0, resetsAt: '', perMinute: 1 }) },
      limits: { maxSqlBytes: 1000, maxRows: 2, maxStreamRows: 10 },
    });
    const outcome = await qs
      .submit(
        { ...request, sql: 'SELECT id FROM claims' },
        {
          columns: (cols) => void log.push(`columns ${cols.map((c) => c.name)}`),
          rows: async (rows) => void log.push(`rows ${rows.length}`),
        },
      )
      .catch((e: { code: string }) => e.code);
    return { log, outcome: typeof outcome === 'string' ? outcome : outcome.kind === 'result' && [outcome.result.rowCount, outcome.result.truncated] };
  };
  const capped = await run(6);
  assert.deepEqual(capped.outcome, [6, true], 'the policy cap ends the stream, said to be truncated');
  assert.deepEqual(capped.log, [
    'execute maxRows=none',
    'audit query.received,policy.decided,query.executed',
    'columns id',
    'rows 4',
    'rows 2',
    'audit masking.applied,query.completed',
  ]);
  const over = await run(0);
  assert.equal(over.outcome, 'GATEWAY_RESULT_TOO_LARGE', 'past the streaming maximum (10, well above the buffered 2) the stream fails');
  assert.deepEqual(over.log.slice(1), ['audit query.received,policy.decided,query.executed', 'columns id', 'rows 4', 'rows 4', 'audit query.failed']);
});

/** A service whose statements are plain reads, and whose upstream fails when `fail` says so. */
function reader(audit: AuditPort, log: string[], fail?: Error) {
  const read: Analysis = { ...write, statements: [{ ...write.statements[0]!, kind: 'select', tablesWritten: [] }] };
  const upstream: UpstreamPort = {
    catalog: async () => new Catalog('d', []),
    execute: async (_c, _r, _sql, _p, sink, opts) => {
      log.push(`execute transaction=${opts.transaction}`);
      if (fail) throw fail;
      await sink.columns([{ name: 'id', type: 'int8' }]);
      await sink.rows([['1'], ['2']]);
      return { command: 'SELECT', rowCount: 2, upstreamMs: 1, finish: async () => {} };
    },
  };
  return service(audit, log, { analysis: read, upstream });
}

test('a read that runs without waiting is one record (query.served), durable before its rows are returned', async () => {
  const log: string[] = [];
  const recorded: DomainEvent[] = [];
  const audit: AuditPort = {
    record: async (_ctx, events) => {
      log.push(`audit ${events.map((e) => e.type).join(',')}`);
      recorded.push(...events);
    },
  };
  const result = await reader(audit, log).run({ ...request, sql: 'SELECT id FROM claims', queryTag: 'nightly' });
  assert.equal(result.rowCount, 2);
  assert.deepEqual(log, ['execute transaction=false', 'audit query.served']);
  const served = recorded[0] as Extract<DomainEvent, { type: 'query.served' }>;
  assert.equal(served.received.statement, 'SELECT id FROM claims');
  assert.equal(served.received.queryTag, 'nightly');
  assert.equal(served.decision.decisionId, 'd1');
  assert.deepEqual(served.executed.columns, ['id']);
  assert.deepEqual([served.completed.rows, served.leaks], [2, []]);
});

test('a read that fails upstream records its statement, decision and failure together', async () => {
  const log: string[] = [];
  const audit: AuditPort = { record: async (_ctx, events) => void log.push(`audit ${events.map((e) => e.type).join(',')}`) };
  await assert.rejects(reader(audit, log, new Error('connection reset')).run({ ...request, sql: 'SELECT id FROM claims' }), {
    code: 'GATEWAY_UPSTREAM_ERROR',
  });
  assert.deepEqual(log, ['execute transaction=false', 'audit query.received,policy.decided,query.failed']);
});

test('a read whose record cannot be written returns no row: the client is told the audit path is down', async () => {
  const log: string[] = [];
  const audit: AuditPort = {
    record: async () => {
      throw new Error('kafka down');
    },
  };
  await assert.rejects(reader(audit, log).run({ ...request, sql: 'SELECT id FROM claims' }), { code: 'GATEWAY_AUDIT_UNAVAILABLE' });
  assert.deepEqual(log, ['execute transaction=false']);
});

test('a NUL or a lone surrogate in the statement or a parameter is refused before anything is recorded', async () => {
  for (const [sql, params, where] of [
    ['SELECT 1\u0000', [], 'statement'],
    ["SELECT '\ud800'", [], 'statement'],
    ['SELECT $1', ['a\udc00b'], 'parameter 1'],
    ['SELECT $1, $2', ['ok', 'x\u0000'], 'parameter 2'],
  ] as const) {
    const log: string[] = [];
    await assert.rejects(
      service({ record: async () => void log.push('audit') }, log).run({ ...request, sql, params: [...params] }),
      (e: { code: string; details: { where: string } }) => {
        assert.equal(e.code, 'GATEWAY_SQL_INVALID_TEXT');
        assert.equal(e.details.where, where);
        return true;
      },
    );
    assert.deepEqual(log, [], 'nothing recorded, nothing run');
  }
  // A pair is well formed: an emoji is text like any other.
  const log: string[] = [];
  await service({ record: async () => undefined }, log).run({ ...request, sql: "UPDATE claims SET status = '😀' WHERE id = 1" });
  assert.deepEqual(log, ['execute transaction=true', 'commit']);
});

test("the rate limit is the binding's when it declares one, and the refusal says which limit and when it resets", async () => {
  const asked: (number | undefined)[] = [];
  const refuse: RateLimitPort = {
    take: async (_subject, perMinute) => {
      asked.push(perMinute);
      return { allowed: false, retryAfterSec: 17, resetsAt: '2026-12-07T20:00:00.000Z', perMinute: perMinute ?? 99 };
    },
  };
  const never: AuditPort = { record: async () => assert.fail('a refused statement records nothing') };
  const bound = service(never, [], { rateLimit: refuse, bindings: [{ groups: ['g'], connections: { c: 'writer' }, statementsPerMinute: 5 }] });
  await assert.rejects(bound.run(request), (e: AppError) => {
    assert.equal(e.code, 'GATEWAY_RATE_LIMITED');
    assert.equal(
      e.message,
      'rate limit reached: 5 statements per minute for this identity, set by the binding of groups g; it resets at 2026-12-07T20:00:00.000Z (in 17 s)',
    );
    assert.deepEqual(e.details, { retryAfterSec: 17, resetsAt: '2026-12-07T20:00:00.000Z', perMinute: 5, limit: 'binding' });
    return true;
  });
  await assert.rejects(service(never, [], { rateLimit: refuse }).run(request), (e: AppError) => {
    assert.match(e.message, /99 statements per minute for this identity, set by the gateway default \(GATEWAY_RATE_LIMIT_PER_MINUTE\)/);
    assert.equal(e.details.limit, 'default');
    return true;
  });
  assert.deepEqual(asked, [5, undefined]);
});

test('a purpose of use is checked against the binding before anything is recorded, then given to policy and recorded', async () => {
  const bindings: Binding[] = [{ groups: ['g'], connections: { c: 'writer' }, purposes: ['care'], purposeRequired: true }];
  const never: AuditPort = { record: async () => assert.fail('a refused purpose records nothing') };
  await assert.rejects(service(never, [], { bindings }).run(request), { code: 'GATEWAY_PURPOSE_REQUIRED' });
  await assert.rejects(service(never, [], { bindings }).run({ ...request, purpose: 'marketing' }), { code: 'GATEWAY_PURPOSE_NOT_ALLOWED' });
  const purposes: (string | undefined)[] = [];
  const policy: PolicyPort = {
    evaluate: async (req) => {
      purposes.push(req.purpose);
      return allow;
    },
  };
  const audit: AuditPort = { record: async (ctx) => void purposes.push(`recorded ${ctx.purpose}`) };
  await service(audit, [], { bindings, policy }).run({ ...request, purpose: 'care' });
  assert.deepEqual(purposes, ['care', 'recorded care', 'recorded care']);
});
