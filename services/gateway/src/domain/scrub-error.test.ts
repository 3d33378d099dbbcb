// The scrubber against real upstream error texts: PostgreSQL 17 (node-postgres DatabaseError
// fields), DuckDB as the local warehouse passes it on, and Snowflake's documented messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '@phigate/errors';
import { ScrubbedUpstreamCause, scrubUpstreamError, statementNames, type UpstreamErrorLike, upstreamText, withScrubbedUpstream } from './scrub-error.js';

/** Every value a case may hold: none of them may survive in any field that leaves. */
const SECRETS = ['123-45-6789', 'Jane Doe', 'jane@example.com', "O'Brien", 'ssn-1', 'paid', '99999999999', '2020-13-45', 'u1', '999999', 'abcdefghijkl'];

function leaves(s: ReturnType<typeof scrubUpstreamError>): string {
  return JSON.stringify(s);
}

function assertNoSecret(s: ReturnType<typeof scrubUpstreamError>, values: string[] = SECRETS): void {
  const text = leaves(s);
  for (const v of values) assert.ok(!text.includes(JSON.stringify(v).slice(1, -1)), `"${v}" leaked in ${text}`);
}

const pg = (code: string, message: string, extra: Partial<Record<'detail' | 'hint' | 'where' | 'routine', string>> = {}): UpstreamErrorLike => ({
  code,
  message,
  ...extra,
});

test('PostgreSQL invalid input syntax: the value goes, the type and the SQLSTATE stay', () => {
  const cases: Array<[UpstreamErrorLike, string]> = [
    [pg('22P02', 'invalid input syntax for type integer: "123-45-6789"'), 'invalid input syntax for type integer: "?"'],
    [pg('22P02', 'invalid input syntax for type integer: "Jane Doe"'), 'invalid input syntax for type integer: "?"'],
    [pg('22P02', 'invalid input syntax for type numeric: "abc"'), 'invalid input syntax for type numeric: "?"'],
    [pg('22P02', 'invalid input syntax for type uuid: "123-45-6789"'), 'invalid input syntax for type uuid: "?"'],
    [pg('22007', 'invalid input syntax for type timestamp with time zone: "xyz"'), 'invalid input syntax for type timestamp with time zone: "?"'],
    [pg('22007', `invalid input syntax for type date: "O'Brien"`), 'invalid input syntax for type date: "?"'],
    // PostgreSQL does not escape quotes or newlines inside the value.
    [pg('22P02', 'invalid input syntax for type integer: ""quoted""'), 'invalid input syntax for type integer: "?"'],
    [pg('22P02', 'invalid input syntax for type integer: "a\nJane Doe"'), 'invalid input syntax for type integer: "?"'],
    [pg('22P02', 'invalid input syntax for type integer: ""'), 'invalid input syntax for type integer: "?"'],
    [pg('22P02', 'invalid input value for enum claim_status: "jane@example.com"'), 'invalid input value for enum claim_status: "?"'],
    [pg('22P02', 'malformed array literal: "{1,2"', { detail: 'Unexpected end of input.' }), 'malformed array literal: "?"'],
    [pg('22P02', '"a" is not a valid binary digit'), '"?" is not a valid binary digit'],
  ];
  for (const [err, message] of cases) {
    const s = scrubUpstreamError(err);
    assert.equal(s.message, message);
    assert.equal(s.sqlState, err.code);
    assert.equal(s.withheld, false);
    assertNoSecret(s);
  }
});

test('PostgreSQL out-of-range and date/time messages', () => {
  const cases: Array<[string, string, string]> = [
    ['22003', 'value "99999999999" is out of range for type integer', 'value "?" is out of range for type integer'],
    ['22003', '"1e400" is out of range for type double precision', '"?" is out of range for type double precision'],
    ['22008', 'date/time field value out of range: "2020-13-45"', 'date/time field value out of range: "?"'],
    ['22008', 'date/time field value out of range: "2021-02-29T10:00:00"', 'date/time field value out of range: "?"'],
    ['22008', 'date out of range: "5874898-01-01"', 'date out of range: "?"'],
    ['22008', 'timestamp out of range: "294277-01-01"', 'timestamp out of range: "?"'],
    ['22008', 'date field value out of range: 2020-13-01', 'date field value out of range: ?'],
    ['22007', 'invalid value "Jane Doe" for "HH24"', 'invalid value "?" for "HH24"'],
    ['22023', 'time zone "mars/olympus" not recognized', 'time zone "?" not recognized'],
    ['22023', 'invalid value for parameter "TimeZone": "Mars/Olympus"', 'invalid value for parameter "TimeZone": "?"'],
    ['22023', 'invalid hexadecimal digit: "Z"', 'invalid hexadecimal digit: "?"'],
    ['22023', 'invalid symbol "!" found while decoding base64 sequence', 'invalid symbol "?" found while decoding base64 sequence'],
    ['22023', 'unrecognized encoding: "nope"', 'unrecognized encoding: "?"'],
    ['22023', 'invalid regular expression option: "z"', 'invalid regular expression option: "?"'],
  ];
  for (const [code, message, expected] of cases) {
    const s = scrubUpstreamError(pg(code, message));
    assert.equal(s.message, expected, message);
    assertNoSecret(s, ['99999999999', '1e400', '2020-13-45', '2021-02-29', '5874898', '294277', '2020-13-01', 'Jane Doe', 'Olympus', 'nope']);
  }
  const hint = scrubUpstreamError(
    pg('22008', 'date/time field value out of range: "2020-13-45"', { hint: 'Perhaps you need a different "datestyle" setting.' }),
  );
  assert.equal(hint.hint, 'Perhaps you need a different "datestyle" setting.', 'a value-free hint is kept');
});

test('PostgreSQL value-free messages are kept as they are (division by zero, overflow, value too long, bad regex)', () => {
  for (const [code, message] of [
    ['22012', 'division by zero'],
    ['22003', 'integer out of range'],
    ['22003', 'smallint out of range'],
    ['22003', 'bigint out of range'],
    ['22008', 'interval out of range'],
    ['22001', 'value too long for type character varying(10)'],
    ['22001', 'value too long for type character(1)'],
    ['2201B', 'invalid regular expression: parentheses () not balanced'],
    ['2201B', 'invalid regular expression: invalid character range'],
    ['2201E', 'cannot take logarithm of a negative number'],
    ['22011', 'negative substring length not allowed'],
    ['22000', 'range lower bound must be less than or equal to range upper bound'],
    ['22023', 'cannot cast jsonb string to type integer'],
  ]) {
    const s = scrubUpstreamError(pg(code!, message!));
    assert.equal(s.message, message);
    assert.equal(s.withheld, false);
  }
  const overflow = scrubUpstreamError(
    pg('22003', 'numeric field overflow', { detail: 'A field with precision 4, scale 2 must round to an absolute value less than 10^2.' }),
  );
  assert.deepEqual(overflow, {
    sqlState: '22003',
    message: 'numeric field overflow',
    detail: 'A field with precision 4, scale 2 must round to an absolute value less than 10^2.',
    withheld: false,
  });
});

test('PostgreSQL integrity violations: constraint and relation names stay, DETAIL loses its key and row values', () => {
  const cases: Array<[UpstreamErrorLike, string, string]> = [
    [
      pg('23505', 'duplicate key value violates unique constraint "claims_pkey"', { detail: 'Key (id)=(5) already exists.' }),
      'duplicate key value violates unique constraint "claims_pkey"',
      'Key (id)=(?) already exists.',
    ],
    [
      pg('23505', 'duplicate key value violates unique constraint "t_u_key"', { detail: 'Key (u)=(u1) already exists.' }),
      'duplicate key value violates unique constraint "t_u_key"',
      'Key (u)=(?) already exists.',
    ],
    [
      pg('23505', 'duplicate key value violates unique constraint "patients_email_lower"', {
        detail: 'Key (lower(email::text))=(jane@example.com) already exists.',
      }),
      'duplicate key value violates unique constraint "patients_email_lower"',
      'Key (lower(email::text))=(?) already exists.',
    ],
    [
      pg('23505', 'duplicate key value violates unique constraint "pair_key"', { detail: 'Key (a, b)=(Jane Doe, 123-45-6789) already exists.' }),
      'duplicate key value violates unique constraint "pair_key"',
      'Key (a, b)=(?) already exists.',
    ],
    [
      pg('23514', 'new row for relation "claims" violates check constraint "claims_amount_check"', {
        detail: 'Failing row contains (5, Jane Doe, 1.00, 2020-01-01, -5, 1, 123-45-6789, 2026-12-07 07:05:28.414632+00, x).',
      }),
      'new row for relation "claims" violates check constraint "claims_amount_check"',
      'Failing row contains (?).',
    ],
    [
      pg('23503', 'insert or update on table "t" violates foreign key constraint "t_p_fkey"', { detail: 'Key (p)=(999999) is not present in table "par".' }),
      'insert or update on table "t" violates foreign key constraint "t_p_fkey"',
      'Key (p)=(?) is not present in table "par".',
    ],
    [
      pg('23503', 'update or delete on table "par" violates foreign key constraint "t_p_fkey" on table "t"', {
        detail: 'Key (id)=(1) is still referenced from table "t".',
      }),
      'update or delete on table "par" violates foreign key constraint "t_p_fkey" on table "t"',
      'Key (id)=(?) is still referenced from table "t".',
    ],
    [
      pg('23502', 'null value in column "s" of relation "t" violates not-null constraint', {
        detail: 'Failing row contains (7, null, 1.00, 2020-01-01, 1, 1, u7, 2026-12-07 07:05:28.416354+00, x).',
      }),
      'null value in column "s" of relation "t" violates not-null constraint',
      'Failing row contains (?).',
    ],
    [
      pg('23P01', 'conflicting key value violates exclusion constraint "ex_r_excl"', { detail: 'Key (r)=([2,3)) conflicts with existing key (r)=([1,5)).' }),
      'conflicting key value violates exclusion constraint "ex_r_excl"',
      'Key (r)=(?) conflicts with existing key (r)=(?).',
    ],
  ];
  for (const [err, message, detail] of cases) {
    const s = scrubUpstreamError(err);
    assert.equal(s.message, message);
    assert.equal(s.detail, detail);
    assert.equal(s.sqlState, err.code);
    assertNoSecret(s);
    assert.ok(!leaves(s).includes('2020-01-01') && !leaves(s).includes('999999') && !leaves(s).includes('[1,5)'));
  }
});

test('PostgreSQL: WHERE (PL/pgSQL context) never leaves; RAISE text is withheld whole', () => {
  const json = scrubUpstreamError(
    pg('22P02', 'invalid input syntax for type json', { detail: 'Token "Jane" is invalid.', where: 'JSON data, line 1: {"name": Jane Doe' }),
  );
  assert.deepEqual(json, { sqlState: '22P02', message: 'invalid input syntax for type json', detail: 'Token "?" is invalid.', withheld: false });

  const inFunction = scrubUpstreamError(
    pg('22P02', 'invalid input syntax for type integer: "123-45-6789"', { where: 'PL/pgSQL function inline_code_block line 1 at PERFORM' }),
  );
  assert.equal(inFunction.message, 'invalid input syntax for type integer: "?"');
  assert.ok(!('where' in inFunction));

  for (const err of [
    pg('P0001', 'boom 42', { where: 'PL/pgSQL function inline_code_block line 1 at RAISE', routine: 'exec_stmt_raise' }),
    // RAISE can use any SQLSTATE: the routine tells.
    pg('23505', 'patient Jane Doe already has ssn 123-45-6789', { detail: 'Jane Doe', hint: 'call Jane', routine: 'exec_stmt_raise' }),
    pg('P0004', 'assertion failed for Jane Doe', { routine: 'exec_stmt_assert' }),
  ]) {
    const s = scrubUpstreamError(err);
    assert.equal(s.withheld, true);
    assert.equal(s.sqlState, err.code);
    assert.equal(s.detail, undefined);
    assert.equal(s.hint, undefined);
    assert.match(s.message, /withheld/);
    assertNoSecret(s, ['Jane', '42', '123-45-6789']);
  }
});

test('an unknown message of a value class is withheld; of another class it is scrubbed generically', () => {
  const unknown = scrubUpstreamError(pg('22023', 'some future message about Jane Doe'));
  assert.equal(unknown.withheld, true);
  assert.equal(unknown.message, "data exception (SQLSTATE 22023); the upstream's message is withheld because it may quote a value");
  const unknownDetail = scrubUpstreamError(pg('23505', 'duplicate key value violates unique constraint "x_key"', { detail: 'Row Jane Doe is a duplicate.' }));
  assert.equal(unknownDetail.detail, undefined, 'an unknown DETAIL of a value class is dropped');

  const deadlock = scrubUpstreamError(
    pg('40P01', 'deadlock detected', {
      detail: 'Process 4711 waits for ShareLock on transaction 99; blocked by process 4712.',
      hint: 'See server log for query details.',
    }),
  );
  assert.deepEqual(deadlock, {
    sqlState: '40P01',
    message: 'deadlock detected',
    detail: 'Process ? waits for ShareLock on transaction ?; blocked by process ?.',
    hint: 'See server log for query details.',
    withheld: false,
  });
  const generic = scrubUpstreamError(pg('42000', `could not frob '123-45-6789' at 2020-01-01 12:00:00+00 with "Jane Doe" and 40.5`));
  assert.equal(generic.message, `could not frob '?' at ? ? with "?" and ?`);
  const open = scrubUpstreamError(pg('42000', 'oops near "unterminated Jane Doe'));
  assert.equal(open.message, 'oops near "?');
});

test('names quoted in a message are kept only when the statement names them (reg* casts turn values into names)', () => {
  const sql = "SELECT nosuchcol, first_name::regclass FROM nosuchtable WHERE x = 'Jane'";
  assert.equal(scrubUpstreamError(pg('42703', 'column "nosuchcol" does not exist'), { statement: sql }).message, 'column "nosuchcol" does not exist');
  assert.equal(scrubUpstreamError(pg('42P01', 'relation "nosuchtable" does not exist'), { statement: sql }).message, 'relation "nosuchtable" does not exist');
  // `first_name::regclass` turned a row's value into a relation name; the literal 'Jane' does not count.
  assert.equal(scrubUpstreamError(pg('42P01', 'relation "jane" does not exist'), { statement: sql }).message, 'relation "?" does not exist');
  assert.equal(scrubUpstreamError(pg('42P01', 'relation "smith" does not exist'), { statement: sql }).message, 'relation "?" does not exist');
  // Without a statement, a name after a noun stays.
  assert.equal(scrubUpstreamError(pg('42P01', 'relation "nosuchtable" does not exist')).message, 'relation "nosuchtable" does not exist');
  // Not after a noun: scrubbed.
  assert.equal(scrubUpstreamError(pg('42000', 'something about "nosuchcol"'), { statement: sql }).message, 'something about "?"');

  // Syntax errors quote a token of the statement: a keyword or name stays, a literal does not.
  assert.equal(
    scrubUpstreamError(pg('42601', 'syntax error at or near "bar"'), { statement: 'SELECT ssn foo bar FROM patients' }).message,
    'syntax error at or near "bar"',
  );
  assert.equal(scrubUpstreamError(pg('42601', `syntax error at or near "'123-45-6789'"`)).message, 'syntax error at or near "?"');
  assert.equal(scrubUpstreamError(pg('42601', 'syntax error at or near "6789"')).message, 'syntax error at or near "?"');
  assert.equal(scrubUpstreamError(pg('42601', `unterminated quoted string at or near "'Jane Doe"`)).message, 'unterminated quoted string at or near "?"');
  assert.equal(scrubUpstreamError(pg('42601', 'syntax error at end of input')).message, 'syntax error at end of input');

  assert.deepEqual(
    [...statementNames(`SELECT "Mixed""Name", a.b FROM t -- 'x' c\n WHERE s = E'it\\'s' AND y = $$q$$ /* z */`)].sort(),
    ['a', 'b', 'from', 'mixed"name', 'select', 't', 'where', 's', 'and', 'y'].sort(),
  );
});

test('DuckDB (the local warehouse): conversion, range and constraint errors lose their values; the statement echo goes', () => {
  const sf = (code: string, sqlState: string, message: string): UpstreamErrorLike => ({ code, sqlState, message });
  const cases: Array<[UpstreamErrorLike, string]> = [
    [
      sf(
        '100038',
        '22018',
        "Could not convert string 'paid' to INT32 when casting from source column status\n\nLINE 1: SELECT status::int FROM claims\n                     ^",
      ),
      "Could not convert string '?' to INT32 when casting from source column status",
    ],
    [
      sf(
        '100038',
        '22018',
        "Conversion Error: Could not convert string '123-45-6789' to INT32\n\nLINE 1: SELECT CAST('123-45-6789' AS INTEGER)\n               ^",
      ),
      "Conversion Error: Could not convert string '?' to INT32",
    ],
    [sf('100038', '22018', 'Could not convert string "abc" to DECIMAL(4,2)'), 'Could not convert string "?" to DECIMAL(4,2)'],
    [
      sf('100038', '22018', "Type INT64 with value 99999999999 can't be cast because the value is out of range for the destination type INT32"),
      "Type INT64 with value ? can't be cast because the value is out of range for the destination type INT32",
    ],
    [
      sf('100038', '22018', 'Casting value "12345.678" to type DECIMAL(4,2) failed: value is out of range!'),
      'Casting value "?" to type DECIMAL(4,2) failed: value is out of range!',
    ],
    [
      sf('100038', '22018', 'date field value out of range: "2020-13-45", expected format is (YYYY-MM-DD)'),
      'date field value out of range: "?", expected format is (YYYY-MM-DD)',
    ],
    [
      sf('100038', '22018', 'invalid date field format: "Jane Doe", expected format is (YYYY-MM-DD)'),
      'invalid date field format: "?", expected format is (YYYY-MM-DD)',
    ],
    [sf('100038', '22018', 'Date out of range: 2020-13-1'), 'Date out of range: ?'],
    [
      sf('100038', '22018', 'Malformed JSON at byte 0 of input: unexpected character.  Input: "Jane Doe"'),
      'Malformed JSON at byte ? of input: unexpected character.  Input: "?"',
    ],
    [
      sf('100038', '22018', 'Could not parse string "Jane Doe" according to format specifier "%Y"\nJane Doe\n^\nError: Expected a number'),
      'Could not parse string "?" according to format specifier "?"',
    ],
    [sf('100038', '22018', 'Unimplemented type for cast (BLOB -> INTEGER)'), 'Unimplemented type for cast (BLOB -> INTEGER)'],
    [
      sf('000603', 'XX000', 'SQL execution internal error:\nOverflow in multiplication of INT32 (2147483647 * 2)!'),
      'SQL execution internal error:\nOverflow in multiplication of INT32 (?)!',
    ],
    [sf('100072', '22000', 'Duplicate key "id: 1" violates primary key constraint.'), 'Duplicate key "?" violates primary key constraint.'],
    [sf('100072', '22000', 'Duplicate key "email: jane@example.com" violates unique constraint.'), 'Duplicate key "?" violates unique constraint.'],
    [sf('100072', '22000', 'NOT NULL constraint failed: claims.patient_id'), 'NOT NULL constraint failed: claims.patient_id'],
    [
      sf('100072', '22000', 'CHECK constraint failed on table claims with expression CHECK((amount >= 0))'),
      'CHECK constraint failed on table claims with expression CHECK((amount >= ?))',
    ],
    [
      sf('100072', '22000', 'Violates foreign key constraint because key "id: 999999" does not exist in the referenced table'),
      'Violates foreign key constraint because key "?" does not exist in the referenced table',
    ],
    // DuckDB's error() is free text: no form known, so withheld.
    [sf('100038', '22018', 'boom Jane Doe'), "data exception (error 100038, SQLSTATE 22018); the upstream's message is withheld because it may quote a value"],
    [
      sf('100038', '22018', 'missing ): (Jane'),
      "data exception (error 100038, SQLSTATE 22018); the upstream's message is withheld because it may quote a value",
    ],
  ];
  for (const [err, message] of cases) {
    const s = scrubUpstreamError(err);
    assert.equal(s.message, message);
    assert.equal(s.code, err.code);
    assert.equal(s.sqlState, err.sqlState);
    assertNoSecret(s);
    assert.ok(!leaves(s).includes('LINE 1'), 'the statement echo is dropped');
  }
});

// Snowflake's message texts; the six-digit codes here only need to be passed through unchanged.
test('Snowflake: value messages lose their values, compilation errors keep the names the statement uses', () => {
  const sf = (code: string, sqlState: string, message: string): UpstreamErrorLike => ({ code, sqlState, message });
  const cases: Array<[UpstreamErrorLike, string, string?]> = [
    [sf('100038', '22018', "Numeric value '123-45-6789' is not recognized"), "Numeric value '?' is not recognized"],
    [sf('100040', '22007', "Date 'Jane Doe' is not recognized"), "Date '?' is not recognized"],
    [sf('100035', '22007', "Timestamp '2020-13-45' is not recognized"), "Timestamp '?' is not recognized"],
    [sf('100037', '22018', "Boolean value 'paid' is not recognized"), "Boolean value '?' is not recognized"],
    [sf('100096', '22007', "Can't parse 'Jane Doe' as timestamp with format 'AUTO'"), "Can't parse '?' as timestamp"],
    [sf('100074', '22001', "String 'abcdefghijkl' is too long and would be truncated"), "String '?' is too long and would be truncated"],
    [sf('100051', '22012', 'Division by zero'), 'Division by zero'],
    [sf('100046', '22003', 'Numeric value out of range'), 'Numeric value out of range'],
    [sf('100090', '42P18', 'Duplicate row detected during DML action\nRow Values: [1, "Jane Doe"]'), 'Duplicate row detected during DML action'],
    [
      sf('000904', '42000', "SQL compilation error: error line 1 at position 7\ninvalid identifier 'NOSUCH'"),
      "SQL compilation error: error line 1 at position 7\ninvalid identifier 'NOSUCH'",
      'SELECT nosuch FROM claims',
    ],
    [
      sf('002003', '42S02', "SQL compilation error:\nObject 'CLINICAL.PUBLIC.NOSUCH' does not exist or not authorized."),
      "SQL compilation error:\nObject 'CLINICAL.PUBLIC.NOSUCH' does not exist or not authorized.",
      'SELECT * FROM nosuch',
    ],
    [
      sf('001003', '42000', "SQL compilation error:\nsyntax error line 1 at position 36 unexpected '123-45-6789'."),
      "SQL compilation error:\nsyntax error line 1 at position 36 unexpected '?'.",
      "SELECT * FROM patients WHERE ssn = '123-45-6789' x",
    ],
    [
      sf(
        '000904',
        '42000',
        'SQL compilation error:\nReferenced column "nosuch" not found in FROM clause!\nCandidate bindings: "amount", "status"\n\nLINE 1: SELECT nosuch FROM claims WHERE status = \'paid\'\n               ^',
      ),
      'SQL compilation error:\nReferenced column "nosuch" not found in FROM clause!\nCandidate bindings: "?", "?"',
      "SELECT nosuch FROM claims WHERE status = 'paid'",
    ],
  ];
  for (const [err, message, statement] of cases) {
    const s = scrubUpstreamError(err, statement === undefined ? {} : { statement });
    assert.equal(s.message, message);
    assert.equal(s.code, err.code);
    assertNoSecret(s);
  }
});

test('withScrubbedUpstream: the AppError carries the scrubbed text, never the original, in message, details and cause', () => {
  const raw = Object.assign(new Error('duplicate key value violates unique constraint "claims_pkey"'), {
    code: '23505',
    detail: 'Key (id)=(123456789) already exists.',
    where: 'SQL statement "INSERT INTO claims VALUES (123456789)"',
  });
  const e = withScrubbedUpstream(new AppError('GATEWAY_UPSTREAM_ERROR', { cause: raw, details: { sqlstate: '23505' } }), 'INSERT INTO claims (id) VALUES (1)');
  assert.equal(e.code, 'GATEWAY_UPSTREAM_ERROR');
  assert.equal(e.message, 'the upstream database rejected the statement: duplicate key value violates unique constraint "claims_pkey"');
  assert.deepEqual(e.details, {
    sqlstate: '23505',
    upstream: { message: 'duplicate key value violates unique constraint "claims_pkey"', detail: 'Key (id)=(?) already exists.' },
  });
  assert.deepEqual(upstreamText(e), e.details.upstream);
  assert.ok(e.cause instanceof ScrubbedUpstreamCause);
  assert.equal((e.cause as ScrubbedUpstreamCause).code, '23505');
  const everything = JSON.stringify({ body: e.toHttpBody(), cause: { ...(e.cause as object), message: (e.cause as Error).message } });
  assert.ok(!everything.includes('123456789'), everything);
  assert.equal(withScrubbedUpstream(e), e, 'scrubbing twice changes nothing');

  const sf = Object.assign(new Error("Numeric value 'paid' is not recognized"), { code: '100038', sqlState: '22018' });
  const s = withScrubbedUpstream(new AppError('GATEWAY_UPSTREAM_ERROR', { cause: sf, details: { sfCode: '100038', sqlstate: '22018' } }));
  assert.equal(upstreamText(s)?.message, "Numeric value '?' is not recognized");

  const other = new AppError('GATEWAY_POLICY_DENIED', { cause: sf });
  assert.equal(withScrubbedUpstream(other), other, 'only upstream errors are touched');
  const network = new AppError('GATEWAY_UPSTREAM_UNAVAILABLE', { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') });
  assert.equal(withScrubbedUpstream(network), network, 'an error without a SQLSTATE is not an upstream message');
});
