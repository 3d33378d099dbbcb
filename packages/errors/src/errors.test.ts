import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');

test('every error code is documented in docs/errors.md', () => {
  const missing = Object.keys(CODES).filter((c) => !DOC.includes(`\`${c}\``));
  assert.deepEqual(missing, [], 'add these codes to docs/errors.md (npm run errors:docs)');
});

test('docs/errors.md documents no code that is not registered (its table is the registry, in order)', () => {
  const rows = [...DOC.matchAll(/^\| `([A-Z0-9_]+)` +\|/gm)].map((m) => m[1]);
  assert.deepEqual(rows, Object.keys(CODES), 'regenerate the table with npm run errors:docs');
  // Anywhere else on the page, a code-shaped name in backticks is a registered code (not a dead one).
  const prefixes = new Set(Object.keys(CODES).map((c) => c.slice(0, c.indexOf('_'))));
  const named = [...DOC.matchAll(/`([A-Z][A-Z0-9]*)_([A-Z0-9_]+)`/g)].filter((m) => prefixes.has(m[1]!)).map((m) => `${m[1]}_${m[2]}`);
  assert.deepEqual(
    named.filter((c) => !(c in CODES)),
    [],
  );
});

/** Every non-test TypeScript source of the workspaces (packages, services, deploy/local, tools). */
function sources(): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const group of ['packages', 'services', 'deploy/local', 'tools']) {
    for (const ws of readdirSync(join(ROOT, group))) {
      const src = join(ROOT, group, ws, 'src');
      if (!existsSync(src)) continue;
      for (const f of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
        if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f.startsWith('gen/')) continue;
        out.push({ path: join(group, ws, 'src', f), text: readFileSync(join(src, f), 'utf8') });
      }
    }
  }
  return out;
}

test('every registered code is raised somewhere: named as a string outside the registry and the tests', () => {
  const code = sources()
    .filter((f) => f.path !== join('packages', 'errors', 'src', 'codes.ts'))
    .map((f) => f.text)
    .join('\n');
  const unused = Object.keys(CODES).filter((c) => !new RegExp(`['"\`]${c}['"\`]`).test(code));
  assert.deepEqual(unused, [], 'raise these codes, or remove them from the registry and docs/errors.md (a code is never reused)');
});
