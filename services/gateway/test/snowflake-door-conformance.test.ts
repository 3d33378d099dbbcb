// phigate-test: stack
// The warehouse engineer's driver conformance suite (deploy/local/warehouse/test/conformance),
// pointed at the gateway's Snowflake door with the local warehouse upstream (clinical-sf): the
// Node driver in-process, the Python connector and the JDBC driver as child processes. All eight
// cases run, including the gateway-only ones: a masked column, and a held statement the client
// simply waits on while this process approves it in Slack.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { demoToken, need, REPO_ROOT } from '@phigate/testkit';
import type { Target } from '@phigate/warehouse/conformance';
import { heldStatement } from './fixtures/snowflake/held.js';

const built = (f: string) => {
  const file = join(REPO_ROOT, 'deploy/local/warehouse/dist/test/conformance', f);
  assert.ok(existsSync(file), `the conformance suite is not built: run node_modules/.bin/tsc -p deploy/local/warehouse/tsconfig.json (${file})`);
  return pathToFileURL(file).href;
};
// Loaded from the warehouse's build (not compiled into the gateway's): one copy of snowflake-sdk's setup.
const { nodeConformance } = (await import(built('node-suite.js'))) as { nodeConformance: (target: () => Target) => void };
type Run = { readonly results: unknown[] };
const { runPythonConformance, runJdbcConformance, assertConformance } = (await import(built('runners.js'))) as {
  runPythonConformance: (t: Target) => Promise<Run>;
  runJdbcConformance: (t: Target) => Promise<Run>;
  assertConformance: (run: Run, client: string, expected: { pass: number; skip: number }) => void;
};

/** The door as a conformance target: etl-pipeline on clinical-sf, with its own held statement. */
function gatewayTarget(): Target {
  const url = new URL(need('GATEWAY_URL'));
  return {
    kind: 'gateway',
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    account: 'clinical-sf',
    auth: { kind: 'oauth', token: () => demoToken('etl-pipeline') },
    database: 'CLINICAL',
    schema: 'PUBLIC',
    gateway: {
      masked: { sql: 'SELECT ID, SSN, EMAIL FROM CLINICAL.PUBLIC.PATIENTS WHERE ID = 1', rows: [[1, '[REDACTED]', '[REDACTED]']] },
      held: heldStatement(),
    },
  };
}

let node: Target | undefined;
nodeConformance(() => {
  node ??= gatewayTarget();
  return node;
});

test('Python snowflake-connector-python passes every conformance case through the gateway', async () => {
  assertConformance(await runPythonConformance(gatewayTarget()), 'Python', { pass: 8, skip: 0 });
});

test('JDBC snowflake-jdbc passes every conformance case through the gateway', async () => {
  assertConformance(await runJdbcConformance(gatewayTarget()), 'JDBC', { pass: 8, skip: 0 });
});
