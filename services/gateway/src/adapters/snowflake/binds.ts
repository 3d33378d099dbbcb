// The drivers' bind values (decoded by @phigate/snowflake-wire) as the upstream adapters take
// them: numbers, booleans and text, temporal values as ISO text (both upstreams cast text to the
// column's type). Array binding (Python's executemany, one request with a column of values per
// placeholder) is supported for the one statement Snowflake supports it for, INSERT … VALUES
// (?, …): it becomes one multi-row INSERT, so it is one statement to analyse, decide and audit.
import { AppError } from '@phigate/errors';
import { BindError, type BindValue, decodeBindings } from '@phigate/snowflake-wire';

const pad = (n: number | bigint, w = 2) => String(n).padStart(w, '0');

function scaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`;
}

/** Microseconds since the epoch as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC wall time). */
function wall(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const d = new Date(ms - (((ms % 1000) + 1000) % 1000));
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}.${pad(frac, 6)}`;
}

/** One decoded bind as an upstream parameter. */
export function paramOf(b: BindValue): unknown {
  switch (b.type) {
    case 'NULL':
      return null;
    case 'BIGINT':
      return b.value >= BigInt(Number.MIN_SAFE_INTEGER) && b.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b.value) : b.value.toString();
    case 'DECIMAL':
      return scaled(b.value, b.scale);
    case 'DOUBLE':
    case 'VARCHAR':
    case 'BOOLEAN':
      return b.value;
    case 'DATE':
      return new Date(b.days * 86_400_000).toISOString().slice(0, 10);
    case 'TIME': {
      const us = b.micros;
      const s = us / 1_000_000n;
      return `${pad(s / 3600n)}:${pad((s / 60n) % 60n)}:${pad(s % 60n)}.${pad(us % 1_000_000n, 6)}`;
    }
    case 'TIMESTAMP':
      return wall(b.micros);
    case 'TIMESTAMPTZ':
      return `${wall(b.micros)}+00:00`;
    case 'BLOB':
      return Buffer.from(b.bytes);
  }
}

const ARRAY_INSERT = /^(\s*INSERT\s+INTO\s+[^;]*?\bVALUES\s*)(\(\s*\?(?:\s*,\s*\?)*\s*\))(\s*;?\s*)$/i;

/** Whether a statement takes array binds (what describe-only answers, so JDBC batches use them). */
export function takesArrayBinds(sql: string): boolean {
  return ARRAY_INSERT.test(sql);
}

/**
 * The statement and its parameters for the upstream. Array binds are only accepted for
 * `INSERT … VALUES (?, …)` (the rows become one multi-row VALUES list); anything else is refused.
 */
export function bindStatement(sql: string, bindings: unknown): { sql: string; params: unknown[] } {
  let rows: BindValue[][];
  try {
    rows = decodeBindings(bindings);
  } catch (err) {
    if (err instanceof BindError) throw new AppError('GATEWAY_SF_BIND_UNSUPPORTED', { message: err.message });
    throw err;
  }
  const isArray = bindings !== null && typeof bindings === 'object' && Object.values(bindings).some((b) => Array.isArray((b as { value?: unknown })?.value));
  if (!isArray) return { sql, params: (rows[0] ?? []).map(paramOf) };
  const m = ARRAY_INSERT.exec(sql);
  if (!m) throw new AppError('GATEWAY_SF_BIND_UNSUPPORTED', { message: 'array (batch) binds are supported for INSERT … VALUES (?, …) only' });
  if (!rows.length) throw new AppError('GATEWAY_SF_BIND_UNSUPPORTED', { message: 'an array bind without rows' });
  return { sql: `${m[1]}${rows.map(() => m[2]).join(', ')}${m[3]}`, params: rows.flat().map(paramOf) };
}
