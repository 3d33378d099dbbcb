import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import {
  analysisOptions,
  autocommitOff,
  classifySession,
  loginSettings,
  parameterRows,
  purposeOfQueryTag,
  upstreamSettings,
  withSessionParameters,
} from './session-statements.js';

const refusal = (sql: string) => {
  try {
    classifySession(sql);
  } catch (err) {
    assert.ok(isAppError(err));
    assert.equal(err.code, 'GATEWAY_SF_SESSION_PARAMETER_REFUSED');
    return err.message;
  }
  assert.fail(`${sql} was not refused`);
};

test('transaction control in the forms drivers and people send it', () => {
  for (const sql of ['BEGIN', 'begin;', 'BEGIN TRANSACTION', 'begin work', 'START TRANSACTION', 'BEGIN TRANSACTION NAME t1', '/* JDBC */ begin'])
    assert.deepEqual(classifySession(sql), { kind: 'begin' }, sql);
  for (const sql of ['COMMIT', 'commit work;', '-- done\nCOMMIT']) assert.deepEqual(classifySession(sql), { kind: 'commit' }, sql);
  for (const sql of ['ROLLBACK', ' rollback ;']) assert.deepEqual(classifySession(sql), { kind: 'rollback' }, sql);
});

test('any other statement is not a session statement', () => {
  for (const sql of ['SELECT 1', "SELECT 'BEGIN'", 'BEGIN; SELECT 1', 'COMMIT AND CHAIN', 'ALTER TABLE T SET X = 1', 'SHOW PARAMETERS IN ACCOUNT', 'USE'])
    assert.equal(classifySession(sql), undefined, sql);
});

test('ALTER SESSION SET: the drivers’ forms, several at once, values normalised', () => {
  // Python: `ALTER SESSION SET autocommit=false`; JDBC with a comment; dbt's lower case.
  assert.deepEqual(classifySession('ALTER SESSION SET autocommit=false'), { kind: 'set', values: { AUTOCOMMIT: 'false' } });
  assert.deepEqual(classifySession('alter session /* JDBC:SnowflakeConnectionV1.setAutoCommit*/ set autocommit=true'), {
    kind: 'set',
    values: { AUTOCOMMIT: 'true' },
  });
  assert.deepEqual(classifySession('alter session set quoted_identifiers_ignore_case = false'), {
    kind: 'set',
    values: { QUOTED_IDENTIFIERS_IGNORE_CASE: 'false' },
  });
  assert.deepEqual(classifySession("ALTER SESSION SET QUERY_TAG = 'it''s etl' TIMEZONE = 'America/New_York', STATEMENT_TIMEOUT_IN_SECONDS = 60;"), {
    kind: 'set',
    values: { QUERY_TAG: "it's etl", TIMEZONE: 'America/New_York', STATEMENT_TIMEOUT_IN_SECONDS: '60' },
  });
  assert.deepEqual(classifySession("ALTER SESSION SET binary_output_format = 'base64'"), { kind: 'set', values: { BINARY_OUTPUT_FORMAT: 'BASE64' } });
});

test('ALTER SESSION UNSET names allowed parameters', () => {
  assert.deepEqual(classifySession('ALTER SESSION UNSET QUERY_TAG, timezone'), { kind: 'unset', names: ['QUERY_TAG', 'TIMEZONE'] });
});

test('ALTER SESSION outside the allow-list, or with a value the door refuses, names the parameter and what is allowed', () => {
  assert.match(refusal('ALTER SESSION SET USE_CACHED_RESULT = FALSE'), /'USE_CACHED_RESULT'.*allows: AUTOCOMMIT, .*QUERY_TAG, TIMEZONE/);
  assert.match(refusal('ALTER SESSION UNSET ROWS_PER_RESULTSET'), /'ROWS_PER_RESULTSET'/);
  assert.match(refusal("ALTER SESSION SET BINARY_OUTPUT_FORMAT = 'XML'"), /'BINARY_OUTPUT_FORMAT'.*accepts only HEX or BASE64/);
  assert.match(refusal("ALTER SESSION SET TIMEZONE = 'Mars/Olympus'"), /IANA time zone/);
  assert.match(refusal('ALTER SESSION SET AUTOCOMMIT = maybe'), /boolean/);
  assert.match(refusal('ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = -1'), /whole number/);
  assert.match(refusal('ALTER SESSION SET QUERY_TAG'), /needs a value/);
  assert.match(refusal("ALTER SESSION SET QUERY_TAG = 'open"), /could not be read/);
  assert.match(refusal('ALTER SESSION'), /SET or UNSET/);
});

test('USE: warehouse, database, schema (qualified or not), role and secondary roles', () => {
  assert.deepEqual(classifySession('USE WAREHOUSE compute_wh'), { kind: 'use', object: 'WAREHOUSE', name: 'COMPUTE_WH' });
  assert.deepEqual(classifySession('use database clinical'), { kind: 'use', object: 'DATABASE', name: 'CLINICAL' });
  assert.deepEqual(classifySession('USE clinical'), { kind: 'use', object: 'DATABASE', name: 'CLINICAL' });
  assert.deepEqual(classifySession('USE SCHEMA clinical."Public"'), { kind: 'use', object: 'SCHEMA', database: 'CLINICAL', name: 'Public' });
  assert.deepEqual(classifySession('USE clinical.public'), { kind: 'use', object: 'SCHEMA', database: 'CLINICAL', name: 'PUBLIC' });
  assert.deepEqual(classifySession('USE ROLE sysadmin'), { kind: 'use', object: 'ROLE', name: 'SYSADMIN' });
  assert.deepEqual(classifySession('USE SECONDARY ROLES ALL'), { kind: 'use', object: 'SECONDARY ROLES', name: 'ALL' });
});

test('settings: what the upstream gets (SQL literals), what drivers read back, AUTOCOMMIT', () => {
  const settings = {
    AUTOCOMMIT: 'false',
    QUERY_TAG: "it's",
    TIMEZONE: 'Europe/Paris',
    STATEMENT_TIMEOUT_IN_SECONDS: '30',
    QUOTED_IDENTIFIERS_IGNORE_CASE: 'false',
  };
  // QUOTED_IDENTIFIERS_IGNORE_CASE reaches the upstream (names resolve there as in the analyser).
  assert.deepEqual(upstreamSettings(settings), {
    QUERY_TAG: "'it''s'",
    TIMEZONE: "'Europe/Paris'",
    STATEMENT_TIMEOUT_IN_SECONDS: '30',
    QUOTED_IDENTIFIERS_IGNORE_CASE: 'false',
  });
  assert.equal(autocommitOff(settings), true);
  assert.equal(autocommitOff(undefined), false);
  assert.equal(analysisOptions(settings), undefined);
  assert.deepEqual(analysisOptions({ QUOTED_IDENTIFIERS_IGNORE_CASE: 'true' }), { quotedIdentifiersIgnoreCase: true });
  const params = withSessionParameters(
    [
      { name: 'TIMEZONE', value: 'Etc/UTC' },
      { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
    ],
    settings,
  );
  assert.deepEqual(params, [
    { name: 'TIMEZONE', value: 'Europe/Paris' },
    { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
    { name: 'AUTOCOMMIT', value: false },
    { name: 'QUERY_TAG', value: "it's" },
    { name: 'STATEMENT_TIMEOUT_IN_SECONDS', value: 30 },
    { name: 'QUOTED_IDENTIFIERS_IGNORE_CASE', value: false },
  ]);
  assert.deepEqual(withSessionParameters(undefined, undefined), [{ name: 'AUTOCOMMIT', value: true }]);
});

test('SHOW PARAMETERS [LIKE …] [IN SESSION]: the allow-list with the session’s values', () => {
  assert.deepEqual(classifySession("SHOW PARAMETERS LIKE 'time%' IN SESSION"), { kind: 'show-parameters', like: 'time%' });
  assert.deepEqual(classifySession('show parameters'), { kind: 'show-parameters' });
  assert.equal(classifySession('SHOW PARAMETERS IN ACCOUNT'), undefined);
  assert.deepEqual(
    parameterRows({ TIMEZONE: 'Europe/Paris' }, 'time%').map((r) => r.slice(0, 4)),
    [
      ['TIME_INPUT_FORMAT', 'AUTO', 'AUTO', ''],
      ['TIME_OUTPUT_FORMAT', 'HH24:MI:SS', 'HH24:MI:SS', ''],
      ['TIMESTAMP_INPUT_FORMAT', 'AUTO', 'AUTO', ''],
      ['TIMESTAMP_LTZ_OUTPUT_FORMAT', '', '', ''],
      ['TIMESTAMP_NTZ_OUTPUT_FORMAT', 'YYYY-MM-DD HH24:MI:SS.FF3', 'YYYY-MM-DD HH24:MI:SS.FF3', ''],
      ['TIMESTAMP_OUTPUT_FORMAT', 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM', 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM', ''],
      ['TIMESTAMP_TZ_OUTPUT_FORMAT', '', '', ''],
      ['TIMEZONE', 'Europe/Paris', 'Etc/UTC', 'SESSION'],
    ],
  );
  assert.equal(parameterRows(undefined, 'auto_ommit').length, 1, '_ is one character');
  assert.deepEqual(parameterRows(undefined, 'autoommit'), []);
});

test('login SESSION_PARAMETERS: allow-listed ones set as ALTER SESSION would, the drivers’ own ignored, a refused value refuses', () => {
  assert.deepEqual(loginSettings({ AUTOCOMMIT: false, query_tag: "it's", CLIENT_SESSION_KEEP_ALIVE: false, STATEMENT_TIMEOUT_IN_SECONDS: 30 }), {
    AUTOCOMMIT: 'false',
    QUERY_TAG: "it's",
    STATEMENT_TIMEOUT_IN_SECONDS: '30',
  });
  assert.equal(loginSettings({ CLIENT_REQUEST_MFA_TOKEN: false }), undefined);
  assert.equal(loginSettings(undefined), undefined);
  assert.deepEqual(loginSettings({ QUOTED_IDENTIFIERS_IGNORE_CASE: true }), { QUOTED_IDENTIFIERS_IGNORE_CASE: 'true' });
  assert.throws(() => loginSettings({ BINARY_OUTPUT_FORMAT: 'XML' }), /accepts only HEX or BASE64/);
});

test('QUERY_TAG states a purpose of use as its purpose=… item; other labels may share the tag', () => {
  assert.equal(purposeOfQueryTag('purpose=care-quality'), 'care-quality');
  assert.equal(purposeOfQueryTag('job=nightly;purpose=population-health'), 'population-health');
  assert.equal(purposeOfQueryTag('job=nightly, PURPOSE=ops'), 'ops');
  assert.equal(purposeOfQueryTag('care-quality'), undefined);
  assert.equal(purposeOfQueryTag('mypurpose=x'), undefined);
  assert.equal(purposeOfQueryTag(undefined), undefined);
});
