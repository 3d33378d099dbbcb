// phigate-test: stack
/**
 * The Node driver conformance suite against the local warehouse (started in-process on port 0).
 * Another Snowflake-protocol endpoint (the gateway) calls nodeConformance with its own target.
 */
import { nodeConformance } from './conformance/node-suite.js';
import { useWarehouse, warehouseTarget } from './helpers.js';

const wh = useWarehouse();

nodeConformance(() => warehouseTarget(wh()));
