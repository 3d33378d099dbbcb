/**
 * The Node driver conformance suite against the local warehouse (started in-process on port 0).
 * Point it at another Snowflake-protocol endpoint with CONFORMANCE_TARGET=gateway (see README.md).
 */
import { after, before } from 'node:test';
import { demoToken } from '@phigate/testkit';
import { nodeConformance } from './conformance/node-suite.js';
import type { Target } from './conformance/target.js';
import { startWarehouse, type TestWarehouse } from './helpers.js';

let wh: TestWarehouse | undefined;
let target: Target | undefined;

before(async () => {
  wh = await startWarehouse();
  target = {
    kind: 'warehouse',
    host: '127.0.0.1',
    port: wh.port,
    protocol: 'http',
    account: 'clinical-sf',
    auth: { kind: 'oauth', token: () => demoToken('etl-pipeline') },
    role: 'CLINICAL_READER',
    database: 'CLINICAL',
    schema: 'PUBLIC',
  };
});
after(async () => {
  await wh?.stop();
});

nodeConformance(() => {
  if (!target) throw new Error('the warehouse did not start');
  return target;
});
