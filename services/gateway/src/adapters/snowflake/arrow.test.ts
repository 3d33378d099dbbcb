import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { ArrowEncodingError, arrowChunk } from './arrow.js';
import { encodeResult } from './encoding.js';
import { loginResultFormat, resultFormat } from './result-format.js';

/** A result masked and encoded as the door does it, then as one Arrow chunk read back. */
function roundTrip(columns: Parameters<typeof encodeResult>[0], rows: Parameters<typeof encodeResult>[1]) {
  const { rowtype, rowset } = encodeResult(columns, rows);
  return tableFromIPC(arrowChunk(rowtype, rowset));
}

const meta = (t: ReturnType<typeof roundTrip>, i: number) => Object.fromEntries(t.schema.fields[i]!.metadata);

test('each Snowflake type has the physical type and field metadata the drivers read; nulls stay null', () => {
  const t = roundTrip(
    [
      { name: 'I', type: 'fixed', precision: 38, scale: 0 },
      { name: 'AMOUNT', type: 'fixed', precision: 12, scale: 2 },
      { name: 'R', type: 'real' },
      { name: 'S', type: 'text' },
      { name: 'B', type: 'boolean' },
      { name: 'D', type: 'date' },
      { name: 'TM', type: 'time', scale: 9 },
      { name: 'NTZ3', type: 'timestamp_ntz', scale: 3 },
      { name: 'NTZ9', type: 'timestamp_ntz', scale: 9 },
      { name: 'TZ', type: 'timestamp_tz', scale: 3 },
      { name: 'BIN', type: 'binary' },
    ],
    [
      [
        '42',
        '1275.25',
        '1.5',
        'x',
        'true',
        '2023-01-02',
        '01:02:03.5',
        '2023-01-02 03:04:05.678',
        '1969-12-31 23:59:59.5',
        '2023-01-02 04:04:05.123+01:00',
        '4a65',
      ],
      [null, '-0.5', null, null, null, null, null, null, null, null, null],
    ],
  );
  assert.deepEqual(
    t.schema.fields.map((f) => String(f.type)),
    [
      'Int64',
      'Int64',
      'Float64',
      'Utf8',
      'Bool',
      'Date32<DAY>',
      'Int64',
      'Int64',
      'Struct<{epoch:Int64, fraction:Int32}>',
      'Struct<{epoch:Int64, timezone:Int32}>',
      'Binary',
    ],
  );
  assert.deepEqual(meta(t, 0), { logicalType: 'FIXED', precision: '38', scale: '0' });
  assert.deepEqual(meta(t, 1), { logicalType: 'FIXED', precision: '12', scale: '2' });
  assert.deepEqual(meta(t, 3), { logicalType: 'TEXT', charLength: '16777216', byteLength: '16777216' });
  assert.deepEqual(meta(t, 8), { logicalType: 'TIMESTAMP_NTZ', scale: '9' });
  const row = t.get(0)!.toJSON() as Record<string, unknown>;
  assert.equal(row.I, 42n);
  assert.equal(row.AMOUNT, 127525n, 'FIXED with a scale is the unscaled integer');
  assert.equal(row.R, 1.5);
  assert.equal(row.S, 'x');
  assert.equal(row.B, true);
  assert.equal(row.D, Date.UTC(2023, 0, 2));
  assert.equal(row.TM, 3723_500_000_000n);
  assert.equal(row.NTZ3, BigInt(Date.UTC(2023, 0, 2, 3, 4, 5, 678)));
  // Before the epoch: whole seconds rounded down, the fraction positive.
  assert.deepEqual({ ...(row.NTZ9 as object) }, { epoch: -1n, fraction: 500_000_000 });
  assert.deepEqual({ ...(row.TZ as object) }, { epoch: BigInt(Date.UTC(2023, 0, 2, 3, 4, 5, 123)), timezone: 1440 + 60 });
  assert.deepEqual([...(row.BIN as Uint8Array)], [0x4a, 0x65]);
  const nulls = t.get(1)!.toJSON() as Record<string, unknown>;
  assert.equal(nulls.AMOUNT, -50n);
  for (const k of ['I', 'R', 'S', 'B', 'D', 'TM', 'NTZ3', 'NTZ9', 'TZ', 'BIN']) assert.equal(nulls[k], null, k);
  assert.equal(t.getChild('I')!.nullCount, 1);
});

test('a masked column is TEXT in Arrow as in JSON, whatever its type upstream; the unmasked columns stay typed', () => {
  // A masked DOB arrives as redaction text: encoding.ts makes the column text, Arrow follows.
  const t = roundTrip(
    [
      { name: 'ID', type: 'fixed', precision: 38, scale: 0 },
      { name: 'SSN', type: 'text' },
      { name: 'DOB', type: 'date' },
    ],
    [
      ['1', '[REDACTED]', '[REDACTED]'],
      ['2', '[REDACTED]', null],
    ],
  );
  assert.deepEqual(
    t.schema.fields.map((f) => [f.name, String(f.type), f.metadata.get('logicalType')]),
    [
      ['ID', 'Int64', 'FIXED'],
      ['SSN', 'Utf8', 'TEXT'],
      ['DOB', 'Utf8', 'TEXT'],
    ],
  );
  assert.deepEqual(
    t.toArray().map((r) => [r.ID, r.SSN, r.DOB]),
    [
      [1n, '[REDACTED]', '[REDACTED]'],
      [2n, '[REDACTED]', null],
    ],
  );
});

test('a FIXED value past int64 goes out as decimal128; a cell its type cannot hold is refused, not misread', () => {
  const t = roundTrip([{ name: 'BIG', type: 'fixed', precision: 38, scale: 0 }], [['-99999999999999999999999'], ['1']]);
  assert.equal(String(t.schema.fields[0]!.type), 'Decimal[38e0]');
  assert.equal(t.getChild('BIG')!.get(1)!.toString(), '1');
  assert.throws(
    () =>
      arrowChunk(
        [
          {
            name: 'N',
            type: 'fixed',
            precision: 10,
            scale: 1,
            length: null,
            byteLength: null,
            nullable: true,
            database: '',
            schema: '',
            table: '',
            collation: null,
          },
        ],
        [['1.25']],
      ),
    ArrowEncodingError,
  );
});

test('the result format: Arrow for the Python connector and gosnowflake unless they ask for JSON; JDBC when it asks; JSON for others', () => {
  const login = (client: string, params: Record<string, unknown> = {}) => loginResultFormat({ CLIENT_APP_ID: client, SESSION_PARAMETERS: params });
  assert.deepEqual(login('PythonConnector'), { client: 'PythonConnector', resultFormat: 'arrow' });
  assert.equal(login('PythonConnector', { python_connector_query_result_format: 'json' }).resultFormat, 'json');
  assert.equal(login('JDBC').resultFormat, 'json');
  assert.equal(login('JDBC', { JDBC_QUERY_RESULT_FORMAT: 'ARROW' }).resultFormat, 'arrow');
  assert.equal(login('Go').resultFormat, 'arrow');
  assert.equal(login('Go', { GO_QUERY_RESULT_FORMAT: 'json' }).resultFormat, 'json');
  assert.equal(login('JavaScript', { PYTHON_CONNECTOR_QUERY_RESULT_FORMAT: 'ARROW' }).resultFormat, 'json');
  assert.equal(loginResultFormat({}).resultFormat, 'json');
  // ALTER SESSION of the driver's parameter wins over the login.
  assert.equal(resultFormat({ ...login('PythonConnector'), settings: { PYTHON_CONNECTOR_QUERY_RESULT_FORMAT: 'JSON' } }), 'json');
  assert.equal(resultFormat({ ...login('PythonConnector'), settings: { JDBC_QUERY_RESULT_FORMAT: 'JSON' } }), 'arrow');
  assert.equal(resultFormat({}), 'json');
});
