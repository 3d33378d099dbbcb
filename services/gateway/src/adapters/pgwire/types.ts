// PostgreSQL type OIDs and the binary wire formats of common types. The gateway holds every value
// in PostgreSQL's text form (what masking works on); binary is produced from it on the way out and
// parameters sent in binary are turned into text on the way in. Pure functions.

export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

/** Fixed sizes for RowDescription's typlen (-1: variable). */
const TYPE_SIZE: Readonly<Record<number, number>> = {
  16: 1,
  18: 1,
  19: 64,
  20: 8,
  21: 2,
  23: 4,
  26: 4,
  700: 4,
  701: 8,
  1082: 4,
  1083: 8,
  1114: 8,
  1184: 8,
  2950: 16,
};

export function typeSize(oid: number): number {
  return TYPE_SIZE[oid] ?? -1;
}

/** OID for an upstream type name when the upstream did not give one (text otherwise). */
export function oidOfTypeName(name: string): number {
  return (OID as Record<string, number>)[name] ?? OID.text;
}

export class UnsupportedBinary extends Error {}

/** Types whose binary form is their text form's UTF-8 bytes. */
const TEXT_LIKE: ReadonlySet<number> = new Set([OID.text, OID.varchar, OID.bpchar, OID.name, OID.json, OID.unknown, OID.char]);

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;

function int(n: number, bytes: 2 | 4, unsigned = false): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  if (bytes === 2) b.writeInt16BE(n);
  else if (unsigned) b.writeUInt32BE(n);
  else b.writeInt32BE(n);
  return b;
}

function int64(n: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(n);
  return b;
}

function float(text: string, bytes: 4 | 8): Buffer {
  const v = text === 'Infinity' ? Infinity : text === '-Infinity' ? -Infinity : Number(text);
  if (Number.isNaN(v) && text !== 'NaN') throw new UnsupportedBinary('not a float');
  const b = Buffer.allocUnsafe(bytes);
  if (bytes === 4) b.writeFloatBE(v);
  else b.writeDoubleBE(v);
  return b;
}

const TS = /^(\d{4,})-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?(?:([+-])(\d\d)(?::?(\d\d))?(?::(\d\d))?)?$/;

/** Microseconds since 2000-01-01 for an ISO date/timestamp text form (DateStyle ISO). */
function pgMicros(text: string, withZone: boolean): bigint {
  if (text === 'infinity') return INT64_MAX;
  if (text === '-infinity') return INT64_MIN;
  const m = TS.exec(text);
  if (!m) throw new UnsupportedBinary('not an ISO timestamp');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', sign, oh = '0', om = '0', os = '0'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number(y) < 100) ms = new Date(ms).setUTCFullYear(Number(y));
  if (withZone && sign) ms -= (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os)) * 1000;
  return BigInt(ms - PG_EPOCH_MS) * 1000n + BigInt(frac.padEnd(6, '0'));
}

function uuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new UnsupportedBinary('not a uuid');
  return Buffer.from(hex, 'hex');
}

/** numeric's text form → binary (base-10000 digits, weight, sign, display scale). */
export function numericToBinary(text: string): Buffer {
  const special = { NaN: 0xc000, Infinity: 0xd000, '-Infinity': 0xf000 } as Record<string, number>;
  if (special[text] !== undefined) return header(0, 0, special[text]!, 0, []);
  const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (!m[2] && !m[3])) throw new UnsupportedBinary('not a numeric');
  const neg = m[1] === '-';
  const intPart = (m[2] ?? '').replace(/^0+/, '');
  const frac = m[3] ?? '';
  const dscale = frac.length;
  const intPadded = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  const fracPadded = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  const digits: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) digits.push(Number(intPadded.slice(i, i + 4)));
  for (let i = 0; i < fracPadded.length; i += 4) digits.push(Number(fracPadded.slice(i, i + 4)));
  let weight = intPadded.length / 4 - 1;
  while (digits.length && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  while (digits.length && digits[digits.length - 1] === 0) digits.pop();
  if (!digits.length) return header(0, 0, 0, dscale, []);
  return header(digits.length, weight, neg ? 0x4000 : 0, dscale, digits);
}

function header(ndigits: number, weight: number, sign: number, dscale: number, digits: number[]): Buffer {
  const b = Buffer.allocUnsafe(8 + 2 * digits.length);
  b.writeInt16BE(ndigits, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  b.writeInt16BE(dscale, 6);
  for (const [i, d] of digits.entries()) b.writeInt16BE(d, 8 + 2 * i);
  return b;
}

/** numeric binary → text form. */
export function numericFromBinary(b: Buffer): string {
  if (b.length < 8) throw new UnsupportedBinary('short numeric');
  const ndigits = b.readInt16BE(0);
  const weight = b.readInt16BE(2);
  const sign = b.readUInt16BE(4);
  const dscale = b.readInt16BE(6);
  if (ndigits < 0 || b.length !== 8 + 2 * ndigits || dscale < 0) throw new UnsupportedBinary('bad numeric');
  if (sign === 0xc000) return 'NaN';
  if (sign === 0xd000) return 'Infinity';
  if (sign === 0xf000) return '-Infinity';
  const digit = (i: number) => (i >= 0 && i < ndigits ? b.readInt16BE(8 + 2 * i) : 0);
  let intPart = '';
  for (let i = 0; i <= weight; i++) intPart += i === 0 ? String(digit(i)) : String(digit(i)).padStart(4, '0');
  if (intPart === '') intPart = '0';
  let frac = '';
  for (let i = weight + 1; frac.length < dscale; i++) frac += String(digit(i)).padStart(4, '0');
  frac = frac.slice(0, dscale);
  const out = dscale > 0 ? `${intPart}.${frac}` : intPart;
  return sign === 0x4000 && /[1-9]/.test(out) ? `-${out}` : out;
}

/** Encodes a text-form value in the binary format of `oid`; throws UnsupportedBinary otherwise. */
export function textToBinary(oid: number, text: string): Buffer {
  if (TEXT_LIKE.has(oid)) return Buffer.from(text, 'utf8');
  switch (oid) {
    case OID.bool:
      return Buffer.from([text === 't' || text === 'true' ? 1 : 0]);
    case OID.int2:
      return int(Number(text), 2);
    case OID.int4:
      return int(Number(text), 4);
    case OID.oid:
      return int(Number(text), 4, true);
    case OID.int8:
      return int64(BigInt(text));
    case OID.float4:
      return float(text, 4);
    case OID.float8:
      return float(text, 8);

    case OID.jsonb:
      return Buffer.concat([Buffer.from([1]), Buffer.from(text, 'utf8')]);
    case OID.bytea:
      if (!text.startsWith('\\x')) throw new UnsupportedBinary('bytea is not in hex output format');
      return Buffer.from(text.slice(2), 'hex');
    case OID.uuid:
      return uuid(text);
    case OID.numeric:
      return numericToBinary(text);
    case OID.date: {
      if (text === 'infinity') return int(0x7fffffff, 4);
      if (text === '-infinity') return int(-0x80000000, 4);
      return int(Number(pgMicros(text, false) / 1000n / BigInt(DAY_MS)), 4);
    }
    case OID.timestamp:
      return int64(pgMicros(text, false));
    case OID.timestamptz:
      return int64(pgMicros(text, true));
    case OID.time: {
      const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(text);
      if (!m) throw new UnsupportedBinary('not a time');
      return int64(BigInt(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0')));
    }
    default:
      throw new UnsupportedBinary(`no binary output for type ${oid}`);
  }
}

/** True when `textToBinary` can encode values of `oid`. */
export function hasBinary(oid: number): boolean {
  return BINARY.has(oid);
}
const BINARY: ReadonlySet<number> = new Set(Object.values(OID));

function isoFromMicros(us: bigint, withZone: boolean): string {
  if (us === INT64_MAX) return 'infinity';
  if (us === INT64_MIN) return '-infinity';
  let sec = us / 1_000_000n;
  if (us < 0n && us % 1_000_000n !== 0n) sec -= 1n;
  const micros = Number(us - sec * 1_000_000n);
  const d = new Date(Number(sec) * 1000 + PG_EPOCH_MS);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = micros ? `.${String(micros).padStart(6, '0').replace(/0+$/, '')}` : '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac}${withZone ? '+00' : ''}`;
}

/** Decodes a binary parameter of type `oid` into the text form sent upstream. */
export function binaryToText(oid: number, b: Buffer): string {
  if (TEXT_LIKE.has(oid)) return b.toString('utf8');
  const need = (n: number) => {
    if (b.length !== n) throw new UnsupportedBinary(`a binary ${oid} parameter must be ${n} bytes`);
  };
  switch (oid) {
    case OID.bool:
      need(1);
      return b[0] ? 't' : 'f';
    case OID.int2:
      need(2);
      return String(b.readInt16BE(0));
    case OID.int4:
      need(4);
      return String(b.readInt32BE(0));
    case OID.oid:
      need(4);
      return String(b.readUInt32BE(0));
    case OID.int8:
      need(8);
      return String(b.readBigInt64BE(0));
    case OID.float4:
      need(4);
      return floatText(b.readFloatBE(0));
    case OID.float8:
      need(8);
      return floatText(b.readDoubleBE(0));

    case OID.jsonb:
      if (b[0] !== 1) throw new UnsupportedBinary('unknown jsonb version');
      return b.subarray(1).toString('utf8');
    case OID.bytea:
      return `\\x${b.toString('hex')}`;
    case OID.uuid: {
      need(16);
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
    case OID.numeric:
      return numericFromBinary(b);
    case OID.date: {
      need(4);
      const days = b.readInt32BE(0);
      if (days === 0x7fffffff) return 'infinity';
      if (days === -0x80000000) return '-infinity';
      return new Date(PG_EPOCH_MS + days * DAY_MS).toISOString().slice(0, 10);
    }
    case OID.timestamp:
      need(8);
      return isoFromMicros(b.readBigInt64BE(0), false);
    case OID.timestamptz:
      need(8);
      return isoFromMicros(b.readBigInt64BE(0), true);
    default:
      throw new UnsupportedBinary(`binary parameters of type ${oid} are not supported; send it as text`);
  }
}

function floatText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return String(v);
}
