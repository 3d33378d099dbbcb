// Detectors for the HIPAA Safe Harbor identifiers that have a shape (45 CFR 164.514(b)(2)(i)),
// found inside free text in one left-to-right pass.
//
// Design, for speed and for predictable cost:
// - a value with no digit, no `@` and no URL marker is skipped without scanning;
// - the scan visits each token start once; shapes are checked by char loops or by small sticky
//   regular expressions anchored at that position, all with bounded repetition and no nested
//   quantifiers, so a scan is linear in the length of the text (no catastrophic backtracking);
// - shape checks validate (SSN area/group/serial, NANP area and exchange, Luhn, VIN check digit,
//   calendar dates, IPv4 octets) to keep false positives down;
// - bare numbers that could be anything (a 9-digit SSN without dashes, an account number, a
//   5-digit ZIP) count only after a context keyword a few characters earlier ("SSN", "acct", "zip").
// Configured MRN and health-plan patterns may use bounded repetition only (validatePattern).

export const DETECTOR_NAMES = [
  'ssn',
  'phone',
  'fax',
  'email',
  'mrn',
  'health_plan',
  'account',
  'card',
  'date',
  'ip',
  'url',
  'vehicle',
  'device',
  'license',
  'zip',
  'address',
  'age',
] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** What each detector's match becomes in scrubbed text. Ages over 89 become Safe Harbor's "90+". */
export const PLACEHOLDERS: Readonly<Record<DetectorName, string>> = Object.freeze({
  ssn: '[SSN]',
  phone: '[PHONE]',
  fax: '[FAX]',
  email: '[EMAIL]',
  mrn: '[MRN]',
  health_plan: '[HEALTH_PLAN]',
  account: '[ACCOUNT]',
  card: '[CARD]',
  date: '[DATE]',
  ip: '[IP]',
  url: '[URL]',
  vehicle: '[VEHICLE]',
  device: '[DEVICE]',
  license: '[LICENSE]',
  zip: '[ZIP]',
  address: '[ADDRESS]',
  age: '90+',
});

// Detector ids (indexes into DETECTOR_NAMES).
const SSN = 0;
const PHONE = 1;
const FAX = 2;
const EMAIL = 3;
const MRN = 4;
const PLAN = 5;
const ACCOUNT = 6;
const CARD = 7;
const DATE = 8;
const IP = 9;
const URL = 10;
const VEHICLE = 11;
const DEVICE = 12;
const LICENSE = 13;
const ZIP = 14;
const ADDRESS = 15;
const AGE = 16;

const PLACEHOLDER_BY_ID: readonly string[] = DETECTOR_NAMES.map((d) => PLACEHOLDERS[d]);

// Context keywords: a bare number right after one of these (within WINDOW characters) is read as
// that kind. SUPPRESS keywords (order, invoice, room...) stop bare numbers being read as phones.
const C_SSN = 0;
const C_FAX = 1;
const C_PHONE = 2;
const C_ACCOUNT = 3;
const C_ZIP = 4;
const C_MRN = 5;
const C_PLAN = 6;
const C_DEVICE = 7;
const C_VEHICLE = 8;
const C_LICENSE = 9;
const C_AGE = 10;
const C_SUPPRESS = 11;
const CONTEXTS = 12;
const WINDOW = 24;

const KEYWORDS: ReadonlyMap<string, number> = new Map<string, number>([
  ...['ssn', 'ssns', 'social', 'itin'].map((w) => [w, C_SSN] as const),
  ...['fax', 'faxed', 'facsimile'].map((w) => [w, C_FAX] as const),
  ...['phone', 'ph', 'tel', 'telephone', 'cell', 'mobile', 'call', 'called', 'callback', 'contact', 'pager'].map((w) => [w, C_PHONE] as const),
  ...['acct', 'account', 'acc', 'iban', 'routing', 'bank'].map((w) => [w, C_ACCOUNT] as const),
  ...['zip', 'zipcode', 'postal', 'postcode', 'lives', 'resides', 'living', 'located'].map((w) => [w, C_ZIP] as const),
  ...['mrn', 'medical', 'record', 'chart'].map((w) => [w, C_MRN] as const),
  ...['member', 'subscriber', 'policy', 'beneficiary', 'medicaid', 'medicare', 'insurance', 'insurer', 'plan', 'hicn', 'mbi'].map((w) => [w, C_PLAN] as const),
  ...['serial', 'sn', 'device', 'udi', 'imei', 'meid', 'esn', 'implant', 'mac'].map((w) => [w, C_DEVICE] as const),
  ...['vin', 'plate', 'vehicle'].map((w) => [w, C_VEHICLE] as const),
  ...['license', 'licence', 'lic', 'dea', 'npi', 'certificate', 'cert', 'permit'].map((w) => [w, C_LICENSE] as const),
  ...['age', 'aged'].map((w) => [w, C_AGE] as const),
  ...['order', 'invoice', 'inv', 'ref', 'reference', 'confirmation', 'lot', 'batch', 'tracking', 'ticket', 'room', 'rm', 'bed', 'po', 'rx', 'ext'].map(
    (w) => [w, C_SUPPRESS] as const,
  ),
]);

/** Hashes of the keywords (as keyword() computes them), to skip the lookup for ordinary words. */
const KEYWORD_HASHES: ReadonlySet<number> = new Set(
  [...KEYWORDS.keys()].map((word) => {
    let h = word.length;
    for (let j = 0; j < word.length; j++) h = (Math.imul(h, 31) + (word.charCodeAt(j) | 32)) | 0;
    return h;
  }),
);

const ABBREVIATIONS = new Set([
  'no',
  'nr',
  'num',
  'acct',
  'acc',
  'tel',
  'ph',
  'lic',
  'ref',
  'inv',
  'id',
  'ss',
  'sec',
  'soc',
  'med',
  'rec',
  'mbr',
  'pol',
  'ser',
  'dev',
]);

const US_STATES = new Set(
  'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI'.split(
    ' ',
  ),
);

// Anchored (sticky) shapes tried at a token start; bounded repetition only.
const MONTH = '(?:january|february|march|april|june|july|august|september|sept|october|november|december|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const DAY = '(?:0?[1-9]|[12]\\d|3[01])';
const YEAR = '(?:1[89]|2[01])\\d{2}';
const END = '(?![0-9A-Za-z])';
const CLOCK = '(?:[T ](?:[01]?\\d|2[0-4]):[0-5]\\d(?::(?:[0-5]\\d|60)(?:\\.\\d{1,9})?)?(?: ?[AaPp][Mm])?(?: ?(?:Z|[+-]\\d{2}(?::?\\d{2})?|UTC|GMT))?)?';
const MONTH_INITIALS = 'JFMASONDjfmasond';
const RE_ISO_DATE = new RegExp(`(${YEAR})([-/])(0?[1-9]|1[0-2])\\2(${DAY})${CLOCK}${END}`, 'y');
const RE_YEAR_MONTH = new RegExp(`${YEAR}-(?:0[1-9]|1[0-2])(?![0-9A-Za-z]|[-/.:]\\d)`, 'y');
const RE_US_DATE = new RegExp(`(\\d{1,2})([-/])(\\d{1,2})\\2(\\d{4}|\\d{2})${CLOCK}${END}`, 'y');
const RE_DOT_DATE = new RegExp(`(${DAY})\\.(0?[1-9]|1[0-2])\\.(${YEAR})${END}`, 'y');
const RE_DAY_MONTH = new RegExp(`${DAY}(?:st|nd|rd|th)?[ -]${MONTH}\\.?,?[ -]${YEAR}${END}`, 'iy');
const RE_MONTH_DAY = new RegExp(`${MONTH}\\.? (?:${DAY}(?:st|nd|rd|th)?,? )?${YEAR}${END}`, 'iy');
const RE_AGE_SUFFIX = /(?: ?(?:y\/o|y\.o\.|yo|yrs? old|years? old|yrs?)|-(?:year|yr)s?-old|-yo)(?![0-9A-Za-z])/iy;
const STREET =
  '(?:St|Street|Ave|Avenue|Dr|Drive|Ln|Lane|Rd|Road|Blvd|Boulevard|Ct|Court|Way|Pl|Place|Ter|Terrace|Pkwy|Parkway|Hwy|Highway|Cir|Circle|Sq|Square)';
const RE_ADDRESS = new RegExp(`\\d{1,6} (?:(?:[A-Z][A-Za-z'-]{0,20}|\\d{1,3}(?:st|nd|rd|th)|[NSEW]\\.?) ){1,4}${STREET}\\.?(?![0-9A-Za-z])`, 'y');

/** Detector configuration: MRN and health-plan patterns are site specific. */
export interface DetectorConfig {
  /** Regular expressions (bounded repetition only) for medical record numbers. */
  mrnPatterns: readonly string[];
  /** Regular expressions (bounded repetition only) for health plan beneficiary / member numbers. */
  healthPlanPatterns: readonly string[];
}

const MBI_L = 'AC-HJKMNP-RT-Y';
export const DEFAULT_DETECTOR_CONFIG: DetectorConfig = Object.freeze({
  mrnPatterns: ['(?i:mrn)[-:# ]{0,2}\\d{5,10}', '(?i:mr#)\\d{5,10}'],
  healthPlanPatterns: [
    // Medicare Beneficiary Identifier (CMS format), with or without dashes.
    `[1-9][${MBI_L}][${MBI_L}0-9]\\d-?[${MBI_L}][${MBI_L}0-9]\\d-?[${MBI_L}]{2}\\d{2}`,
    // Payer member ids: a 1-3 letter prefix and 8-12 digits (W123456789, XEH123456789, MCD12345678).
    '[A-Z]{1,3}\\d{8,12}',
  ],
});

/**
 * Checks that a configured pattern compiles and cannot backtrack badly: no unbounded repetition
 * (`*`, `+`, `{n,}`), no repetition applied to a group, no back-references or lookaround, and no
 * repetition over 64. Returns the problem, or undefined when the pattern is acceptable.
 */
export function validatePattern(pattern: string): string | undefined {
  if (pattern.length === 0 || pattern.length > 200) return 'must be 1-200 characters';
  try {
    new RegExp(pattern, 'y');
  } catch (err) {
    return `does not compile: ${(err as Error).message}`;
  }
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9k]/.test(next)) return 'back-references are not allowed';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '*' || c === '+') return 'unbounded repetition (* or +) is not allowed; use {n,m}';
    else if (c === '(' && pattern[i + 1] === '?' && /[=!<]/.test(pattern[i + 2] ?? '')) {
      if (!(pattern[i + 2] === '<' && /[A-Za-z]/.test(pattern[i + 3] ?? ''))) return 'lookaround is not allowed';
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (!m) continue;
      if (m[2] !== undefined && m[3] === '') return 'unbounded repetition ({n,}) is not allowed';
      if (Number(m[3] ?? m[1]) > 64) return 'repetition over 64 is not allowed';
      if (pattern[i - 1] === ')') return 'repetition of a group is not allowed';
    } else if (c === '?' && pattern[i - 1] === ')') return 'repetition of a group is not allowed';
  }
  return undefined;
}

function combine(patterns: readonly string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  for (const p of patterns) {
    const problem = validatePattern(p);
    if (problem) throw new Error(`detector pattern ${JSON.stringify(p)}: ${problem}`);
  }
  return new RegExp(patterns.map((p) => `(?:${p})`).join('|'), 'y');
}

// Character classes (ASCII table lookups).
const F_DIGIT = 1;
const F_ALPHA = 2;
const F_HEX = 4;
const F_LOCAL = 8; // e-mail local part
const F_DOMAIN = 16;
const F_START = 32; // may start a token: letter, digit, '(' or '+'
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  let f = 0;
  if (c >= 48 && c <= 57) f |= F_DIGIT | F_HEX | F_LOCAL | F_DOMAIN | F_START;
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) f |= F_ALPHA | F_LOCAL | F_DOMAIN | F_START;
  if (/[a-fA-F]/.test(ch)) f |= F_HEX;
  if ('._%+-'.includes(ch)) f |= F_LOCAL;
  if ('.-'.includes(ch)) f |= F_DOMAIN;
  if ('(+'.includes(ch)) f |= F_START;
  CLASS[c] = f;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Letter or digit, including non-ASCII letters (so a token never starts inside a word). */
function isWord(c: number): boolean {
  if (c < 128) return (CLASS[c]! & (F_DIGIT | F_ALPHA)) !== 0;
  return (c >= 0xc0 && c <= 0x2af && c !== 0xd7 && c !== 0xf7) || (c >= 0x370 && c <= 0x1fff) || (c >= 0x3040 && c <= 0xd7ff) || (c >= 0xf900 && c <= 0xfeff);
}

function has(c: number, flag: number): boolean {
  return c < 128 && (CLASS[c]! & flag) !== 0;
}

/** Cheap pre-check: without a digit, an `@` or a URL marker nothing here can match. */
export function mayContainIdentifier(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 48 && c <= 57) || c === 64) return true;
  }
  return text.includes('://') || text.includes('www.') || text.includes('WWW.');
}

/** Receives each match: [start, end) and the detector id. */
type Sink = (start: number, end: number, detector: number) => void;

/**
 * The detectors, compiled once (configured patterns included). One instance per configuration;
 * scanning is synchronous and keeps its state in the instance, so it is not re-entrant.
 */
export class Scanner {
  private readonly mrn: RegExp | undefined;
  private readonly plan: RegExp | undefined;
  // Per-scan state.
  private s = '';
  private n = 0;
  private kind = -1;
  private readonly kw = new Int32Array(CONTEXTS);
  private readonly kwStart = new Int32Array(CONTEXTS);
  private readonly groupEnds = new Int32Array(20);
  private lastKw = -1000;
  private hasAt = false;
  private hasUrl = false;
  private emailRunEnd = -1;
  private nextDigit = -1;

  constructor(config: DetectorConfig = DEFAULT_DETECTOR_CONFIG) {
    this.mrn = combine(config.mrnPatterns);
    this.plan = combine(config.healthPlanPatterns);
  }

  /** Replaces every detected identifier with its typed placeholder. */
  scrub(text: string): { text: string; replaced: number } {
    if (!mayContainIdentifier(text)) return { text, replaced: 0 };
    let out = '';
    let last = 0;
    let replaced = 0;
    this.scan(text, (start, end, d) => {
      out += text.slice(last, start) + PLACEHOLDER_BY_ID[d]!;
      last = end;
      replaced++;
    });
    if (replaced === 0) return { text, replaced: 0 };
    return { text: out + text.slice(last), replaced };
  }

  /** Every match as {detector, start, end}, in order (tests and tools; never log the matched text). */
  findAll(text: string): Array<{ detector: DetectorName; start: number; end: number }> {
    const out: Array<{ detector: DetectorName; start: number; end: number }> = [];
    if (mayContainIdentifier(text)) this.scan(text, (start, end, d) => out.push({ detector: DETECTOR_NAMES[d]!, start, end }));
    return out;
  }

  /**
   * Adds each match to counts[detector id] (indexes of DETECTOR_NAMES); returns how many were found.
   * Matches of a detector whose entry in `ignore` is 1 are neither counted nor returned (they still
   * take their span of the text, so it is not read again as another kind).
   */
  count(text: string, counts: Float64Array | number[], ignore?: Uint8Array): number {
    if (!mayContainIdentifier(text)) return 0;
    let found = 0;
    this.scan(text, (_s, _e, d) => {
      if (ignore !== undefined && ignore[d] === 1) return;
      counts[d] = (counts[d] ?? 0) + 1;
      found++;
    });
    return found;
  }

  private scan(text: string, sink: Sink): void {
    const s = text;
    const n = s.length;
    this.s = s;
    this.n = n;
    this.kw.fill(-1000);
    this.lastKw = -1000;
    this.hasAt = s.includes('@');
    this.hasUrl = s.includes('://') || s.includes('www.') || s.includes('WWW.');
    this.emailRunEnd = -1;
    this.nextDigit = -1;
    let i = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c >= 128 || (CLASS[c]! & F_START) === 0) {
        if (c >= 128 && isWord(c)) i = this.wordEnd(i + 1);
        else i++;
        continue;
      }
      let end = -1;
      if (isDigit(c)) {
        // A digit right after "<digit>." "<digit>-" "<digit>/" "<digit>," or "<digit>:" continues a number.
        const p = i > 0 ? s.charCodeAt(i - 1) : 32;
        if (i >= 2 && (p === 46 || p === 45 || p === 47 || p === 44 || p === 58) && isDigit(s.charCodeAt(i - 2))) {
          i = this.wordEnd(i + 1);
          continue;
        }
        end = this.atDigit(i);
      } else if (c === 40) end = this.atParen(i);
      else if (c === 43) end = this.atPlus(i);
      else if (this.hasAt || this.digitNear(i, 40) || (this.hasUrl && ((c | 32) === 104 || (c | 32) === 102 || (c | 32) === 119))) end = this.atLetter(i);
      else {
        // A word far from any digit, in a text without '@': nothing here can start an identifier.
        i = this.wordEnd(i + 1);
        continue;
      }
      if (end > i) {
        sink(i, end, this.kind);
        if (this.kind === ADDRESS) this.setContext(C_ZIP, end, end);
        i = end;
        continue;
      }
      i = c === 40 || c === 43 ? i + 1 : this.wordEnd(i + 1);
    }
    this.s = '';
  }

  private wordEnd(from: number): number {
    const s = this.s;
    let j = from;
    while (j < this.n && isWord(s.charCodeAt(j))) j++;
    return j;
  }

  private digitsEnd(from: number): number {
    const s = this.s;
    let j = from;
    while (j < this.n && isDigit(s.charCodeAt(j))) j++;
    return j;
  }

  private boundaryAt(j: number): boolean {
    return j >= this.n || !isWord(this.s.charCodeAt(j));
  }

  /** Distance-bounded look-ahead: is there a digit within `within` characters of i? */
  private digitNear(i: number, within: number): boolean {
    if (this.nextDigit < i) {
      let j = Math.max(i, this.nextDigit + 1);
      while (j < this.n && !isDigit(this.s.charCodeAt(j))) j++;
      this.nextDigit = j;
    }
    return this.nextDigit - i <= within;
  }

  /**
   * The context keyword closest before i, or -1. A keyword reaches a number only within WINDOW
   * characters, over at most three words, no digits and no sentence end ("plan. 123-45-6789"
   * is not a plan number; "Account no. 1234" is an account number).
   */
  private context(i: number): number {
    if (i - this.lastKw > WINDOW) return -1;
    let best = -1;
    let bestPos = i - WINDOW - 1;
    for (let k = 0; k < CONTEXTS; k++) {
      const p = this.kw[k]!;
      if (p > bestPos && p <= i) {
        best = k;
        bestPos = p;
      }
    }
    if (best < 0) return -1;
    const s = this.s;
    let words = 0;
    let wordStart = -1;
    for (let j = bestPos; j < i; j++) {
      const c = s.charCodeAt(j);
      if (isDigit(c) || c === 59 || c === 33 || c === 63 || c === 10) return -1;
      if (isWord(c)) {
        if (wordStart < 0) {
          wordStart = j;
          if (++words > 3) return -1;
        }
        continue;
      }
      // A full stop ends the sentence, unless it ends an abbreviation ("no.", "acct.") or the keyword itself is one.
      if (c === 46 && j + 1 < i && !isWord(s.charCodeAt(j + 1))) {
        const from = wordStart >= 0 ? wordStart : this.kwStart[best]!;
        if (!ABBREVIATIONS.has(s.slice(from, j).toLowerCase())) return -1;
      }
      wordStart = -1;
    }
    return best;
  }

  private sticky(re: RegExp, i: number): number {
    re.lastIndex = i;
    if (!re.test(this.s)) return -1;
    const end = re.lastIndex;
    return this.boundaryAt(end) ? end : -1;
  }

  private found(kind: number, end: number): number {
    this.kind = kind;
    return end;
  }

  // ---------------------------------------------------------------------------------------------
  // Token starting with a digit.

  private atDigit(i: number): number {
    const s = this.s;
    let end = this.email(i);
    if (end > 0) return this.found(EMAIL, end);
    const e0 = this.digitsEnd(i);
    const len0 = e0 - i;
    const c1 = e0 < this.n ? s.charCodeAt(e0) : 0;

    if (c1 === 46) {
      end = this.ipv4(i);
      if (end > 0) return this.found(IP, end);
      end = this.stickyDate(RE_DOT_DATE, i);
      if (end > 0) return this.found(DATE, end);
    }
    if (c1 === 58 || (c1 === 45 && len0 === 2) || (c1 < 128 && (CLASS[c1]! & F_HEX) !== 0 && !isDigit(c1))) {
      end = this.hexColon(i);
      if (end > 0) return end;
    }
    if (len0 === 4 && (c1 === 45 || c1 === 47)) {
      end = this.stickyDate(RE_ISO_DATE, i);
      if (end > 0) return this.found(DATE, end);
      end = this.sticky(RE_YEAR_MONTH, i);
      if (end > 0) return this.found(DATE, end);
    }
    if (len0 <= 2) {
      if (c1 === 47 || c1 === 45) {
        end = this.stickyDate(RE_US_DATE, i);
        if (end > 0) return this.found(DATE, end);
      }
      if (c1 === 32 || c1 === 45 || (c1 < 128 && (CLASS[c1]! & F_ALPHA) !== 0)) {
        end = this.sticky(RE_DAY_MONTH, i);
        if (end > 0) return this.found(DATE, end);
      }
    }
    if (len0 === 3 && (c1 === 45 || c1 === 32)) {
      end = this.ssnDashed(i, c1);
      if (end > 0) return this.found(SSN, end);
    }
    const ctx = this.context(i);
    end = this.phone(i, false);
    if (end > 0) return this.found(ctx === C_FAX ? FAX : PHONE, end);
    if (len0 === 5 && c1 === 45 && this.digitsEnd(e0 + 1) === e0 + 5 && this.boundaryAt(e0 + 5)) return this.found(ZIP, e0 + 5);
    end = this.cardOrAccount(i, e0, ctx);
    if (end > 0) return end;
    end = this.patterns(i);
    if (end > 0) return end;
    end = this.vin(i, ctx);
    if (end > 0) return this.found(VEHICLE, end);
    end = this.contextual(i, e0, ctx);
    if (end > 0) return end;
    if (len0 <= 3) {
      // "93 y/o", "93-year-old": ages over 89 (the number only).
      RE_AGE_SUFFIX.lastIndex = e0;
      if (RE_AGE_SUFFIX.test(s) && this.number(i, e0) > 89) return this.found(AGE, e0);
    }
    if (len0 <= 6 && c1 === 32) {
      end = this.sticky(RE_ADDRESS, i);
      if (end > 0) return this.found(ADDRESS, end);
    }
    return -1;
  }

  private number(from: number, to: number): number {
    let x = 0;
    for (let j = from; j < to; j++) x = x * 10 + (this.s.charCodeAt(j) - 48);
    return x;
  }

  /** A date shape whose day also exists in its month (31 April is not a date). */
  private stickyDate(re: RegExp, i: number): number {
    re.lastIndex = i;
    const m = re.exec(this.s);
    if (!m) return -1;
    const end = i + m[0].length;
    if (!this.boundaryAt(end)) return -1;
    let y: number;
    let mo: number;
    let d: number;
    if (re === RE_ISO_DATE) {
      y = Number(m[1]);
      mo = Number(m[3]);
      d = Number(m[4]);
    } else if (re === RE_DOT_DATE) {
      y = Number(m[3]);
      mo = Number(m[2]);
      d = Number(m[1]);
    } else {
      // US month/day/year, or day/month/year when the first part cannot be a month.
      y = m[4]!.length === 2 ? 2000 : Number(m[4]);
      mo = Number(m[1]);
      d = Number(m[3]);
      if (mo > 12) [mo, d] = [d, mo];
      if (m[4]!.length === 4 && (y < 1800 || y > 2199)) return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 ? 29 : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31)) return -1;
    if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return -1;
    return end;
  }

  /** ddd-dd-dddd or ddd dd dddd, never-issued numbers excluded (area 000 or 666, group 00, serial 0000). */
  private ssnDashed(i: number, sep: number): number {
    const s = this.s;
    if (s.charCodeAt(i + 3) !== sep || s.charCodeAt(i + 6) !== sep) return -1;
    if (this.digitsEnd(i + 4) !== i + 6 || this.digitsEnd(i + 7) !== i + 11 || !this.boundaryAt(i + 11)) return -1;
    // "123-45-6789-0" is something else (with spaces, a following number is just the next word).
    if (sep === 45 && i + 12 < this.n && s.charCodeAt(i + 11) === sep && isDigit(s.charCodeAt(i + 12))) return -1;
    return validSsn(this.number(i, i + 3), this.number(i + 4, i + 6), this.number(i + 7, i + 11)) ? i + 11 : -1;
  }

  /**
   * North American numbers: [+]1 optional, then (AAA) or AAA, then EEE and LLLL, separators
   * space, '.', '-' (or none at all for 10 or 11 contiguous digits). The area code and exchange
   * must start with 2-9 and the area code must not be N11.
   */
  private phone(i: number, afterPlus: boolean): number {
    const s = this.s;
    let j = i;
    // Country code 1.
    if (s.charCodeAt(j) === 49) {
      const c = s.charCodeAt(j + 1);
      if (c === 32 || c === 45 || c === 46) j += 2;
      else if (c === 40) j += 1;
      else if (afterPlus) j += 1;
      else {
        // 1AAAEEELLLL
        if (this.digitsEnd(j) === j + 11 && this.boundaryAt(j + 11) && nanp(s, j + 1, j + 4)) return j + 11;
      }
    }
    let area: number;
    if (s.charCodeAt(j) === 40) {
      if (this.digitsEnd(j + 1) !== j + 4 || s.charCodeAt(j + 4) !== 41) return -1;
      area = j + 1;
      j += 5;
      if (s.charCodeAt(j) === 32) j++;
    } else {
      const e = this.digitsEnd(j);
      if (e - j === 10) {
        if (!this.boundaryAt(e) || !nanp(s, j, j + 3)) return -1;
        // Bare ten digits: a phone unless the context says otherwise (an order or account number).
        const ctx = this.context(i);
        return ctx === -1 || ctx === C_PHONE || ctx === C_FAX ? e : -1;
      }
      if (e - j !== 3) return -1;
      area = j;
      const sep = s.charCodeAt(e);
      if (sep !== 32 && sep !== 45 && sep !== 46) return -1;
      j = e + 1;
    }
    if (this.digitsEnd(j) !== j + 3) return -1;
    const sep2 = s.charCodeAt(j + 3);
    if (sep2 !== 32 && sep2 !== 45 && sep2 !== 46) return -1;
    if (this.digitsEnd(j + 4) !== j + 8 || !this.boundaryAt(j + 8)) return -1;
    // A further "-dddd" group makes it something else (a card or an account number).
    const after = s.charCodeAt(j + 8);
    if (j + 9 < this.n && (after === 45 || (after === 46 && sep2 === 46)) && isDigit(s.charCodeAt(j + 9))) return -1;
    if (!nanp(s, area, area + 3) || s.charCodeAt(j) < 50) return -1;
    return j + 8;
  }

  /** 13-19 digits (contiguous, or in groups split by single spaces or dashes) that pass Luhn; or any number after an account keyword. */
  private cardOrAccount(i: number, e0: number, ctx: number): number {
    const s = this.s;
    const ends = this.groupEnds;
    let groups = 1;
    ends[0] = e0;
    const first = e0 - i;
    const sep = s.charCodeAt(e0);
    // Groups: "4111 1111 1111 1111", "4111-1111-...", "0042-8812-77" (dashes after an account keyword).
    if ((sep === 32 && first === 4) || (sep === 45 && (first === 4 || ctx === C_ACCOUNT))) {
      let j = e0;
      let total = first;
      while (j + 1 < this.n && s.charCodeAt(j) === sep && isDigit(s.charCodeAt(j + 1)) && total < 20 && groups < ends.length) {
        const e = this.digitsEnd(j + 1);
        if (sep === 32 && (e - j - 1 < 3 || e - j - 1 > 6)) break;
        total += e - (j + 1);
        j = e;
        ends[groups++] = e;
      }
    }
    // The longest run of groups that makes an account number (after a keyword) or a Luhn-valid card.
    for (let g = groups; g >= 1; g--) {
      const e = ends[g - 1]!;
      if (!this.boundaryAt(e)) continue;
      const digits = e - i - (g - 1);
      if (ctx === C_ACCOUNT && digits >= 4 && digits <= 20) return this.found(ACCOUNT, e);
      if (digits < 13 || digits > 19 || (g > 1 && g < 3)) continue;
      if (luhn(s, i, e)) return this.found(CARD, e);
    }
    return -1;
  }

  /** Configured MRN and health-plan patterns, anchored here and ending at a word boundary. */
  private patterns(i: number): number {
    if (this.mrn) {
      const end = this.sticky(this.mrn, i);
      if (end > 0) return this.found(MRN, end);
    }
    if (this.plan) {
      const end = this.sticky(this.plan, i);
      if (end > 0) return this.found(PLAN, end);
    }
    return -1;
  }

  /** 17-character VIN with a valid check digit (or any 17-character VIN after "VIN"). */
  private vin(i: number, ctx: number): number {
    const end = this.wordEnd(i);
    if (end - i !== 17) return -1;
    return validVin(this.s, i, ctx === C_VEHICLE) ? end : -1;
  }

  /** Bare numbers and codes read by the keyword before them. */
  private contextual(i: number, e0: number, ctx: number): number {
    if (ctx < 0 || ctx === C_SUPPRESS) return -1;
    const s = this.s;
    const digits = e0 - i;
    const boundary = this.boundaryAt(e0);
    switch (ctx) {
      case C_SSN:
        if (digits === 9 && boundary && validSsn(this.number(i, i + 3), this.number(i + 3, i + 5), this.number(i + 5, i + 9))) return this.found(SSN, e0);
        return -1;
      case C_ZIP:
        if (digits === 5 && boundary) return this.found(ZIP, e0);
        return -1;
      case C_MRN:
        if (digits >= 5 && digits <= 10 && boundary) return this.found(MRN, e0);
        return -1;
      case C_AGE:
        if (digits <= 3 && boundary && this.number(i, e0) > 89) return this.found(AGE, e0);
        return -1;
      case C_PHONE:
      case C_FAX: {
        // Seven-digit local number after "call", "fax"...: EEE-LLLL.
        const sep = s.charCodeAt(e0);
        if (digits === 3 && (sep === 45 || sep === 46) && this.digitsEnd(e0 + 1) === e0 + 5 && this.boundaryAt(e0 + 5) && s.charCodeAt(i) >= 50)
          return this.found(ctx === C_FAX ? FAX : PHONE, e0 + 5);
        return -1;
      }
      default:
        return this.code(i, ctx);
    }
  }

  /** An identifier code (letters, digits, dashes, containing digits) after a plan, device, vehicle or licence keyword. */
  private code(i: number, ctx: number): number {
    const s = this.s;
    let j = i;
    let digits = 0;
    while (j < this.n && j - i < 32) {
      const c = s.charCodeAt(j);
      if (isDigit(c)) digits++;
      else if (!(c < 128 && (CLASS[c]! & F_ALPHA) !== 0) && !(c === 45 && j + 1 < this.n && isWord(s.charCodeAt(j + 1)))) break;
      j++;
    }
    if (!this.boundaryAt(j)) return -1;
    const len = j - i;
    switch (ctx) {
      case C_PLAN:
        return digits >= 4 && len >= 5 && len <= 20 ? this.found(PLAN, j) : -1;
      case C_DEVICE:
        return digits >= 2 && len >= 4 && len <= 30 ? this.found(DEVICE, j) : -1;
      case C_LICENSE:
        return digits >= 3 && len >= 4 && len <= 20 ? this.found(LICENSE, j) : -1;
      case C_VEHICLE:
        return digits >= 1 && len >= 2 && len <= 17 ? this.found(VEHICLE, j) : -1;
      default:
        return -1;
    }
  }

  /** IPv4: four decimal octets 0-255, not part of a longer dotted number. */
  private ipv4(i: number): number {
    const s = this.s;
    let j = i;
    for (let g = 0; g < 4; g++) {
      const e = this.digitsEnd(j);
      if (e === j || e - j > 3 || this.number(j, e) > 255) return -1;
      j = e;
      if (g < 3) {
        if (s.charCodeAt(j) !== 46) return -1;
        j++;
      }
    }
    if (j < this.n && s.charCodeAt(j) === 46 && j + 1 < this.n && isDigit(s.charCodeAt(j + 1))) return -1;
    return this.boundaryAt(j) ? j : -1;
  }

  /** MAC address (six hex pairs, device identifier) or IPv6 address. */
  private hexColon(i: number): number {
    const s = this.s;
    // MAC: hh:hh:hh:hh:hh:hh or hh-hh-hh-hh-hh-hh.
    const sep = s.charCodeAt(i + 2);
    if ((sep === 58 || sep === 45) && i + 17 <= this.n) {
      let ok = true;
      for (let g = 0; g < 6 && ok; g++) {
        const p = i + g * 3;
        ok = has(s.charCodeAt(p), F_HEX) && has(s.charCodeAt(p + 1), F_HEX) && (g === 5 || s.charCodeAt(p + 2) === sep);
      }
      if (ok && this.boundaryAt(i + 17) && !(i + 17 < this.n && s.charCodeAt(i + 17) === sep)) return this.found(DEVICE, i + 17);
    }
    // IPv6: up to 8 groups of 1-4 hex digits, at most one "::", optionally ending in IPv4.
    let j = i;
    let groups = 0;
    let compressed = false;
    let lastGroupStart = i;
    while (j < this.n && groups < 9) {
      let k = j;
      while (k < this.n && k - j < 5 && has(s.charCodeAt(k), F_HEX)) k++;
      if (k - j > 4) return -1;
      if (k > j) {
        groups++;
        lastGroupStart = j;
      }
      j = k;
      if (s.charCodeAt(j) !== 58) break;
      if (s.charCodeAt(j + 1) === 58) {
        if (compressed) return -1;
        compressed = true;
        j += 2;
        if (!has(s.charCodeAt(j), F_HEX)) break;
      } else if (has(s.charCodeAt(j + 1), F_HEX)) j++;
      else break;
    }
    // Embedded IPv4 tail (::ffff:10.0.0.1).
    if (s.charCodeAt(j) === 46 && groups > 0) {
      const e = this.ipv4(lastGroupStart);
      if (e > 0) {
        j = e;
        groups++;
      }
    }
    const ok = compressed ? groups >= 2 && groups <= 8 : groups === 8;
    if (!ok || !this.boundaryAt(j)) return -1;
    return this.found(IP, j);
  }

  // ---------------------------------------------------------------------------------------------
  // Token starting with '(' or '+'.

  private atParen(i: number): number {
    const s = this.s;
    // GS1 UDI device identifier: (01) and 14 digits, then further (AI)value parts.
    if (s.charCodeAt(i + 1) === 48 && s.charCodeAt(i + 2) === 49 && s.charCodeAt(i + 3) === 41 && this.digitsEnd(i + 4) === i + 18) {
      let j = i + 18;
      while (s.charCodeAt(j) === 40 && isDigit(s.charCodeAt(j + 1)) && isDigit(s.charCodeAt(j + 2)) && s.charCodeAt(j + 3) === 41) {
        let k = j + 4;
        while (k < this.n && k - j < 24 && has(s.charCodeAt(k), F_DIGIT | F_ALPHA)) k++;
        if (k === j + 4) break;
        j = k;
      }
      return this.found(DEVICE, j);
    }
    const end = this.phone(i, false);
    return end > 0 ? this.found(this.context(i) === C_FAX ? FAX : PHONE, end) : -1;
  }

  private atPlus(i: number): number {
    const s = this.s;
    if (!isDigit(s.charCodeAt(i + 1))) return -1;
    const kind = this.context(i) === C_FAX ? FAX : PHONE;
    if (s.charCodeAt(i + 1) === 49) {
      const end = this.phone(i + 1, true);
      if (end > 0) return this.found(kind, end);
    }
    // International: + and 8-15 digits in groups split by single spaces, dots or dashes.
    let j = i + 1;
    let total = 0;
    for (;;) {
      const e = this.digitsEnd(j);
      if (e === j) return -1;
      total += e - j;
      j = e;
      const c = s.charCodeAt(j);
      if ((c === 32 || c === 45 || c === 46) && isDigit(s.charCodeAt(j + 1)) && total < 15) j++;
      else break;
    }
    return total >= 8 && total <= 15 && this.boundaryAt(j) ? this.found(kind, j) : -1;
  }

  // ---------------------------------------------------------------------------------------------
  // Token starting with a letter.

  private atLetter(i: number): number {
    const s = this.s;
    let end = this.email(i);
    if (end > 0) return this.found(EMAIL, end);
    const c = s.charCodeAt(i) | 32;
    if (this.hasUrl && (c === 104 || c === 102 || c === 119)) {
      end = this.url(i);
      if (end > 0) return this.found(URL, end);
    }
    if (!this.digitNear(i, 40)) return -1;
    end = this.patterns(i);
    if (end > 0) return end;
    const w = this.wordEnd(i);
    const len = w - i;
    if (len >= 3 && len <= 9 && MONTH_INITIALS.includes(s[i]!)) {
      end = this.sticky(RE_MONTH_DAY, i);
      if (end > 0) return this.found(DATE, end);
    }
    const next = w < this.n ? s.charCodeAt(w) : 0;
    if ((next === 58 || next === 45) && len <= 4) {
      end = this.hexColon(i);
      if (end > 0) return end;
    }
    const ctx = this.context(i);
    if (len === 17) {
      end = this.vin(i, ctx);
      if (end > 0) return this.found(VEHICLE, end);
    }
    if (ctx === C_PLAN || ctx === C_DEVICE || ctx === C_LICENSE || ctx === C_VEHICLE) {
      end = this.code(i, ctx);
      if (end > 0) return end;
    }
    this.keyword(i, w);
    return -1;
  }

  private keyword(i: number, w: number): void {
    const len = w - i;
    if (len > 12) return;
    const s = this.s;
    if (len === 2) {
      const a = s.charCodeAt(i);
      const b = s.charCodeAt(i + 1);
      // Two capitals followed by a ZIP: a state ("Austin, TX 78758").
      if (a >= 65 && a <= 90 && b >= 65 && b <= 90 && s.charCodeAt(w) === 32 && US_STATES.has(s.slice(i, w))) this.setContext(C_ZIP, i, w);
      // SS# 123456789.
      if ((a | 32) === 115 && (b | 32) === 115 && s.charCodeAt(w) === 35) {
        this.setContext(C_SSN, i, w + 1);
        return;
      }
    }
    if (len === 1 && (s.charCodeAt(i) | 32) === 115 && s.charCodeAt(w) === 47 && (s.charCodeAt(w + 1) | 32) === 110) {
      this.setContext(C_DEVICE, i, w + 2); // S/N
      return;
    }
    // A hash of the lower-cased word first: most words are not keywords, and need no string.
    let h = len;
    for (let j = i; j < w; j++) h = (Math.imul(h, 31) + (s.charCodeAt(j) | 32)) | 0;
    if (!KEYWORD_HASHES.has(h)) return;
    const k = KEYWORDS.get(s.slice(i, w).toLowerCase());
    if (k !== undefined) this.setContext(k, i, w);
  }

  private setContext(k: number, start: number, end: number): void {
    this.kw[k] = end;
    this.kwStart[k] = start;
    if (end > this.lastKw) this.lastKw = end;
  }

  /** local@domain.tld; the local part may start with a digit. */
  private email(i: number): number {
    if (!this.hasAt || i < this.emailRunEnd) return -1;
    const s = this.s;
    const n = this.n;
    let j = i;
    while (j < n && has(s.charCodeAt(j), F_LOCAL)) j++;
    this.emailRunEnd = j;
    if (j === i || j >= n || s.charCodeAt(j) !== 64) return -1;
    let k = j + 1;
    while (k < n && has(s.charCodeAt(k), F_DOMAIN)) k++;
    // Trailing dots and dashes end the sentence, not the domain.
    while (k > j + 1 && (s.charCodeAt(k - 1) === 46 || s.charCodeAt(k - 1) === 45)) k--;
    // Labels of 1-63 characters, at least two, the last (TLD) 2-24 letters.
    let labelStart = j + 1;
    let labels = 0;
    for (let p = j + 1; p <= k; p++) {
      if (p === k || s.charCodeAt(p) === 46) {
        const l = p - labelStart;
        if (l < 1 || l > 63 || s.charCodeAt(labelStart) === 45 || s.charCodeAt(p - 1) === 45) return -1;
        labels++;
        if (p === k) {
          if (l < 2 || l > 24) return -1;
          for (let q = labelStart; q < k; q++) if (!has(s.charCodeAt(q), F_ALPHA)) return -1;
        }
        labelStart = p + 1;
      }
    }
    return labels >= 2 ? k : -1;
  }

  /** http(s)://, ftp:// or www. up to whitespace, trailing punctuation excluded. */
  private url(i: number): number {
    const s = this.s;
    let j: number;
    if (startsWithI(s, i, 'https://')) j = i + 8;
    else if (startsWithI(s, i, 'http://')) j = i + 7;
    else if (startsWithI(s, i, 'ftp://')) j = i + 6;
    else if (startsWithI(s, i, 'www.')) j = i + 4;
    else return -1;
    const start = j;
    while (j < this.n) {
      const c = s.charCodeAt(j);
      if (c <= 32 || c === 34 || c === 60 || c === 62 || c === 96 || c === 0xa0 || c === 0x2028) break;
      j++;
    }
    while (j > start && '.,;:!?)]}\'"'.includes(s[j - 1]!)) j--;
    return j > start + 1 ? j : -1;
  }
}

function startsWithI(s: string, i: number, prefix: string): boolean {
  if (i + prefix.length > s.length) return false;
  for (let k = 0; k < prefix.length; k++) if ((s.charCodeAt(i + k) | 32) !== prefix.charCodeAt(k) && s.charCodeAt(i + k) !== prefix.charCodeAt(k)) return false;
  return true;
}

/** SSA rules: area 000 and 666 are never issued, nor group 00 or serial 0000. Areas 900-999 are ITINs and test numbers, still identifiers. */
export function validSsn(area: number, group: number, serial: number): boolean {
  return area !== 0 && area !== 666 && group !== 0 && serial !== 0;
}

/** NANP area code (or exchange) at [from, from+3): NXX with N = 2-9, and the area code not N11. */
function nanp(s: string, from: number, to: number): boolean {
  const a = s.charCodeAt(from);
  if (a < 50 || to - from !== 3) return false;
  return !(s.charCodeAt(from + 1) === 49 && s.charCodeAt(from + 2) === 49);
}

/** Luhn check over the digits in [from, to) (separators skipped). */
export function luhn(s: string, from: number, to: number): boolean {
  let sum = 0;
  let double = false;
  for (let k = to - 1; k >= from; k--) {
    const c = s.charCodeAt(k);
    if (c < 48 || c > 57) continue;
    let d = c - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const VIN_VALUES: Readonly<Record<string, number>> = Object.fromEntries(
  [...'ABCDEFGHJKLMNPRSTUVWXYZ'].map((ch) => [
    ch,
    [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9]['ABCDEFGHJKLMNPRSTUVWXYZ'.indexOf(ch)]!,
  ]),
);
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/** VIN: 17 characters without I, O or Q, letters and digits both present, check digit (position 9) valid unless `lenient`. */
export function validVin(s: string, from: number, lenient = false): boolean {
  let sum = 0;
  let letters = 0;
  let digits = 0;
  for (let k = 0; k < 17; k++) {
    const ch = s[from + k]!.toUpperCase();
    const c = ch.charCodeAt(0);
    let v: number;
    if (c >= 48 && c <= 57) {
      v = c - 48;
      digits++;
    } else {
      const x = VIN_VALUES[ch];
      if (x === undefined) return false;
      v = x;
      letters++;
    }
    sum += v * VIN_WEIGHTS[k]!;
  }
  if (letters === 0 || digits < 3) return false;
  if (lenient) return true;
  const check = sum % 11;
  const actual = s[from + 8]!.toUpperCase();
  return check === 10 ? actual === 'X' : actual === String(check);
}

/** The detectors with the default configuration. */
export const defaultScanner = new Scanner();

/** Replaces every detected identifier with its typed placeholder (default configuration). */
export function scrub(text: string): { text: string; replaced: number } {
  return defaultScanner.scrub(text);
}
