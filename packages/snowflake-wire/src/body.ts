import { gunzipSync } from 'node:zlib';

/**
 * A request body as drivers send it: Python and JDBC gzip it and Node may label plain JSON as gzip,
 * so the magic bytes decide. An empty body is `{}`; anything but a JSON object throws.
 */
export function decodeBody(raw: unknown, maxBytes: number): Record<string, unknown> {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {};
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw, { maxOutputLength: maxBytes }) : raw;
  const text = bytes.toString('utf8').trim();
  if (!text) return {};
  const v = JSON.parse(text) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SyntaxError('the request body is not a JSON object');
  return v as Record<string, unknown>;
}
