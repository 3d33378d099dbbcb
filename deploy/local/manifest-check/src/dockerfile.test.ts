import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './checks.js';

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Array<{ op: string; args: string }> {
  const joined = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

const ins = instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stages = ins.filter((i) => i.op === 'FROM').map((i) => /\bAS\s+(\S+)/i.exec(i.args)?.[1]);

test('the Dockerfile builds every workspace once and assembles one runtime per workspace', () => {
  assert.deepEqual(stages, ['base', 'manifests', 'build', 'prod-deps', 'assemble', 'runtime']);
  const build = ins.slice(stages.indexOf('build'));
  assert.ok(
    build.some((i) => i.op === 'RUN' && i.args.includes('turbo run build')),
    'the build stage builds in dependency order',
  );
  assert.ok(
    ins.some((i) => i.op === 'RUN' && /npm ci --omit=dev .*--workspace/.test(i.args)),
    'production dependencies of one workspace only',
  );
});

test('the runtime runs as a numeric non-root user, with a health check and no secrets', () => {
  const start = ins.findIndex((i) => i.op === 'FROM' && /AS runtime$/i.test(i.args));
  const runtime = ins.slice(start);
  const user = runtime.filter((i) => i.op === 'USER').at(-1);
  assert.ok(user, 'USER is set');
  const [uid] = user.args.split(':');
  assert.match(uid!, /^[1-9][0-9]*$/, 'numeric, non-zero uid (Kubernetes can verify runAsNonRoot)');
  assert.ok(
    runtime.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('PHIGATE_HEALTH_URL')),
    'HEALTHCHECK on the service health endpoint',
  );
  assert.ok(!runtime.some((i) => i.op === 'RUN'), 'the runtime stage runs nothing: it only copies the assembled tree');
  for (const i of ins.filter((x) => x.op === 'ENV' || x.op === 'ARG')) {
    assert.doesNotMatch(i.args, /PASSWORD|SECRET|TOKEN|_KEY\b/i, `no secret in ${i.op} ${i.args}`);
  }
});

test('.dockerignore keeps host builds, state and secrets out of the build context', () => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of ['**/node_modules', '**/dist', '.phigate', '.git', 'deploy/compose/secrets', 'deploy/k8s/overlays/*/secrets'])
    assert.ok(ignored.includes(p), p);
});
