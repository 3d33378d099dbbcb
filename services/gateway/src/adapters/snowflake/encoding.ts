// Result columns and text cells (what every upstream hands the domain, and what masking works on)
// → Snowflake's JSON result format: lower-case `rowtype` entries and cells in the driver encoding
// (dates as days since the epoch, timestamps as epoch seconds with `scale` fraction digits, binary
// as hex, booleans as 1/0). A column whose cells do not all parse as its type is sent as text, so a
// driver is never handed a value it would silently misread.
import { BINARY_LENGTH, type ColumnType, type RowType, rowType, type SnowflakeType, textColumn } from '@phigate/snowflake-wire';
import type { Cell, ResultColumn } from '../../domain/types.js';

const SNOWFLAKE_TYPES = new Set<string>([
  'fixed',
  'real',
  'text',
  'boolean',
  'date',
  'time',
  'timestamp_ntz',
  'timestamp_ltz',
  'timestamp_tz',
  'variant',
  'object',
  'array',
  'binary',
]);

/** PostgreSQL type names (a PostgreSQL upstream behind the Snowflake door) → Snowflake types. */
const FROM_POSTGRES: Record<string, { type: SnowflakeType; precision?: number; scale?: number }> = {
  int2: { type: 'fixed', precision: 5, scale: 0 },
  int4: { type: 'fixed', precision: 10, scale: 0 },
  int8: { type: 'fixed', precision: 19, scale: 0 },
  oid: { type: 'fixed', precision: 10, scale: 0 },
  numeric: { type: 'fixed', precision: 38 },
  float4: { type: 'real' },
  float8: { type: 'real' },
  bool: { type: 'boolean' },
  date: { type: 'date' },
  time: { type: 'time', scale: 6 },
  timestamp: { type: 'timestamp_ntz', scale: 6 },
  timestamptz: { type: 'timestamp_ltz', scale: 6 },
  json: { type: 'variant' },
  jsonb: { type: 'variant' },
  bytea: { type: 'binary' },
};

const DECIMAL = /^-?\d+(\.\d+)?$/;
const REAL = /^(-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|NaN|-?inf|-?Infinity)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/;

/** `n / 10^scale` as a plain decimal string (BigInt arithmetic: exact for negative instants too). */
function scaled(units: bigint, scale: number): string {
  if (scale === 0) return units.toString();
  const neg = units < 0n;
  const abs = (neg ? -units : units).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${abs.slice(0, -scale)}.${abs.slice(-scale)}`;
}

function fraction(digits: string | undefined, scale: number): bigint {
  return BigInt((digits ?? '').padEnd(9, '0').slice(0, scale) || '0');
}

/** Offset in minutes of `Z`, `+01`, `+0100` or `+01:00`. */
function offsetMinutes(tz: string | undefined): number {
  if (!tz || tz === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(tz);
  if (!m) return Number.NaN;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/** Wall time (UTC) → epoch units at `scale`, and the offset it was written with. */
function timestampUnits(v: string, scale: number): { units: bigint; offset: number; hasOffset: boolean } | undefined {
  const m = TIMESTAMP.exec(v);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const offset = offsetMinutes(m[8]);
  if (!Number.isFinite(ms) || !Number.isFinite(offset)) return undefined;
  const seconds = BigInt(ms / 1000 - offset * 60);
  return { units: seconds * 10n ** BigInt(scale) + fraction(m[7], scale), offset, hasOffset: m[8] !== undefined };
}

type Encoder = (v: string) => string | undefined;

function encoderFor(type: SnowflakeType, scale: number): Encoder {
  switch (type) {
    case 'fixed':
      return (v) => (DECIMAL.test(v) ? v : undefined);
    case 'real':
      return (v) => (REAL.test(v) ? v.replace(/^(-?)Infinity$/, '$1inf') : undefined);
    case 'boolean':
      return (v) => {
        const b = v.toLowerCase();
        if (b === 'true' || b === 't' || b === '1') return '1';
        if (b === 'false' || b === 'f' || b === '0') return '0';
        return undefined;
      };
    case 'date':
      return (v) => {
        const m = DATE.exec(v);
        if (!m) return undefined;
        const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
        return Number.isFinite(ms) ? String(ms / 86_400_000) : undefined;
      };
    case 'time':
      return (v) => {
        const m = TIME.exec(v);
        if (!m) return undefined;
        const seconds = BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
        return scaled(seconds * 10n ** BigInt(scale) + fraction(m[4], scale), scale);
      };
    case 'timestamp_ntz':
      return (v) => {
        const t = timestampUnits(v, scale);
        return t && !t.hasOffset ? scaled(t.units, scale) : undefined;
      };
    case 'timestamp_ltz':
      return (v) => {
        const t = timestampUnits(v, scale);
        return t ? scaled(t.units, scale) : undefined;
      };
    case 'timestamp_tz':
      return (v) => {
        const t = timestampUnits(v, scale);
        return t?.hasOffset ? `${scaled(t.units, scale)} ${t.offset + 1440}` : undefined;
      };
    case 'binary':
      return (v) => {
        const hex = v.startsWith('\\x') ? v.slice(2) : v;
        return /^([0-9a-fA-F]{2})*$/.test(hex) ? hex.toUpperCase() : undefined;
      };
    default:
      return (v) => v;
  }
}

function textType(name: string, nullable: boolean): RowType {
  return rowType(textColumn(name, nullable));
}

function maxFractionDigits(rows: Cell[][], i: number): number {
  let max = 0;
  for (const r of rows) {
    const v = r[i];
    const dot = v ? v.indexOf('.') : -1;
    if (v && dot >= 0) max = Math.max(max, v.length - dot - 1);
  }
  return Math.min(max, 37);
}

/**
 * The rowtype of a result and its rows in Snowflake's cell encoding. Column types come from the
 * upstream (Snowflake type names as they are; PostgreSQL names mapped); a masked column is text.
 */
export function encodeResult(columns: readonly ResultColumn[], rows: readonly Cell[][]): { rowtype: RowType[]; rowset: Cell[][] } {
  const rowtype: RowType[] = [];
  const encoders: Array<Encoder | undefined> = [];
  columns.forEach((c, i) => {
    const nullable = c.nullable ?? true;
    const pg = FROM_POSTGRES[c.type];
    const type: SnowflakeType | undefined = SNOWFLAKE_TYPES.has(c.type) ? (c.type as SnowflakeType) : pg?.type;
    if (!type || type === 'text') {
      rowtype.push({ ...textType(c.name, nullable) });
      encoders.push(undefined);
      return;
    }
    const temporal = type === 'time' || type.startsWith('timestamp');
    const scale = c.scale ?? pg?.scale ?? (type === 'fixed' ? maxFractionDigits(rows as Cell[][], i) : temporal ? 9 : null);
    const precision = c.precision ?? pg?.precision ?? (type === 'fixed' ? 38 : temporal ? 0 : null);
    const encode = encoderFor(type, scale ?? 0);
    // Every cell must read as the type, or the whole column goes out as text (never a misread value).
    const fits = rows.every((r) => {
      const v = r[i];
      return v === null || v === undefined || encode(v) !== undefined;
    });
    if (!fits) {
      rowtype.push(textType(c.name, nullable));
      encoders.push(undefined);
      return;
    }
    const binaryOrText = type === 'binary' ? { length: BINARY_LENGTH, byteLength: BINARY_LENGTH } : { length: null, byteLength: null };
    const col: ColumnType = { name: c.name, type, precision, scale, ...binaryOrText, nullable };
    rowtype.push(rowType(col));
    encoders.push(encode);
  });
  const rowset = rows.map((r) => r.map((v, i) => (v === null || v === undefined ? null : (encoders[i]?.(v) ?? v))));
  return { rowtype, rowset };
}
