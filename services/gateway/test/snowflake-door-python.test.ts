// phigate-test: stack
// The acceptance of issue 8 with the official Python connector (snowflake-connector-python, from
// the venv that deploy/local/bin/pydeps creates): masked rows, DROP TABLE refused as a
// ProgrammingError with SQLSTATE 42501, and a held statement that completes after an approval.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliverClick, signedClick } from '@phigate/slack-sink/click';
import { demoToken, eventually, need } from '@phigate/testkit';
import { runPython } from './fixtures/snowflake/clients.js';

const ACCOUNT = 'clinical-sf';

test('Python: snowflake.connector.connect(account=…, protocol="http", authenticator="oauth", token=…) through the gateway', async (t) => {
  const url = new URL(need('GATEWAY_URL'));
  const since = ((await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as unknown[]).length;
  const run = runPython(t, 'acceptance.py', [url.hostname, url.port, ACCOUNT, await demoToken('etl-pipeline'), await demoToken('analytics-agent')]);
  const { steps } = run;

  await eventually('the Python client to reach the held statement', async () => (steps['held-started'] ? true : undefined));
  const approvalId = await eventually('the approval message in the Slack sink', async () => {
    const all = (await (await fetch(`${need('SLACK_SINK_URL')}/messages`)).json()) as Array<{
      blocks?: Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>;
    }>;
    for (const m of all.slice(since)) {
      const approve = m.blocks?.find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === 'approve');
      if (approve && JSON.stringify(m).includes(ACCOUNT)) return approve.value;
    }
    return undefined;
  });
  const click = signedClick({ approvalUrl: need('APPROVAL_URL'), secret: need('SLACK_SIGNING_SECRET'), user: 'U0BOB', action: 'approve', approvalId });
  assert.equal((await deliverClick(need('APPROVAL_URL'), click)).body.outcome, 'granted');
  assert.equal(await run.done, 0, `the Python script failed:\n${run.stderr()}`);

  assert.deepEqual(
    steps.masked.rows.map((r: unknown[]) => r.slice(0, 2)),
    [
      [1, '[REDACTED]'],
      [2, '[REDACTED]'],
      [3, '[REDACTED]'],
    ],
  );
  assert.equal(steps.drop.refused, true);
  assert.equal(steps.drop.errno, 3001);
  assert.equal(steps.drop.sqlstate, '42501');
  assert.match(steps.drop.msg, /block-ddl/);
  assert.deepEqual(steps.held.rows, [[7, '[REDACTED]']]);
});
