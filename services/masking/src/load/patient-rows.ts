// A realistic 12-column patient row and the column strategies the demo policy gives an AI agent
// (Safe Harbor generalisations, tokens, redaction, partial), for load tests.
import type { Cell } from '@phigate/proto';
import { maskingV1 } from '@phigate/proto';

const S = maskingV1.Strategy;
export const PATIENT_COLUMNS: Array<{ name: string; strategy: maskingV1.Strategy; keepLast?: number }> = [
  { name: 'id', strategy: S.STRATEGY_NONE },
  { name: 'mrn', strategy: S.STRATEGY_TOKEN },
  { name: 'first_name', strategy: S.STRATEGY_REDACT },
  { name: 'last_name', strategy: S.STRATEGY_REDACT },
  { name: 'ssn', strategy: S.STRATEGY_NULLIFY },
  { name: 'dob', strategy: S.STRATEGY_SAFE_HARBOR_DATE },
  { name: 'age', strategy: S.STRATEGY_SAFE_HARBOR_AGE },
  { name: 'zip', strategy: S.STRATEGY_SAFE_HARBOR_ZIP },
  { name: 'phone', strategy: S.STRATEGY_PARTIAL, keepLast: 4 },
  { name: 'email', strategy: S.STRATEGY_REDACT },
  { name: 'diagnosis_code', strategy: S.STRATEGY_NONE },
  { name: 'admitted_at', strategy: S.STRATEGY_SAFE_HARBOR_DATE },
];

const FIRST = ['James', 'Mary', 'José', 'Zoë', 'Wei', 'Priya', 'Ahmed', 'Renée', 'Keisha', 'Dmitri'];
const LAST = ['Smith', 'Núñez', "O'Brien", 'Nguyen', 'Patel', 'Okafor', 'Kowalski', 'Haddad', 'Begay', 'Kealoha'];
const DX = ['I10', 'E11.9', 'E78.5', 'J45.909', 'M54.50', 'F32.9', 'J44.9', 'N18.30', 'Z00.00', 'S72.001A'];
const p = (x: number, n: number) => String(x).padStart(n, '0');

export function patientRow(i: number): Cell[] {
  const y = 1920 + (i % 100);
  return [
    String(100000 + i),
    `MRN-${p((i * 7127 + 104729) % 10_000_000, 7)}`,
    FIRST[i % FIRST.length]!,
    LAST[(i * 7) % LAST.length]!,
    i % 25 === 0 ? null : `9${p(i % 100, 2)}-${p(1 + (i % 99), 2)}-${p(1 + (i % 9999), 4)}`,
    `${y}-${p(1 + (i % 12), 2)}-${p(1 + (i % 28), 2)}`,
    String(2026 - y),
    i % 8 === 0 ? `${p((i * 37) % 100_000, 5)}-${p(i % 10_000, 4)}` : p((i * 37) % 100_000, 5),
    `(${200 + (i % 800)}) 555-${p(i % 10_000, 4)}`,
    i % 10 === 0 ? null : `${FIRST[i % FIRST.length]!.toLowerCase()}.${i}@example.org`,
    DX[i % DX.length]!,
    `2024-${p(1 + (i % 12), 2)}-${p(1 + (i % 28), 2)} ${p(i % 24, 2)}:${p(i % 60, 2)}:00+00`,
  ];
}
