import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppError, CODES, retry, toAppError } from './index.js';

test('AppError takes kind, message and retriability from the registry', () => {
  const err = new AppError('GATEWAY_POLICY_UNAVAILABLE', { details: { requestId: 'r1' } });
  assert.equal(err.kind, 'UNAVAILABLE');
  assert.equal(err.retriable, true);
  assert.equal(err.httpStatus, 503);
  assert.equal(err.grpcStatus, 14);
  assert.deepEqual(err.toHttpBody(), {
    requestId: 'r1',
    statusCode: 503,
    code: 'GATEWAY_POLICY_UNAVAILABLE',
    error: 'UNAVAILABLE',
    message: CODES.GATEWAY_POLICY_UNAVAILABLE.message,
  });
});

test('toAppError wraps unknown errors without exposing their message', () => {
  const err = toAppError(new Error('password=hunter2'));
  assert.equal(err.code, 'COMMON_INTERNAL');
  assert.equal(err.message, 'internal error');
});

test('retry retries retriable errors only', async () => {
  let calls = 0;
  const out = await retry(
    async () => {
      calls++;
      if (calls < 3) throw new AppError('BUS_PUBLISH_FAILED');
      return 'ok';
    },
    { retries: 5, initialMs: 1, maxMs: 2 },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    retry(
      async () => {
        calls++;
        throw new AppError('GATEWAY_POLICY_DENIED');
      },
      { retries: 5, initialMs: 1, maxMs: 2 },
    ),
  );
  assert.equal(calls, 1);
});

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../../docs/errors.md', import.meta.url)), 'utf8');
  const missing = Object.keys(CODES).filter((c) => !doc.includes(`\`${c}\``));
  assert.deepEqual(missing, [], 'add these codes to docs/errors.md');
});
