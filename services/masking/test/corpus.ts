// A labelled synthetic corpus of clinical free text: identifiers of known kinds planted at known
// offsets, among filler sentences and decoys (numbers that are not identifiers). Seeded, so every
// run sees the same corpus. Used by the acceptance test and by `npm run bench`'s scrub figures.

import { seededRandom } from '@phigate/testkit';
import type { DetectorName } from '../src/domain/detectors.js';

export interface Planted {
  start: number;
  end: number;
  kind: DetectorName;
}

export interface Sample {
  text: string;
  planted: Planted[];
}

export const rng = seededRandom;

export function generateCorpus(count: number, seed = 20261129): Sample[] {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => int(0, 9)).join('');
  const pad = (x: number, n: number) => String(x).padStart(n, '0');

  const FIRST = ['jane', 'john', 'maria', 'wei', 'priya', 'ahmed', 'jose', 'keisha', 'dmitri', 'aaliyah', 'renee', 'tariq'];
  const LAST = ['smith', 'garcia', 'nguyen', 'patel', 'okafor', 'kowalski', 'haddad', 'begay', 'kealoha', 'obrien', 'nunez', 'cohen'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const LONG_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const STREETS = ['Oak Ave', 'Elm St', 'Maple Dr', 'Cedar Ln', 'Washington Blvd', 'Lakeview Rd', 'Main St', '2nd Ave', 'Hillcrest Ct', 'Park Pl'];
  const STATES = ['TX', 'CA', 'NY', 'MA', 'IL', 'WA', 'GA', 'FL'];

  const area = () => {
    for (;;) {
      const a = `${int(2, 9)}${int(0, 8)}${int(0, 9)}`;
      if (a.slice(1) !== '11') return a;
    }
  };
  const exchange = () => `${int(2, 9)}${digits(2)}`;
  const ssnParts = () => {
    let a = int(1, 999);
    while (a === 666) a = int(1, 999);
    return [pad(a, 3), pad(int(1, 99), 2), pad(int(1, 9999), 4)] as const;
  };
  const phone = () => {
    const [a, e, l] = [area(), exchange(), digits(4)];
    return pick([
      `(${a}) ${e}-${l}`,
      `${a}-${e}-${l}`,
      `${a}.${e}.${l}`,
      `${a} ${e} ${l}`,
      `+1 ${a} ${e} ${l}`,
      `+1-${a}-${e}-${l}`,
      `1-${a}-${e}-${l}`,
      `(${a})${e}-${l}`,
    ]);
  };
  const luhnComplete = (body: string) => {
    let sum = 0;
    for (let i = 0; i < body.length; i++) {
      let d = Number(body[body.length - 1 - i]);
      if (i % 2 === 0) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return body + String((10 - (sum % 10)) % 10);
  };
  const vin = () => {
    const alphabet = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';
    const values: Record<string, number> = {};
    'ABCDEFGHJKLMNPRSTUVWXYZ'.split('').forEach((ch, i) => {
      values[ch] = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9][i]!;
    });
    for (let i = 0; i <= 9; i++) values[String(i)] = i;
    const weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    const chars = Array.from({ length: 17 }, (_, i) => (i >= 11 ? String(int(0, 9)) : pick(alphabet.split(''))));
    const sum = chars.reduce((s, ch, i) => s + values[ch]! * weights[i]!, 0);
    const check = sum % 11;
    chars[8] = check === 10 ? 'X' : String(check);
    return chars.join('');
  };
  const mbi = () => {
    const L = 'ACDEFGHJKMNPQRTUVWXY';
    const A = `0123456789${L}`;
    return `${int(1, 9)}${pick([...L])}${pick([...A])}${int(0, 9)}${pick([...L])}${pick([...A])}${int(0, 9)}${pick([...L])}${pick([...L])}${int(0, 9)}${int(0, 9)}`;
  };
  const date = () => {
    const y = int(1925, 2025);
    const m = int(1, 12);
    const d = int(1, 28);
    return pick([
      `${y}-${pad(m, 2)}-${pad(d, 2)}`,
      `${pad(m, 2)}/${pad(d, 2)}/${y}`,
      `${m}/${d}/${y}`,
      `${m}/${d}/${pad(y % 100, 2)}`,
      `${MONTHS[m - 1]} ${d}, ${y}`,
      `${LONG_MONTHS[m - 1]} ${d}, ${y}`,
      `${d} ${MONTHS[m - 1]} ${y}`,
      `${y}-${pad(m, 2)}-${pad(d, 2)} ${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}`,
      `${pad(d, 2)}.${pad(m, 2)}.${y}`,
    ]);
  };

  // Each generator returns [prefix, identifier, suffix]; only the identifier is labelled.
  type Gen = () => readonly [string, string, string];
  const planted: Array<[DetectorName, number, Gen]> = [
    [
      'ssn',
      10,
      () => {
        const [a, g, s] = ssnParts();
        const form = int(0, 9);
        if (form < 6) return [pick(['SSN ', 'SSN on file ', 'social security number ', '', 'Pt SSN: ', 'ssn# ']), `${a}-${g}-${s}`, ''];
        if (form < 8) return [pick(['SSN ', 'social security ', '']), `${a} ${g} ${s}`, ''];
        return [pick(['SSN ', 'SSN on file ', 'SS# ', 'social security number ']), `${a}${g}${s}`, pick([' on cover sheet', '', ' (verified)'])];
      },
    ],
    [
      'phone',
      12,
      () => [
        pick(['Pt called from ', 'call ', 'cell ', 'reached pt at ', 'Emergency contact: daughter Maria, ', 'Callback ', '']),
        phone(),
        pick(['', ' after 5pm', ' (mobile)']),
      ],
    ],
    ['phone', 3, () => [pick(['Callback ', 'cell ', 'phone: ']), `${area()}${exchange()}${digits(4)}`, '']],
    ['fax', 3, () => [pick(['Fax: ', 'faxed to ', 'fax ']), phone(), '']],
    [
      'email',
      10,
      () => [
        pick(['mail ', 'Prefers contact via ', 'email: ', 'new email ', '']),
        `${pick(FIRST)}${pick(['.', '_', ''])}${pick(LAST)}${pick(['', String(int(1, 99)), '+portal'])}@${pick(['example.org', 'example.com', 'example.net', 'mail.example.co.uk', 'clinic.example'])}`,
        '',
      ],
    ],
    [
      'mrn',
      10,
      () => {
        const n = digits(7);
        return pick<readonly [string, string, string]>([
          ['', `MRN-${n}`, ''],
          ['', `MRN: ${n}`, ''],
          ['', `MRN#${digits(6)}`, ''],
          ['Pt identified by ', `MRN ${n}`, ''],
          ['', `mrn ${digits(8)}`, ''],
          ['medical record number ', n, ''],
          ['', `MR#${n}`, ''],
        ]);
      },
    ],
    [
      'health_plan',
      4,
      () => [pick(['Member ID: ', 'member ', 'MBI ', 'Medicaid ', '']), pick([mbi(), `W${digits(9)}`, `XEH${digits(9)}`, `MCD${digits(8)}`]), ''],
    ],
    ['account', 3, () => [pick(['acct ', 'account #', 'Account no. ']), pick([digits(10), `${digits(4)}-${digits(6)}`, digits(12)]), '']],
    [
      'card',
      3,
      () => [
        pick(['card ', 'Visa ', 'paid with ']),
        ((c) => pick([c, c.replace(/(\d{4})(?=\d)/g, '$1 '), c.replace(/(\d{4})(?=\d)/g, '$1-')]))(luhnComplete(`4${digits(14)}`)),
        '',
      ],
    ],
    ['date', 10, () => [pick(['follow-up ', 'DOB ', 'Seen ', 'admitted ', 'on ', 'visit on ']), date(), '']],
    [
      'ip',
      2,
      () => [
        pick(['from IP ', 'portal login from ', 'device at ']),
        pick([`${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`, `2001:db8:${int(0, 65535).toString(16)}::${int(1, 65535).toString(16)}`]),
        '',
      ],
    ],
    [
      'url',
      2,
      () => [
        pick(['see ', 'portal: ', 'uploaded to ']),
        pick([`https://portal.example.org/patients/${digits(6)}`, `http://records.example.com/p?id=${digits(5)}`, `www.example.net/${pick(LAST)}`]),
        '',
      ],
    ],
    ['vehicle', 1, () => [pick(['VIN ', 'car ', 'vehicle ']), vin(), '']],
    ['vehicle', 1, () => [pick(['plate ', 'license plate ']), `${int(1, 9)}${pick(['ABC', 'XYZ', 'KLM'])}${digits(3)}`, '']],
    ['device', 1, () => [pick(['S/N: ', 'serial ', 'pacemaker serial ', 'device id ']), `${pick(['AB', 'PM', 'XJ'])}${digits(6)}`, '']],
    [
      'device',
      1,
      () => [pick(['MAC ', 'wifi adapter ', '']), Array.from({ length: 6 }, () => int(0, 255).toString(16).padStart(2, '0').toUpperCase()).join(':'), ''],
    ],
    ['license', 2, () => [pick(['DEA ', 'license ', 'NPI ']), pick([`${pick(['AB', 'FM', 'BJ'])}${digits(7)}`, `D${digits(7)}`, digits(10)]), '']],
    ['zip', 3, () => [pick(['zip ', 'lives in ', `Austin, ${pick(STATES)} `]), pick([digits(5), `${digits(5)}-${digits(4)}`]), '']],
    ['address', 2, () => [pick(['Lives at ', 'home: ', 'Discharged home, ']), `${int(1, 9899)} ${pick(STREETS)}`, '']],
    ['age', 2, () => [pick(['', 'Pt, age ']), String(int(90, 104)), pick([' y/o', '-year-old', ''])]],
  ];
  // Ages need their suffix or prefix: drop the combination with neither.
  const total = planted.reduce((s, [, w]) => s + w, 0);
  const plantedGen = () => {
    let x = r() * total;
    for (const [kind, w, g] of planted) {
      x -= w;
      if (x <= 0) return [kind, g()] as const;
    }
    return [planted[0]![0], planted[0]![2]()] as const;
  };

  const FILLER = [
    'No known drug allergies.',
    'Routine follow-up; vitals stable.',
    'Patient reports adherence to medication regimen.',
    'Discussed smoking cessation; pt receptive.',
    'Wound healing well; sutures removed, steri-strips applied.',
    'Labs WNL. Return PRN.',
    'Continue current meds.',
    'Pt verbalized understanding of the plan.',
    'Daughter accompanied pt.',
    'Referred to physical therapy.',
    'Denies chest pain or shortness of breath.',
  ];
  const DECOYS: Array<() => string> = [
    () => `Order #${digits(8)}`,
    () => `order ${pick(['A', 'B', 'RX'])}-${digits(5)}`,
    () => `Amount $${int(1, 9)},${digits(3)}.${digits(2)}`,
    () => `${int(1, 9)}${digits(2)}.${digits(2)} USD`,
    () => `Metformin ${pick([500, 850, 1000])} mg twice daily`,
    () => `lisinopril ${pick([5, 10, 20])} mg daily`,
    () => `BP ${int(100, 160)}/${int(60, 99)}`,
    () => `HR ${int(50, 110)}`,
    () => `in ${int(1990, 2025)}`,
    () => `since ${int(1990, 2025)}`,
    () => pick(['000', '666']) + `-${pad(int(1, 99), 2)}-${pad(int(1, 9999), 4)}`,
    () => `${pad(int(1, 899), 3)}-00-${pad(int(1, 9999), 4)}`,
    () => `${pad(int(1, 899), 3)}-${pad(int(1, 99), 2)}-0000`,
    () => {
      const c = luhnComplete(`4${digits(14)}`);
      const bad = c.slice(0, 15) + String((Number(c[15]) + int(1, 9)) % 10);
      return pick([bad, bad.replace(/(\d{4})(?=\d)/g, '$1 ')]);
    },
    () => `A1c ${int(5, 9)}.${int(0, 9)}`,
    () => `eGFR ${int(30, 90)}`,
    () => `Temp ${int(97, 101)}.${int(0, 9)} F`,
    () => `at ${int(1, 12)}:${pad(int(0, 59), 2)}`,
    () => `Dx ${pick(['E11.9', 'I10', 'J45.909', 'S72.001A', 'Z00.00'])}`,
    () => `room ${int(100, 999)}`,
    () => `${int(2, 90)} tablets`,
    () => `${pick(['1/2', '1/4', '3/4'])} ppd`,
    () => `${int(1, 3)}${digits(2)}-${int(0, 1)}${digits(2)}-${digits(4)}`,
    () => `ratio ${int(1, 5)}:${int(1, 5)}`,
    () => `SpO2 ${int(88, 100)}%`,
    () => `v${int(1, 9)}.${int(0, 9)}.${int(0, 9)}`,
    () => `lot ${digits(10)}`,
    () => `${int(18, 89)} y/o`,
    () => `age ${int(18, 89)}`,
    () => `${pad(int(13, 19), 2)}/${pad(int(32, 40), 2)}/${int(1990, 2025)}`,
    () => `weight ${int(45, 140)} kg`,
    () => `BMI ${int(18, 40)}.${int(0, 9)}`,
    () => `${int(1000, 99999)} units`,
    () => `claim ${digits(7)}`,
    () => `ext. ${digits(3)}`,
    () => `Recheck in ${int(2, 12)} weeks`,
  ];

  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    let text = '';
    const labels: Planted[] = [];
    const parts = int(2, 5);
    const withIdentifiers = r() < 0.65;
    for (let p = 0; p < parts; p++) {
      if (text) text += pick([' ', ' ', '; ', '. ', ', ']);
      const roll = r();
      if (withIdentifiers && roll < 0.45) {
        const [kind, [pre, id, post]] = plantedGen();
        // An age needs a prefix or a suffix to be an age.
        if (kind === 'age' && pre === '' && post === '') {
          text += `${id} y/o`;
          labels.push({ start: text.length - id.length - 4, end: text.length - 4, kind });
          continue;
        }
        text += pre;
        labels.push({ start: text.length, end: text.length + id.length, kind });
        text += id + post;
      } else if (roll < 0.75) text += pick(DECOYS)();
      else text += pick(FILLER);
    }
    out.push({ text, planted: labels });
  }
  return out;
}
