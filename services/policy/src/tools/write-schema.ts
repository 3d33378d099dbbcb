// Writes docs/policy.schema.json from the policy document schema:
//   node services/policy/dist/src/tools/write-schema.js           (write)
//   node services/policy/dist/src/tools/write-schema.js --check   (exit 1 if the file is stale)
// services/policy/test/policy-schema.test.ts fails when the committed file drifts from the code.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { policyJsonSchemaText, SCHEMA_PATH } from './policy-schema.js';

// dist/src/tools/ → repository root, wherever the command is run from.
const target = fileURLToPath(new URL(`../../../../../${SCHEMA_PATH}`, import.meta.url));
const text = policyJsonSchemaText();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== text) {
    console.error(`${SCHEMA_PATH} is out of date: run node services/policy/dist/src/tools/write-schema.js`);
    process.exit(1);
  }
  console.log(`${SCHEMA_PATH} is up to date`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${SCHEMA_PATH}`);
}
