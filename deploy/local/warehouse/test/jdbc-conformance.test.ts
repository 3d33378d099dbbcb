// phigate-test: stack
/** The JDBC driver (net.snowflake:snowflake-jdbc) conformance program against the local warehouse. */
import { test } from 'node:test';
import { assertConformance, runJdbcConformance } from './conformance/runners.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

const wh = useWarehouse();

test('JDBC snowflake-jdbc passes the conformance cases', async () => {
  assertConformance(await runJdbcConformance(warehouseTarget(wh())), 'JDBC', { pass: 6, skip: 2 });
});
