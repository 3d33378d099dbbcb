import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binaryToText, hasBinary, numericFromBinary, numericToBinary, OID, oidOfTypeName, textToBinary, UnsupportedBinary } from './types.js';

test('binary round trips of common types through the text form', () => {
  const cases: Array<[number, string]> = [
    [OID.bool, 't'],
    [OID.bool, 'f'],
    [OID.int2, '-12'],
    [OID.int4, '2147483647'],
    [OID.int8, '-9223372036854775808'],
    [OID.float8, '3.25'],
    [OID.float8, 'NaN'],
    [OID.float4, '-Infinity'],
    [OID.text, 'héllo'],
    [OID.jsonb, '{"a": 1}'],
    [OID.bytea, '\\x00ff10'],
    [OID.uuid, '0e1f3a2b-4c5d-6e7f-8091-a2b3c4d5e6f7'],
    [OID.date, '2024-02-29'],
    [OID.date, '1999-12-31'],
    [OID.date, 'infinity'],
    [OID.timestamp, '2024-01-02 03:04:05.123456'],
    [OID.timestamp, '1970-01-01 00:00:00'],
    [OID.timestamp, '1999-12-31 23:59:59.5'],
    [OID.timestamptz, '2024-01-02 03:04:05+00'],
    [OID.numeric, '123.4500'],
    [OID.numeric, '-0.0001'],
    [OID.numeric, '10000'],
    [OID.numeric, '0'],
    [OID.numeric, '0.00'],
    [OID.numeric, '12345678901234567890.123456789'],
    [OID.numeric, 'NaN'],
  ];
  for (const [oid, text] of cases) assert.equal(binaryToText(oid, textToBinary(oid, text)), text, `${oid} ${text}`);
});

test('timestamptz with an offset is converted to UTC', () => {
  assert.equal(binaryToText(OID.timestamptz, textToBinary(OID.timestamptz, '2024-01-02 05:34:05+02:30')), '2024-01-02 03:04:05+00');
});

test('numeric binary layout matches PostgreSQL (base 10000 digits, weight, sign, scale)', () => {
  const b = numericToBinary('-1234.5');
  assert.deepEqual(
    [b.readInt16BE(0), b.readInt16BE(2), b.readUInt16BE(4), b.readInt16BE(6), b.readInt16BE(8), b.readInt16BE(10)],
    [2, 0, 0x4000, 1, 1234, 5000],
  );
  assert.equal(numericFromBinary(b), '-1234.5');
});

test('wrong sizes and unknown types are refused, never guessed', () => {
  assert.throws(() => binaryToText(OID.int4, Buffer.alloc(3)), UnsupportedBinary);
  assert.throws(() => binaryToText(600, Buffer.alloc(16)), UnsupportedBinary);
  assert.throws(() => textToBinary(OID.int4 + 100_000, 'x'), UnsupportedBinary);
  assert.throws(() => textToBinary(OID.timestamp, '01/02/2024'), UnsupportedBinary);
  assert.equal(hasBinary(OID.numeric), true);
  assert.equal(hasBinary(600), false);
  assert.equal(oidOfTypeName('int8'), 20);
  assert.equal(oidOfTypeName('tsvector'), 25);
});
