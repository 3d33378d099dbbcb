// phigate-test: stack
// Issue 5 through the gateway: what the AI agent reads from the clinical tables carries no SSN,
// email, phone number, full date or five-digit ZIP; the ETL pipeline reading the same rows keeps
// what its policy allows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoToken, need } from '@phigate/testkit';

/** `purpose`: the purpose of use (X-Phigate-Purpose), which the analytics agent's binding requires. */
async function query(token: string, sql: string, purpose?: string) {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(purpose ? { 'x-phigate-purpose': purpose } : {}) },
    body: JSON.stringify({ connection: 'clinical-pg', sql }),
  });
  const body = (await res.json()) as { columns: Array<{ name: string; type: string; masking?: string }>; rows: unknown[][]; code?: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

const FORBIDDEN: Array<[string, RegExp]> = [
  ['ssn', /\b\d{3}-\d{2}-\d{4}\b/],
  ['email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/],
  ['phone', /(?:\(\d{3}\)\s?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b/],
  ['full date', /\b(?:19|20)\d{2}-\d{2}-\d{2}\b|\b\d{1,2}\/\d{1,2}\/(?:19|20)\d{2}\b/],
  ['five-digit ZIP', /\b\d{5}(?:-\d{4})?\b/],
];
const NUMERIC = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8']);

const QUERIES = [
  'SELECT id, mrn, first_name, last_name, dob, zip, phone, email, notes FROM patients ORDER BY id LIMIT 2000',
  'SELECT * FROM encounters ORDER BY id LIMIT 2000',
  'SELECT * FROM claims ORDER BY id LIMIT 2000',
];

test('every value the AI agent reads is free of SSNs, emails, phones, full dates and five-digit ZIPs', async () => {
  const agent = await demoToken('analytics-agent');
  let values = 0;
  for (const sql of QUERIES) {
    const r = await query(agent, sql, 'population-health');
    for (const [i, col] of r.columns.entries()) {
      // Numbers (ids, amounts) are not identifiers; tokens are opaque by design.
      if (NUMERIC.has(col.type) || col.masking === 'token') continue;
      for (const row of r.rows) {
        const v = row[i];
        if (v === null) continue;
        values++;
        for (const [what, re] of FORBIDDEN) assert.doesNotMatch(String(v), re, `${what} in ${col.name} (${col.masking ?? 'unmasked'}) for: ${sql}`);
      }
    }
  }
  assert.ok(values > 10_000, `checked ${values} values`);
});

test('the ETL pipeline reading the same rows keeps what its policy allows', async () => {
  const etl = await demoToken('etl-pipeline');
  const r = await query(etl, 'SELECT id, mrn, dob, zip, ssn, phone, email FROM patients ORDER BY id LIMIT 200');
  const col = (n: string) => r.columns.findIndex((c) => c.name === n);
  for (const row of r.rows) {
    assert.match(String(row[col('mrn')]), /^MRN-\d{7}$/, 'MRN kept');
    if (row[col('dob')] !== null) assert.match(String(row[col('dob')]), /^\d{4}-\d{2}-\d{2}$/, 'full date of birth kept');
    if (row[col('zip')] !== null) assert.match(String(row[col('zip')]), /^\d{5}$/, 'five-digit ZIP kept');
    if (row[col('ssn')] !== null) assert.equal(row[col('ssn')], '[REDACTED]');
    if (row[col('email')] !== null) assert.equal(row[col('email')], '[REDACTED]');
  }
});
