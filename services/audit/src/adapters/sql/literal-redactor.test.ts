import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStatementRedactor, STATEMENT_WITHHELD } from './literal-redactor.js';

test('literals become ?, comments go, identifiers, keywords, operators and $n stay; doubt withholds', async () => {
  const redact = await createStatementRedactor();
  assert.equal(
    redact("SELECT id, \"Notes\" FROM patients WHERE ssn = '123-45-6789' AND id > 42 AND x = $1 -- john doe\n AND y->>'k' <> E'\\n'", 'postgresql'),
    'SELECT id, "Notes" FROM patients WHERE ssn = ? AND id > ? AND x = $1  \n AND y->>? <> ?',
  );
  assert.equal(redact("SELECT $$123-45-6789$$, B'101', X'1F', 4.5e3 /* mrn 123 */", 'postgresql'), 'SELECT ?, ?, ?, ?  ');
  assert.equal(redact("SELECT 'unterminated", 'postgresql'), STATEMENT_WITHHELD);
  // Snowflake: literals hidden by the conservative redactor; from an ambiguous escape on, everything.
  assert.equal(redact("SELECT ID FROM PATIENTS WHERE SSN = '078-05-1120' AND AGE > 90", 'snowflake'), 'SELECT ID FROM PATIENTS WHERE SSN = ? AND AGE > ?');
  assert.ok(!redact("SELECT 'a\\'b', 'Jane Doe'", 'snowflake').includes('Jane'));
  assert.equal(redact('SELECT 1', 'mysql'), STATEMENT_WITHHELD);
});
