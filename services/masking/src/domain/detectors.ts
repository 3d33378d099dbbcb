/** A detector finds one kind of identifier inside free text. */
export interface Detector {
  name: string;
  placeholder: string;
  pattern: RegExp;
  /** Extra validation to keep false positives down. */
  valid?: (match: string) => boolean;
}

// Order matters: more specific shapes first, so an SSN is not half-eaten by the phone pattern.
export const DETECTORS: readonly Detector[] = [
  { name: 'email', placeholder: '[EMAIL]', pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  {
    name: 'ssn',
    placeholder: '[SSN]',
    pattern: /\b\d{3}-\d{2}-\d{4}\b/g,
    // Area 000 and 666, group 00, serial 0000 are never issued.
    valid: (m) => !/^(000|666)-|-00-|-0000$/.test(m),
  },
  { name: 'mrn', placeholder: '[MRN]', pattern: /\bMRN[-:# ]?\d{5,10}\b/gi },
  { name: 'phone', placeholder: '[PHONE]', pattern: /(?:\+?1[ .-]?)?(?:\(\d{3}\)\s?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b/g },
  {
    name: 'date',
    placeholder: '[DATE]',
    pattern: /\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b|\b(?:0?[1-9]|1[0-2])\/(?:0?[1-9]|[12]\d|3[01])\/(?:19|20)?\d{2}\b/g,
  },
];

/** Replaces every detected identifier with its typed placeholder; returns the text and how many were replaced. */
export function scrub(text: string): { text: string; replaced: number } {
  let replaced = 0;
  let out = text;
  for (const d of DETECTORS) {
    out = out.replace(d.pattern, (m) => {
      if (d.valid && !d.valid(m)) return m;
      replaced++;
      return d.placeholder;
    });
  }
  return { text: out, replaced };
}
