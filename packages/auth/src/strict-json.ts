// Strict decoding of the JOSE header and the JWT claims set, before any signature work.
//
// JSON.parse keeps the *last* of duplicate member names, other parsers keep the first: a claims set
// like {"sub":"a","\u0073ub":"b"} means different identities to different components. RFC 7519 §4
// lets a JWT parser either reject duplicates or use the last one; we reject them, at any depth, so
// every component that reads the token agrees on what it says.

const MAX_DEPTH = 16;
const WS = new Set([' ', '\t', '\n', '\r']);
const VALUE_END = new Set([',', ']', '}', ' ', '\t', '\n', '\r']);
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes one base64url segment of a compact JWS into a JSON object. Returns undefined unless the
 * segment is canonical-charset base64url, valid UTF-8, valid JSON with no duplicate member names,
 * nested at most {@link MAX_DEPTH} deep, and an object (not an array, string, number or null).
 */
export function decodeJsonObjectSegment(segment: string): Record<string, unknown> | undefined {
  if (segment.length === 0 || segment.length % 4 === 1 || !BASE64URL.test(segment)) return undefined;
  let text: string;
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'));
  } catch {
    return undefined;
  }
  if (!hasUniqueMemberNames(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * True when `text` is a JSON object whose objects (at every depth) have no repeated member name,
 * comparing names after escape decoding. Only the structure is checked here; JSON.parse validates
 * the grammar of literals afterwards, so any desync on invalid input still ends in a refusal.
 */
export function hasUniqueMemberNames(text: string): boolean {
  let i = 0;
  const skipWs = (): void => {
    while (i < text.length && WS.has(text[i] as string)) i++;
  };
  const readString = (): string | undefined => {
    if (text[i] !== '"') return undefined;
    const start = i++;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        i++;
        try {
          return JSON.parse(text.slice(start, i)) as string;
        } catch {
          return undefined;
        }
      }
      i += c === '\\' ? 2 : 1;
    }
    return undefined;
  };
  const readValue = (depth: number): boolean => {
    if (depth > MAX_DEPTH) return false;
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      const names = new Set<string>();
      skipWs();
      if (text[i] === '}') {
        i++;
        return true;
      }
      for (;;) {
        skipWs();
        const name = readString();
        if (name === undefined || names.has(name)) return false;
        names.add(name);
        skipWs();
        if (text[i++] !== ':' || !readValue(depth + 1)) return false;
        skipWs();
        const next = text[i++];
        if (next === '}') return true;
        if (next !== ',') return false;
      }
    }
    if (c === '[') {
      i++;
      skipWs();
      if (text[i] === ']') {
        i++;
        return true;
      }
      for (;;) {
        if (!readValue(depth + 1)) return false;
        skipWs();
        const next = text[i++];
        if (next === ']') return true;
        if (next !== ',') return false;
      }
    }
    if (c === '"') return readString() !== undefined;
    const start = i;
    while (i < text.length && !VALUE_END.has(text[i] as string)) i++;
    return i > start;
  };
  skipWs();
  if (text[i] !== '{' || !readValue(0)) return false;
  skipWs();
  return i === text.length;
}
