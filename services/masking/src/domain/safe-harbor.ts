// HIPAA Safe Harbor generalisations (45 CFR 164.514(b)(2)(i)(B) and (C)). Pure functions: the
// reference date for ages comes from the caller (the mask header's as_of), never from the clock.

/** What a value becomes when a strategy cannot read it: fail closed, never pass it through. */
export const REDACTED = '[REDACTED]';
/** Safe Harbor's "90 or older" category. */
export const AGE_90_PLUS = '90+';

/**
 * Three-digit ZIP prefixes whose combined population is 20,000 or fewer (HHS de-identification
 * guidance, 2000 Census): Safe Harbor requires them to become 000.
 */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
  '036',
  '059',
  '063',
  '102',
  '203',
  '556',
  '692',
  '790',
  '821',
  '823',
  '830',
  '831',
  '878',
  '879',
  '884',
  '890',
  '893',
]);

/** The reference date of a stream (the header's as_of), already validated. */
export interface AsOf {
  year: number;
  month: number;
  day: number;
}

/** Parses an as_of value (`YYYY-MM-DD`); undefined when it is not a real calendar date. */
export function parseAsOf(text: string): AsOf | undefined {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 7);
  const day = digits(text, 8, 10);
  if (year < 1 || !validDate(year, month, day)) return undefined;
  return { year, month, day };
}

/** Safe Harbor ZIP: 5-digit or ZIP+4 keeps its first three digits (`787**`), restricted prefixes become `000**`. */
export function safeHarborZip(value: string): string {
  const v = trimmed(value);
  const n = v.length;
  // 12345, 12345-6789 or 123456789; anything else is not a ZIP code we can generalise.
  const ok =
    (n === 5 && allDigits(v, 0, 5)) || (n === 10 && allDigits(v, 0, 5) && v.charCodeAt(5) === 45 && allDigits(v, 6, 10)) || (n === 9 && allDigits(v, 0, 9));
  if (!ok) return REDACTED;
  const zip3 = v.slice(0, 3);
  return RESTRICTED_ZIP3.has(zip3) ? '000**' : `${zip3}**`;
}

/** Safe Harbor age: a number over 89 becomes `90+`, other numbers stay, anything else is redacted. */
export function safeHarborAge(value: string): string {
  const v = trimmed(value);
  const n = v.length;
  let i = 0;
  let whole = 0;
  while (i < n && i < 4) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) break;
    whole = whole * 10 + (c - 48);
    i++;
  }
  if (i === 0) return REDACTED;
  let fraction = false;
  if (i < n && v.charCodeAt(i) === 46) {
    const f = i + 1;
    i = f;
    while (i < n && isDigit(v.charCodeAt(i))) {
      if (v.charCodeAt(i) !== 48) fraction = true;
      i++;
    }
    if (i === f) return REDACTED;
  }
  if (i !== n) return REDACTED;
  // 89.5 is over 89.
  return whole > 89 || (whole === 89 && fraction) ? AGE_90_PLUS : value;
}

/**
 * Safe Harbor date: keeps only the year. A year 90 or more years before as_of's year becomes `90+`
 * (decided on the year alone, so the year released never implies an age over 89; someone still
 * 89 may be generalised too). Text that is not a readable date is redacted.
 */
export function safeHarborDate(value: string, asOf: AsOf): string {
  const year = dateYear(value);
  if (year === undefined) return REDACTED;
  return asOf.year - year >= 90 ? AGE_90_PLUS : String(year).padStart(4, '0');
}

const MONTHS: Readonly<Record<string, number>> = {
  jan: 1,
  january: 1,
  feb: 2,
  february: 2,
  mar: 3,
  march: 3,
  apr: 4,
  april: 4,
  may: 5,
  jun: 6,
  june: 6,
  jul: 7,
  july: 7,
  aug: 8,
  august: 8,
  sep: 9,
  sept: 9,
  september: 9,
  oct: 10,
  october: 10,
  nov: 11,
  november: 11,
  dec: 12,
  december: 12,
};

/** Month number of a month name or abbreviation (any case, optional trailing dot), or 0. */
export function monthNumber(word: string): number {
  const w = word.endsWith('.') ? word.slice(0, -1) : word;
  return w.length >= 3 && w.length <= 9 ? (MONTHS[w.toLowerCase()] ?? 0) : 0;
}

// Time of day and zone after a date: 10:22, 10:22:05.123, 10:22 PM, Z, +00, -05:00, UTC.
const TIME = String.raw`(?:[T ](?:[01]?\d|2[0-4]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d{1,9})?)?(?: ?[AaPp][Mm])?)?(?: ?(?:Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT|[A-Z]{3}))?`;
// Full-value date forms besides ISO (which has a fast path). Bounded, no nested quantifiers.
const US = new RegExp(String.raw`^(\d{1,2})([/-])(\d{1,2})\2(\d{4})${TIME}$`);
const DOTTED = new RegExp(String.raw`^(\d{1,2})\.(\d{1,2})\.(\d{4})${TIME}$`);
const SLASHED_ISO = new RegExp(String.raw`^(\d{4})/(\d{1,2})/(\d{1,2})${TIME}$`);
const COMPACT = /^(\d{4})(\d{2})(\d{2})$/;
const YEAR_MONTH = /^(\d{4})-(\d{2})$/;
// Mar 14, 2024 / March 14 2024 / Thu Mar 14 10:22:00 2024 PST (PostgreSQL's "Postgres" style).
const MONTH_FIRST =
  /^(?:[A-Za-z]{3,9},? )?([A-Za-z]{3,9}\.?) (\d{1,2})(?:st|nd|rd|th)?,? (?:((?:[01]?\d|2[0-4]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d{1,9})?)?) )?(\d{4})(?: ?(?:Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT|[A-Z]{3}))?$/;
// 14 Mar 2024 / 14-Mar-2024 / 14 March, 2024.
const DAY_FIRST = new RegExp(String.raw`^(\d{1,2})([ -])([A-Za-z]{3,9}\.?),?\2(\d{4})${TIME}$`);

/** The year of a date or timestamp written in a common form, or undefined when it is not one. */
export function dateYear(value: string): number | undefined {
  const v = trimmed(value);
  const n = v.length;
  if (n < 4 || n > 64) return undefined;
  // Fast path: ISO 8601 / SQL (YYYY-MM-DD, optionally followed by a time).
  if (n >= 10 && v.charCodeAt(4) === 45 && v.charCodeAt(7) === 45 && allDigits(v, 0, 4) && allDigits(v, 5, 7) && allDigits(v, 8, 10)) {
    const y = digits(v, 0, 4);
    if (!validDate(y, digits(v, 5, 7), digits(v, 8, 10))) return undefined;
    if (n === 10) return y;
    return isTimeSuffix(v.slice(10)) ? y : undefined;
  }
  if (n === 4) return allDigits(v, 0, 4) ? digits(v, 0, 4) : undefined;
  let m = US.exec(v);
  if (m) return checked(Number(m[4]), Number(m[1]), Number(m[3]), true);
  m = DOTTED.exec(v);
  if (m) return checked(Number(m[3]), Number(m[2]), Number(m[1]), false);
  m = SLASHED_ISO.exec(v) ?? COMPACT.exec(v);
  if (m) return checked(Number(m[1]), Number(m[2]), Number(m[3]), false);
  m = YEAR_MONTH.exec(v);
  if (m) {
    const month = Number(m[2]);
    return month >= 1 && month <= 12 ? Number(m[1]) : undefined;
  }
  m = MONTH_FIRST.exec(v);
  if (m) return checked(Number(m[4]), monthNumber(m[1]!), Number(m[2]), false);
  m = DAY_FIRST.exec(v);
  if (m) return checked(Number(m[4]), monthNumber(m[3]!), Number(m[1]), false);
  return undefined;
}

const TIME_ONLY = new RegExp(`^${TIME}$`);

function isTimeSuffix(rest: string): boolean {
  return rest.length > 0 && TIME_ONLY.test(rest);
}

/** Year of a validated date; US order (month first) falls back to day first when the month is over 12. */
function checked(year: number, month: number, day: number, swapIfNeeded: boolean): number | undefined {
  if (validDate(year, month, day)) return year;
  if (swapIfNeeded && validDate(year, day, month)) return year;
  return undefined;
}

export function validDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function allDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

function digits(s: string, from: number, to: number): number {
  let x = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return -1;
    x = x * 10 + (c - 48);
  }
  return x;
}

function trimmed(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  return s.charCodeAt(0) <= 32 || s.charCodeAt(n - 1) <= 32 ? s.trim() : s;
}
