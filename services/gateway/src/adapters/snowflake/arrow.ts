// Snowflake's Arrow result format, built from a result already masked and encoded for the JSON
// format (encoding.ts): the same rowtype, the same cells, re-read into typed Arrow columns and written
// as one Arrow IPC stream per chunk (schema + one record batch). The field metadata and physical types
// are the ones the drivers' Arrow readers key on (`logicalType`, `scale`, `precision`, `charLength`,
// `byteLength`): FIXED as int64 of the unscaled value (decimal128 when a value does not fit), REAL
// float64, TEXT/VARIANT/OBJECT/ARRAY utf8, BOOLEAN bool, DATE date32, TIME int32/int64 scaled,
// TIMESTAMP_NTZ/LTZ int64 scaled up to scale 7 and struct(epoch seconds, fraction nanos) above,
// TIMESTAMP_TZ struct(epoch, [fraction,] timezone), BINARY binary. A masked column is text already.
// A cell that does not read as its column's type throws: the caller then answers in JSON instead
// (never a misread value).
import type { RowType } from '@phigate/snowflake-wire';
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateDay,
  Decimal,
  Field,
  Float64,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
} from 'apache-arrow';

/** Cells as encoding.ts writes them for the JSON format (null for SQL NULL). */
export type EncodedCell = string | null | undefined;

/** A cell that does not read as its column's Arrow type. */
export class ArrowEncodingError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER_CELL = /^-?\d{1,18}$/;
const SCALED_CELL = /^(-?)(\d+)(?:\.(\d+))?$/;

function fail(column: string, why: string): never {
  throw new ArrowEncodingError(`column ${column}: ${why}`);
}

/** Validity bitmap (LSB first) and null count; undefined bitmap when nothing is null. */
function validity(cells: readonly EncodedCell[]): { nullBitmap: Uint8Array | undefined; nullCount: number } {
  let nullCount = 0;
  for (const c of cells) if (c === null || c === undefined) nullCount++;
  if (nullCount === 0) return { nullBitmap: undefined, nullCount };
  const bitmap = new Uint8Array(Math.ceil(cells.length / 8));
  cells.forEach((c, i) => {
    if (c !== null && c !== undefined) bitmap[i >> 3]! |= 1 << (i & 7);
  });
  return { nullBitmap: bitmap, nullCount };
}

/** "-12.3" at scale 2 → -1230n: the unscaled integer (fraction digits beyond `scale` are refused). */
function unscaled(column: string, v: string, scale: number): bigint {
  if (scale === 0 && INTEGER_CELL.test(v)) return BigInt(v);
  const m = SCALED_CELL.exec(v);
  if (!m) fail(column, 'not a decimal number');
  const frac = m[3] ?? '';
  if (frac.length > scale && /[1-9]/.test(frac.slice(scale))) fail(column, `more fraction digits than scale ${scale}`);
  const digits = BigInt(`${m[2]}${frac.slice(0, scale).padEnd(scale, '0')}`);
  return m[1] === '-' ? -digits : digits;
}

/** Floor division and a non-negative remainder (epoch seconds and fraction of a negative instant). */
function floorDiv(a: bigint, b: bigint): [bigint, bigint] {
  const q = a / b;
  const r = a % b;
  return r < 0n ? [q - 1n, r + b] : [q, r];
}

function metadata(entries: Record<string, string | number | null | undefined>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries(entries)) if (v !== null && v !== undefined) m.set(k, String(v));
  return m;
}

/** An int64 column of `cells`; `value` is called for non-null cells only. */
function int64Data(cells: readonly EncodedCell[], value: (c: string, i: number) => bigint): Data<Int64> {
  const data = new BigInt64Array(cells.length);
  cells.forEach((c, i) => {
    if (c !== null && c !== undefined) data[i] = value(c, i);
  });
  return makeData({ type: new Int64(), length: cells.length, ...validity(cells), data });
}

/** An int32 column of `cells`; `value` is called for non-null cells only. */
function int32Data(cells: readonly EncodedCell[], value: (c: string, i: number) => number): Data<Int32> {
  const data = new Int32Array(cells.length);
  cells.forEach((c, i) => {
    if (c !== null && c !== undefined) data[i] = value(c, i);
  });
  return makeData({ type: new Int32(), length: cells.length, ...validity(cells), data });
}

/** Variable-length values (utf8 or binary): offsets and one data buffer. */
function varData(cells: readonly EncodedCell[], encoding: 'utf8' | 'hex'): { valueOffsets: Int32Array; data: Uint8Array } {
  const valueOffsets = new Int32Array(cells.length + 1);
  let size = 0;
  cells.forEach((c, i) => {
    if (c !== null && c !== undefined) size += Buffer.byteLength(c, encoding);
    valueOffsets[i + 1] = size;
  });
  const data = Buffer.allocUnsafe(size);
  cells.forEach((c, i) => {
    if (c !== null && c !== undefined) data.write(c, valueOffsets[i]!, encoding);
  });
  return { valueOffsets, data };
}

function fixedColumn(rt: RowType, cells: readonly EncodedCell[]): { type: DataType; data: Data } {
  const scale = rt.scale ?? 0;
  const values = cells.map((c) => (c === null || c === undefined ? 0n : unscaled(rt.name, c, scale)));
  if (values.every((v) => v >= INT64_MIN && v <= INT64_MAX)) {
    const data = makeData({ type: new Int64(), length: cells.length, ...validity(cells), data: BigInt64Array.from(values) });
    return { type: data.type, data };
  }
  // Two's complement, little-endian, 16 bytes a value.
  const precision = Math.min(rt.precision ?? 38, 38);
  const words = new Uint32Array(cells.length * 4);
  values.forEach((v, i) => {
    const u = BigInt.asUintN(128, v);
    for (let w = 0; w < 4; w++) words[i * 4 + w] = Number((u >> BigInt(32 * w)) & 0xffffffffn);
  });
  const type = new Decimal(scale, precision, 128);
  return { type, data: makeData({ type, length: cells.length, ...validity(cells), data: words }) };
}

/** A TIMESTAMP_NTZ/LTZ cell ("epoch.fraction" at `scale`) → epoch seconds and nanoseconds. */
function epochAndNanos(column: string, c: string, scale: number): [bigint, number] {
  const [s, r] = floorDiv(unscaled(column, c, scale), 10n ** BigInt(scale));
  return [s, Number(r) * 10 ** (9 - scale)];
}

function structData(cells: readonly EncodedCell[], fields: Field[], children: Data[]): { type: DataType; data: Data } {
  const type = new Struct(fields);
  return { type, data: makeData({ type, length: cells.length, ...validity(cells), children }) };
}

function columnOf(rt: RowType, cells: readonly EncodedCell[]): { type: DataType; data: Data; meta: Map<string, string> } {
  const type = rt.type.toLowerCase();
  const scale = rt.scale ?? 0;
  const logicalType = type.toUpperCase();
  const temporalMeta = () => metadata({ logicalType, scale });
  switch (type) {
    case 'fixed':
      return { ...fixedColumn(rt, cells), meta: metadata({ logicalType, precision: rt.precision ?? 38, scale }) };
    case 'real': {
      const data = new Float64Array(cells.length);
      cells.forEach((c, i) => {
        if (c === null || c === undefined) return;
        const v = c === 'inf' ? Infinity : c === '-inf' ? -Infinity : c === 'NaN' ? Number.NaN : Number(c);
        if (Number.isNaN(v) && c !== 'NaN') fail(rt.name, 'not a number');
        data[i] = v;
      });
      return { type: new Float64(), data: makeData({ type: new Float64(), length: cells.length, ...validity(cells), data }), meta: metadata({ logicalType }) };
    }
    case 'boolean': {
      const bits = new Uint8Array(Math.ceil(cells.length / 8));
      cells.forEach((c, i) => {
        if (c === '1') bits[i >> 3]! |= 1 << (i & 7);
        else if (c !== '0' && c !== null && c !== undefined) fail(rt.name, 'not a boolean');
      });
      return { type: new Bool(), data: makeData({ type: new Bool(), length: cells.length, ...validity(cells), data: bits }), meta: metadata({ logicalType }) };
    }
    case 'date': {
      const data = new Int32Array(cells.length);
      cells.forEach((c, i) => {
        if (c === null || c === undefined) return;
        if (!/^-?\d+$/.test(c)) fail(rt.name, 'not a day number');
        data[i] = Number(c);
      });
      return { type: new DateDay(), data: makeData({ type: new DateDay(), length: cells.length, ...validity(cells), data }), meta: metadata({ logicalType }) };
    }
    case 'time': {
      const data = scale <= 4 ? int32Data(cells, (c) => Number(unscaled(rt.name, c, scale))) : int64Data(cells, (c) => unscaled(rt.name, c, scale));
      return { type: data.type, data, meta: temporalMeta() };
    }
    case 'timestamp_ntz':
    case 'timestamp_ltz': {
      if (scale <= 7) {
        const data = int64Data(cells, (c) => unscaled(rt.name, c, scale));
        return { type: data.type, data, meta: temporalMeta() };
      }
      const parts = cells.map((c) => (c === null || c === undefined ? undefined : epochAndNanos(rt.name, c, scale)));
      const epoch = int64Data(cells, (_c, i) => parts[i]![0]);
      const fraction = int32Data(cells, (_c, i) => parts[i]![1]);
      const fields = [new Field('epoch', new Int64(), true, temporalMeta()), new Field('fraction', new Int32(), true, temporalMeta())];
      return { ...structData(cells, fields, [epoch, fraction]), meta: temporalMeta() };
    }
    case 'timestamp_tz': {
      // JSON cell: "<epoch at scale> <offset minutes + 1440>".
      const split = cells.map((c) => {
        if (c === null || c === undefined) return undefined;
        const [units = '', tz = ''] = c.split(' ');
        if (!/^\d+$/.test(tz)) fail(rt.name, 'no timezone');
        return { units, tz: Number(tz) };
      });
      const tzData = int32Data(cells, (_c, i) => split[i]!.tz);
      const tzField = new Field('timezone', new Int32(), true, temporalMeta());
      if (scale <= 3) {
        const epoch = int64Data(cells, (_c, i) => unscaled(rt.name, split[i]!.units, scale));
        return { ...structData(cells, [new Field('epoch', new Int64(), true, temporalMeta()), tzField], [epoch, tzData]), meta: temporalMeta() };
      }
      const parts = split.map((p) => (p ? epochAndNanos(rt.name, p.units, scale) : undefined));
      const epoch = int64Data(cells, (_c, i) => parts[i]![0]);
      const fraction = int32Data(cells, (_c, i) => parts[i]![1]);
      const fields = [new Field('epoch', new Int64(), true, temporalMeta()), new Field('fraction', new Int32(), true, temporalMeta()), tzField];
      return { ...structData(cells, fields, [epoch, fraction, tzData]), meta: temporalMeta() };
    }
    case 'binary': {
      for (const c of cells) if (c !== null && c !== undefined && !/^([0-9a-fA-F]{2})*$/.test(c)) fail(rt.name, 'not hex');
      const v = varData(cells, 'hex');
      return {
        type: new Binary(),
        data: makeData({ type: new Binary(), length: cells.length, ...validity(cells), ...v }),
        meta: metadata({ logicalType, charLength: rt.length, byteLength: rt.byteLength }),
      };
    }
    default: {
      // text, variant, object, array: the cell as it is.
      const v = varData(cells, 'utf8');
      return {
        type: new Utf8(),
        data: makeData({ type: new Utf8(), length: cells.length, ...validity(cells), ...v }),
        meta: metadata({ logicalType, charLength: rt.length, byteLength: rt.byteLength }),
      };
    }
  }
}

/**
 * One chunk of a result as an Arrow IPC stream (schema, one record batch, end of stream). `rows` are
 * the JSON-format cells of `rowtype`'s columns. Throws ArrowEncodingError for a cell its type cannot hold.
 */
export function arrowChunk(rowtype: readonly RowType[], rows: readonly EncodedCell[][]): Buffer {
  const columns = rowtype.map((rt, i) => {
    const col = columnOf(
      rt,
      rows.map((r) => r[i]),
    );
    return { field: new Field(rt.name, col.type, rt.nullable, col.meta), data: col.data };
  });
  const schema = new Schema(columns.map((c) => c.field));
  const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children: columns.map((c) => c.data) }));
  const bytes = RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
