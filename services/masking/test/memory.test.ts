// One million rows through the real masking gRPC server (a child process): its peak RSS, sampled
// every 10 ms by the server process itself, must grow by less than 200 MB over its idle baseline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRow, maskingV1 } from '@phigate/proto';
import { PATIENT_COLUMNS, patientRow } from '../src/load/index.js';
import { encodeRequest, rawMaskStream, startChild } from './helpers.js';

const ROWS = 1_000_000;
const BATCH = 500;

test('one million rows stream through masking with flat memory (peak RSS growth < 200 MB)', { timeout: 300_000 }, async () => {
  const server = await startChild();
  try {
    const header = encodeRequest({
      msg: {
        $case: 'header',
        value: {
          requestId: 'memory',
          asOf: '2026-06-30',
          canary: maskingV1.CanaryMode.CANARY_MODE_REPORT,
          visiblePhiKinds: [],
          columns: PATIENT_COLUMNS.map((c, index) => ({ index, name: c.name, strategy: c.strategy, keepLast: c.keepLast ?? 0 })),
        },
      },
    });
    // 40 distinct batches (20,000 distinct rows), cycled.
    const batches = Array.from({ length: 40 }, (_, b) =>
      encodeRequest({ msg: { $case: 'rows', value: { rows: Array.from({ length: BATCH }, (_, k) => encodeRow(patientRow(b * BATCH + k))) } } }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const before = await server.stats();
    await server.resetPeak();
    const t0 = process.hrtime.bigint();
    let checked = false;
    const report = await rawMaskStream(
      server.address,
      header,
      (function* () {
        for (let i = 0; i < ROWS / BATCH; i++) yield batches[i % batches.length]!;
      })(),
      (answer) => {
        if (checked) return;
        const res = maskingV1.MaskResponse.decode(answer);
        const first = res.msg?.$case === 'rows' ? res.msg.value.rows[0] : undefined;
        assert.equal(first?.values[2], '[REDACTED]');
        checked = true;
      },
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const after = await server.stats();
    const growthMb = (after.peakRss - before.rss) / 2 ** 20;
    const cpu = (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1e6;
    console.log(
      `1M rows: ${seconds.toFixed(1)} s (${Math.round(ROWS / seconds)} rows/s wall, ${Math.round(ROWS / cpu)} rows per server CPU-second); ` +
        `server RSS ${(before.rss / 2 ** 20).toFixed(0)} MB idle, peak ${(after.peakRss / 2 ** 20).toFixed(0)} MB, growth ${growthMb.toFixed(1)} MB`,
    );
    assert.equal(Number(report.rows), ROWS);
    assert.ok(growthMb < 200, `peak RSS grew by ${growthMb.toFixed(1)} MB`);
  } finally {
    server.stop();
  }
});
