// phigate-test: stack
// Rate limits per binding (issue 21, item 3) on the stack's own gateway, as deployed: the ETL
// identity's binding (deploy/local/gateway/connections.yaml) declares its statementsPerMinute, so a
// pgbench run through the PostgreSQL door is not stopped by the rate limit. The old global default
// (1,200 statements per minute) admitted at most 2,400 statements in any 30 s (two windows).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { demoToken, need } from '@phigate/testkit';

const run = promisify(execFile);

test('pgbench through the PostgreSQL door as the ETL identity for 30 s is not rate-limited', async () => {
  const [host, port] = need('GATEWAY_PG_ADDR').split(':');
  const script = join(mkdtempSync(join(tmpdir(), 'rl-bindings-')), 'point.sql');
  writeFileSync(script, '\\set id random(1, 10000)\nSELECT id, first_name FROM patients WHERE id = :id;\n');
  const r = await run(
    'pgbench',
    ['-n', '-M', 'extended', '-c', '4', '-j', '2', '-T', '30', '-f', script, `host=${host} port=${port} user=etl-pipeline dbname=clinical-pg sslmode=disable`],
    { env: { ...process.env, PGPASSWORD: await demoToken('etl-pipeline') } },
  ).catch((e: { stdout: string; stderr: string }) => assert.fail(`pgbench failed (is the stack up? bash deploy/local/bin/stack up):\n${e.stdout}${e.stderr}`));
  const done = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  assert.match(r.stdout, /number of failed transactions: 0 /, r.stdout);
  assert.doesNotMatch(r.stderr, /GATEWAY_RATE_LIMITED|rate limit/, r.stderr);
  assert.ok(done > 2400, `more statements than the old default could admit in 30 s; pgbench processed ${done}:\n${r.stdout}`);
  console.log(`pgbench: ${done} transactions in 30 s, ${/tps = ([\d.]+)/.exec(r.stdout)?.[1]} tps, 0 failed`);
});
