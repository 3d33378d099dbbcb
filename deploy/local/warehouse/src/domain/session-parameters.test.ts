import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quotedIgnoreCaseChange } from './session-parameters.js';

test('ALTER SESSION of QUOTED_IDENTIFIERS_IGNORE_CASE: set, unset, or not named (a QUERY_TAG naming it does not count)', () => {
  assert.equal(quotedIgnoreCaseChange('ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE'), true);
  assert.equal(quotedIgnoreCaseChange("alter session set query_tag = 'x' quoted_identifiers_ignore_case=false"), false);
  assert.equal(quotedIgnoreCaseChange('ALTER SESSION UNSET TIMEZONE, QUOTED_IDENTIFIERS_IGNORE_CASE'), null);
  assert.equal(quotedIgnoreCaseChange("ALTER SESSION SET QUERY_TAG = 'QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE'"), undefined);
  assert.equal(quotedIgnoreCaseChange('ALTER SESSION SET TIMEZONE = 1'), undefined);
  assert.equal(quotedIgnoreCaseChange('SELECT 1'), undefined);
});
