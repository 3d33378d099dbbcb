// The masking gRPC stream end to end (real server on port 0, generated client): Safe Harbor
// strategies, fail-closed refusals, and the leak canary in REPORT and BLOCK modes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AppError } from '@phigate/errors';
import { maskingV1 } from '@phigate/proto';
import { client, header, maskStream, startInProcess } from './helpers.js';

const S = maskingV1.Strategy;
let server: Awaited<ReturnType<typeof startInProcess>>;
let c: maskingV1.MaskingServiceClient;

before(async () => {
  server = await startInProcess();
  c = client(server.address);
});
after(() => {
  c.close();
  server.stop();
});

const rejectsWith = async (p: Promise<unknown>, code: string) => {
  await assert.rejects(p, (e: AppError) => {
    assert.equal(e.code, code);
    return true;
  });
};

test('Safe Harbor strategies through the stream: dates to year (90+), ZIP3 (000 for small areas), ages', async () => {
  const h = header([
    { index: 0, name: 'dob', strategy: S.STRATEGY_SAFE_HARBOR_DATE },
    { index: 1, name: 'zip', strategy: S.STRATEGY_SAFE_HARBOR_ZIP },
    { index: 2, name: 'age', strategy: S.STRATEGY_SAFE_HARBOR_AGE },
    { index: 3, name: 'admitted_at', strategy: S.STRATEGY_SAFE_HARBOR_DATE },
  ]);
  const { batches, report } = await maskStream(c, h, [
    [
      ['1987-03-14', '78758', '38', '2024-03-14 10:22:00+00'],
      ['1931-05-01', '05901-1234', '95', '03/14/2024'],
      [null, 'unknown', 'n/a', 'sometime'],
    ],
  ]);
  assert.deepEqual(batches[0], [
    ['1987', '787**', '38', '2024'],
    ['90+', '000**', '90+', '2024'],
    [null, '[REDACTED]', '[REDACTED]', '[REDACTED]'],
  ]);
  assert.equal(report.rows, 3);
  assert.deepEqual(
    report.columns.map((col) => [col.strategy, col.valuesMasked]),
    [
      [S.STRATEGY_SAFE_HARBOR_DATE, 2],
      [S.STRATEGY_SAFE_HARBOR_ZIP, 3],
      [S.STRATEGY_SAFE_HARBOR_AGE, 2],
      [S.STRATEGY_SAFE_HARBOR_DATE, 3],
    ],
  );
  assert.deepEqual(report.leaks, []);
});

test('a header the service cannot honour ends the stream with MASKING_STREAM_INVALID and no rows', async () => {
  await rejectsWith(maskStream(c, header([{ index: 0, name: 'x', strategy: S.STRATEGY_UNSPECIFIED }]), [[['a']]]), 'MASKING_STREAM_INVALID');
  await rejectsWith(
    maskStream(c, header([{ index: 0, name: 'dob', strategy: S.STRATEGY_SAFE_HARBOR_DATE }], { asOf: '' }), [[['1987-03-14']]]),
    'MASKING_STREAM_INVALID',
  );
  await rejectsWith(maskStream(c, header([], { asOf: 'tomorrow' }), [[['a']]]), 'MASKING_STREAM_INVALID');
  await rejectsWith(
    maskStream(
      c,
      header([
        { index: 0, name: 'a', strategy: S.STRATEGY_REDACT },
        { index: 0, name: 'a', strategy: S.STRATEGY_NONE },
      ]),
      [[['a']]],
    ),
    'MASKING_STREAM_INVALID',
  );
});

test('canary REPORT: rows flow, the report lists suspicions (column, detector, count), never values', async () => {
  const h = header(
    [
      { index: 0, name: 'id', strategy: S.STRATEGY_NONE },
      { index: 1, name: 'ssn', strategy: S.STRATEGY_REDACT },
      { index: 2, name: 'comment', strategy: S.STRATEGY_NONE },
    ],
    { canary: maskingV1.CanaryMode.CANARY_MODE_REPORT, requestId: 'req-report' },
  );
  const rows = [
    ['1', '912-34-5678', 'pt called from 555-201-3344'],
    ['2', '912-34-5679', 'mail jane@example.org, SSN 912-34-5670'],
    ['3', '912-34-5671', 'nothing to see'],
  ];
  const { batches, report } = await maskStream(c, h, [rows]);
  assert.deepEqual(
    batches[0]!.map((r) => r[2]),
    rows.map((r) => r[2]),
  );
  assert.deepEqual(report.leaks, [
    { index: 2, name: 'comment', detector: 'ssn', count: 1 },
    { index: 2, name: 'comment', detector: 'phone', count: 1 },
    { index: 2, name: 'comment', detector: 'email', count: 1 },
  ]);
  const line = server.logs.find((l) => l.msg === 'phi.leak_suspected' && l.requestId === 'req-report');
  assert.ok(line, 'a phi.leak_suspected log line');
  assert.ok(!JSON.stringify(server.logs).includes('555-201-3344') && !JSON.stringify(server.logs).includes('jane@'), 'logs never carry values');
});

test('canary BLOCK: the first hit ends the stream with MASKING_LEAK_BLOCKED; nothing after it is answered', async () => {
  const h = header(
    [
      { index: 0, name: 'id', strategy: S.STRATEGY_NONE },
      { index: 1, name: 'comment', strategy: S.STRATEGY_NONE },
    ],
    { canary: maskingV1.CanaryMode.CANARY_MODE_BLOCK },
  );
  // A clean stream passes.
  const ok = await maskStream(c, h, [[['1', 'fine']], [['2', 'also fine']]]);
  assert.equal(ok.report.rows, 2);
  // A leak in the second batch: the first batch was answered, the second never is; the gateway
  // holds every row until the report, so none is released.
  const answered: number[] = [];
  await rejectsWith(
    (async () => {
      const r = await maskStream(c, h, [[['1', 'fine']], [['2', 'call me at 415-555-0123']], [['3', 'fine']]]);
      answered.push(r.batches.length);
    })(),
    'MASKING_LEAK_BLOCKED',
  );
  assert.deepEqual(answered, []);
});

test('canary with visible PHI kinds: identifiers of those kinds pass unflagged, any other kind is flagged or blocked', async () => {
  // etl-pipeline's view of patients: MRN and birth date in clear, SSN redacted.
  const columns = [
    { index: 0, name: 'mrn', strategy: S.STRATEGY_NONE },
    { index: 1, name: 'dob', strategy: S.STRATEGY_NONE },
    { index: 2, name: 'ssn', strategy: S.STRATEGY_REDACT },
    { index: 3, name: 'comment', strategy: S.STRATEGY_NONE },
  ];
  const visiblePhiKinds = ['name', 'mrn', 'dob', 'zip'];
  const rows = [
    ['MRN-0012345', '1984-03-12', '912-34-5678', 'seen 2024-05-01'],
    ['MRN-0012346', '1990-11-02', '912-34-5679', 'SSN 912-34-5670 on file'],
  ];
  const report = header(columns, { canary: maskingV1.CanaryMode.CANARY_MODE_REPORT, visiblePhiKinds });
  const r = await maskStream(c, report, [rows]);
  assert.deepEqual(
    r.batches[0]!.map((x) => [x[0], x[1], x[3]]),
    rows.map((x) => [x[0], x[1], x[3]]),
  );
  assert.deepEqual(r.report.leaks, [{ index: 3, name: 'comment', detector: 'ssn', count: 1 }], 'dates and MRNs are visible; the SSN is not');
  const block = header(columns, { canary: maskingV1.CanaryMode.CANARY_MODE_BLOCK, visiblePhiKinds });
  assert.equal((await maskStream(c, block, [[rows[0]!]])).report.rows, 1, 'visible kinds do not block');
  await rejectsWith(maskStream(c, block, [[rows[0]!], [rows[1]!]]), 'MASKING_LEAK_BLOCKED');
});

test('canary off (or unspecified): no sampling, no leaks reported', async () => {
  const h = header([{ index: 0, name: 'comment', strategy: S.STRATEGY_NONE }], { canary: maskingV1.CanaryMode.CANARY_MODE_UNSPECIFIED });
  const { report } = await maskStream(c, h, [[['SSN 912-34-5678']]]);
  assert.deepEqual(report.leaks, []);
});

test('scrub, token and partial through the stream (byte paths and string paths agree with the contract)', async () => {
  const h = header([
    { index: 0, name: 'notes', strategy: S.STRATEGY_SCRUB },
    { index: 1, name: 'mrn', strategy: S.STRATEGY_TOKEN },
    { index: 2, name: 'phone', strategy: S.STRATEGY_PARTIAL, keepLast: 4 },
    { index: 3, name: 'name', strategy: S.STRATEGY_PARTIAL, keepLast: 2 },
  ]);
  const { batches } = await maskStream(c, h, [[['Pt called from 555-201-3344; SSN 912-34-5678.', 'MRN-0000001', '(555) 201-3344', 'Núñez']]]);
  const [notes, tok, phone, name] = batches[0]![0]!;
  assert.equal(notes, 'Pt called from [PHONE]; SSN [SSN].');
  assert.match(tok!, /^tok_k1_[A-Za-z0-9_-]{22}$/);
  assert.equal(phone, '(***) ***-3344');
  assert.equal(name, '***ez');
});
