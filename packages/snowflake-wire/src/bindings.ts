import { SQL } from './codes.js';

/** A bind that cannot be decoded, with the Snowflake code and SQLSTATE it is reported as. */
export class BindError extends Error {
  constructor(
    readonly code: string,
    readonly sqlState: string,
    message: string,
  ) {
    super(message);
  }
}

/** A bind value decoded from the drivers' `bindings` JSON, in engine-neutral form (messages never quote values). */
export type BindValue =
  | { type: 'NULL' }
  | { type: 'BIGINT'; value: bigint }
  | { type: 'DECIMAL'; value: bigint; scale: number }
  | { type: 'DOUBLE'; value: number }
  | { type: 'VARCHAR'; value: string }
  | { type: 'BOOLEAN'; value: boolean }
  | { type: 'DATE'; days: number }
  | { type: 'TIME'; micros: bigint }
  | { type: 'TIMESTAMP'; micros: bigint }
  | { type: 'TIMESTAMPTZ'; micros: bigint }
  | { type: 'BLOB'; bytes: Uint8Array };

interface RawBinding {
  type?: unknown;
  value?: unknown;
}

const bad = (pos: string, why: string) => new BindError(SQL.NUMERIC_VALUE.code, SQL.NUMERIC_VALUE.sqlState, `Bind variable ${pos}: ${why}`);

/** Epoch-based temporal binds: Python and JDBC send nanoseconds (dates as milliseconds). */
function decodeOne(pos: string, type: string, v: unknown): BindValue {
  if (v === null || v === undefined) return { type: 'NULL' };
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  switch (type) {
    case 'FIXED': {
      const m = /^\s*([+-]?\d+)(?:\.(\d+))?\s*$/.exec(s);
      if (!m) throw bad(pos, 'not a number');
      if (m[2] === undefined) return { type: 'BIGINT', value: BigInt(m[1]!) };
      return { type: 'DECIMAL', value: BigInt(`${m[1]}${m[2]}`), scale: m[2].length };
    }
    case 'REAL': {
      const n = Number(s);
      if (Number.isNaN(n) && !/^\s*nan\s*$/i.test(s)) throw bad(pos, 'not a number');
      return { type: 'DOUBLE', value: n };
    }
    case 'BOOLEAN':
      if (/^(true|1|t|yes|y|on)$/i.test(s)) return { type: 'BOOLEAN', value: true };
      if (/^(false|0|f|no|n|off)$/i.test(s)) return { type: 'BOOLEAN', value: false };
      throw bad(pos, 'not a boolean');
    case 'DATE': {
      if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return { type: 'DATE', days: Math.floor(Date.parse(`${s}T00:00:00Z`) / 86_400_000) };
      if (!/^-?\d+$/.test(s)) throw bad(pos, 'not a date');
      return { type: 'DATE', days: Math.floor(Number(s) / 86_400_000) };
    }
    case 'TIME': {
      if (!/^-?\d+$/.test(s)) throw bad(pos, 'not a time');
      return { type: 'TIME', micros: BigInt(s) / 1000n };
    }
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ': {
      const m = /^(-?\d+)(?:\s+(\d+))?$/.exec(s);
      if (!m) throw bad(pos, 'not a timestamp');
      const micros = BigInt(m[1]!) / 1000n;
      return { type: type === 'TIMESTAMP_NTZ' ? 'TIMESTAMP' : 'TIMESTAMPTZ', micros };
    }
    case 'BINARY':
      if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw bad(pos, 'not a hex string');
      return { type: 'BLOB', bytes: Uint8Array.from(Buffer.from(s, 'hex')) };
    default:
      // TEXT, VARIANT, OBJECT, ARRAY, ANY: text (semi-structured values arrive as JSON text).
      return { type: 'VARCHAR', value: s };
  }
}

/**
 * Decodes the drivers' `bindings` (`{"1": {type, value}, …}`, positional keys from 1) into rows
 * of bind values: one row, or one per element when the values are arrays (array binding).
 */
export function decodeBindings(bindings: unknown): BindValue[][] {
  if (bindings === undefined || bindings === null) return [[]];
  if (typeof bindings !== 'object' || Array.isArray(bindings)) throw bad('?', 'bindings must be an object');
  const entries = Object.entries(bindings as Record<string, RawBinding>);
  const keys = entries.map(([k]) => k);
  if (!keys.every((k) => /^\d+$/.test(k)))
    throw new BindError(SQL.UNSUPPORTED.code, SQL.UNSUPPORTED.sqlState, 'SQL compilation error:\nnamed bind variables are not supported; use ? or :1');
  entries.sort((a, b) => Number(a[0]) - Number(b[0]));
  entries.forEach(([k], i) => {
    if (Number(k) !== i + 1) throw new BindError(SQL.BIND_MISMATCH.code, SQL.BIND_MISMATCH.sqlState, `Bind variable ${i + 1} not set.`);
  });
  const arrays = entries.filter(([, b]) => Array.isArray(b?.value));
  if (arrays.length && arrays.length !== entries.length)
    throw new BindError(SQL.BIND_MISMATCH.code, SQL.BIND_MISMATCH.sqlState, 'Array bind values must all be arrays of the same length.');
  const rows = arrays.length ? (arrays[0]![1].value as unknown[]).length : 1;
  const out: BindValue[][] = [];
  for (let r = 0; r < rows; r++) {
    out.push(
      entries.map(([k, b]) => {
        const type = typeof b?.type === 'string' ? b.type.toUpperCase() : 'TEXT';
        const v = arrays.length ? (b.value as unknown[])[r] : b?.value;
        if (arrays.length && (b.value as unknown[]).length !== rows)
          throw new BindError(SQL.BIND_MISMATCH.code, SQL.BIND_MISMATCH.sqlState, 'Array bind values must all be arrays of the same length.');
        return decodeOne(k, type, v);
      }),
    );
  }
  return out;
}
