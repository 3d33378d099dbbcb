// phigate-test: stack
/** The Python driver (snowflake-connector-python) conformance script against the local warehouse. */
import { test } from 'node:test';
import { assertConformance, runPythonConformance } from './conformance/runners.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

const wh = useWarehouse();

test('Python snowflake-connector-python passes the conformance cases', async () => {
  assertConformance(await runPythonConformance(warehouseTarget(wh())), 'Python', { pass: 6, skip: 2 });
});
