/** The Python driver (snowflake-connector-python) conformance script against the local warehouse. */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { demoToken, REPO_ROOT } from '@phigate/testkit';
import { describeTarget } from './conformance/target.js';
import { startWarehouse, type TestWarehouse } from './helpers.js';

let wh: TestWarehouse | undefined;
before(async () => {
  wh = await startWarehouse();
});
after(async () => {
  await wh?.stop();
});

test('Python snowflake-connector-python passes the conformance cases', async () => {
  const python = execFileSync('bash', [join(REPO_ROOT, 'deploy/local/bin/pydeps'), '--print'], { encoding: 'utf8' }).trim();
  assert.ok(existsSync(python), `the Python conformance venv is missing (${python}): run deploy/local/bin/pydeps (needs python3 and python3-venv)`);
  const dir = mkdtempSync(join(tmpdir(), 'conformance-py-'));
  try {
    const file = join(dir, 'target.json');
    const target = await describeTarget({
      kind: 'warehouse',
      host: '127.0.0.1',
      port: wh!.port,
      protocol: 'http',
      account: 'clinical-sf',
      auth: { kind: 'oauth', token: () => demoToken('etl-pipeline') },
      role: 'CLINICAL_READER',
      database: 'CLINICAL',
      schema: 'PUBLIC',
    });
    writeFileSync(file, JSON.stringify(target), { mode: 0o600 });
    // Asynchronously: the warehouse under test runs in this process and must keep answering.
    const r = await new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve) => {
      execFile(
        python,
        [join(REPO_ROOT, 'deploy/local/warehouse/conformance/python/conformance.py'), file],
        { encoding: 'utf8', timeout: 240_000 },
        (err, stdout, stderr) => resolve({ stdout, stderr, status: err ? ((err as { code?: number }).code ?? 1) : 0 }),
      );
    });
    const results = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { case?: string; status?: string; detail?: string; summary?: Record<string, number> });
    const failed = results.filter((x) => x.status === 'fail');
    assert.deepEqual(failed, [], `Python cases failed:\n${JSON.stringify(failed, null, 2)}\n${r.stderr.slice(-2000)}`);
    const summary = results.find((x) => x.summary)?.summary;
    assert.deepEqual(summary, { pass: 6, fail: 0, skip: 2 });
    assert.equal(r.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
