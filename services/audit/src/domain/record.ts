import { createHash } from 'node:crypto';

// Format 2 of a chain record (docs/adr/0010-audit-partition-chains.md): one record per consumed
// Kafka message, chained per topic partition. Pure: the caller decodes events (decodeEvent of
// @phigate/bus) and passes the result in, so the writer and verify derive columns the same way.

/** The first line of every format 2 record's hashed header. */
export const RECORD_FORMAT = 'phigate-audit-record/2';

/** What a record holds: a searchable event, a quarantined message, or a copy of a stored event id. */
export type RecordStatus = 'event' | 'quarantined' | 'duplicate';

/** Why a message could not be stored as a searchable event. */
export const QUARANTINE_REASONS = {
  RAW_NOT_UTF8: 'the message is not valid UTF-8',
  TEXT_NUL: 'a string holds U+0000 (NUL), which PostgreSQL text and json extraction refuse',
  TEXT_LONE_SURROGATE: 'a string holds a lone UTF-16 surrogate, which is not Unicode text',
  EVENT_INVALID: 'the message is not a valid audit event (JSON, envelope, id or detail)',
  TIME_OUT_OF_RANGE: 'the event time is invalid or outside what the store can hold',
  STORE_REFUSED: 'the store refused the event as data (its bytes are kept quarantined)',
} as const;

/** A reason code from {@link QUARANTINE_REASONS}. */
export type QuarantineReason = keyof typeof QUARANTINE_REASONS;

/** Where a record sits: its Kafka topic partition (its chain) and offset. */
export interface RecordPosition {
  topic: string;
  partition: number;
  /** int64 offset as a decimal string. */
  offset: string;
}

/** The hashed header of a record, besides its bytes. */
export interface RecordHeader extends RecordPosition {
  status: RecordStatus;
  /** Ingestion time in {@link usecIso} form. */
  ingestedAt: string;
}

/**
 * Chain link of format 2: sha256(prev || header || exact message bytes). Topic names have no
 * whitespace (Kafka allows [a-zA-Z0-9._-]), so the newline-separated header is unambiguous.
 */
export function recordHash(prev: Buffer, h: RecordHeader, bytes: Buffer): Buffer {
  return createHash('sha256')
    .update(prev)
    .update(`${RECORD_FORMAT}\n${h.status}\n${h.topic}\n${h.partition}\n${h.offset}\n${h.ingestedAt}\n`)
    .update(bytes)
    .digest();
}

/** A time as PostgreSQL's timestamptz holds it, to the microsecond: `2026-01-02T03:04:05.123000Z`. */
export function usecIso(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}

/** The columns a search reads, derived from an event's bytes (NULL where the event has none). */
export interface DerivedColumns {
  id: string | null;
  request_id: string | null;
  type: string | null;
  event_time: string | null;
  identity_subject: string | null;
  connection: string | null;
}

/** The names of the derived columns, in table order. */
export const COLUMN_NAMES = ['id', 'request_id', 'type', 'event_time', 'identity_subject', 'connection'] as const satisfies readonly (keyof DerivedColumns)[];

/** The derived columns of a stored row. */
export const pickColumns = (row: DerivedColumns): DerivedColumns => Object.fromEntries(COLUMN_NAMES.map((k) => [k, row[k]])) as unknown as DerivedColumns;

/** The columns a quarantined or duplicate record has: none. */
export const NO_COLUMNS: DerivedColumns = Object.freeze({
  id: null,
  request_id: null,
  type: null,
  event_time: null,
  identity_subject: null,
  connection: null,
});

/** The fields of a decoded event the store derives columns from. */
export interface DecodedEvent {
  id: string;
  type: string;
  requestId: string;
  time?: Date | undefined;
  identity?: { subject: string } | undefined;
  connection: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });
// PostgreSQL's timestamptz starts at 4713 BC; JavaScript dates end before its upper bound.
const PG_MIN_TIME = Date.UTC(-4712, 0, 1);

/** The outcome of classifying one message: storable as an event (with its columns), or not and why. */
export type Classified =
  | { storable: true; text: string; event: DecodedEvent; columns: DerivedColumns }
  | { storable: false; reason: QuarantineReason; claimedId: string };

/**
 * Decides whether a message can be stored as a searchable event: valid UTF-8, no NUL or lone
 * surrogate escaped in any string (PostgreSQL refuses both in json extraction and text), a valid
 * event with a UUID id, and a time the store can hold. `decoded` is the message decoded by the
 * event contract, or undefined when it did not decode. `ingestedAt` stands in for a missing time.
 */
export function classify(raw: Buffer, decoded: DecodedEvent | undefined, ingestedAt: string): Classified {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { storable: false, reason: 'RAW_NOT_UTF8', claimedId: '' };
  }
  const claimedId = decoded && UUID.test(decoded.id) ? decoded.id.toLowerCase() : '';
  const unstorable = escapeProblem(text);
  if (unstorable) return { storable: false, reason: unstorable, claimedId };
  if (!decoded || !UUID.test(decoded.id)) return { storable: false, reason: 'EVENT_INVALID', claimedId };
  const t = decoded.time;
  if (t && (Number.isNaN(t.getTime()) || t.getTime() < PG_MIN_TIME)) return { storable: false, reason: 'TIME_OUT_OF_RANGE', claimedId };
  return { storable: true, text, event: decoded, columns: deriveColumns(decoded, ingestedAt) };
}

/** The search columns of a storable event. */
export function deriveColumns(e: DecodedEvent, ingestedAt: string): DerivedColumns {
  return {
    id: e.id.toLowerCase(),
    request_id: e.requestId,
    type: e.type,
    event_time: e.time ? usecIso(e.time) : ingestedAt,
    identity_subject: e.identity?.subject ?? null,
    connection: e.connection || null,
  };
}

/** The first column whose stored value differs from the derived one, if any. */
export function mismatchedColumn(derived: DerivedColumns, stored: DerivedColumns): keyof DerivedColumns | undefined {
  return COLUMN_NAMES.find((k) => derived[k] !== stored[k]);
}

/**
 * In valid JSON a backslash occurs only inside strings, so scanning escapes finds every NUL and
 * every surrogate the text encodes. A high surrogate must be followed at once by a low one.
 */
function escapeProblem(text: string): QuarantineReason | undefined {
  for (let i = text.indexOf('\\'); i !== -1; i = text.indexOf('\\', i)) {
    if (text[i + 1] !== 'u') {
      i += 2;
      continue;
    }
    const cp = Number.parseInt(text.slice(i + 2, i + 6), 16);
    if (cp === 0) return 'TEXT_NUL';
    if (cp >= 0xdc00 && cp <= 0xdfff) return 'TEXT_LONE_SURROGATE';
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const lo = text[i + 6] === '\\' && text[i + 7] === 'u' ? Number.parseInt(text.slice(i + 8, i + 12), 16) : Number.NaN;
      if (!(lo >= 0xdc00 && lo <= 0xdfff)) return 'TEXT_LONE_SURROGATE';
      i += 12;
      continue;
    }
    i += 6;
  }
  return undefined;
}
