import { DETECTOR_NAMES, type DetectorName, type Scanner } from './detectors.js';

/** How many rows the canary inspects: every row of the first `firstRows`, then every `every`-th. */
export interface CanarySampling {
  firstRows: number;
  every: number;
}

export const DEFAULT_CANARY_SAMPLING: CanarySampling = Object.freeze({ firstRows: 1000, every: 100 });

/**
 * The PHI kinds of the policy's catalog (services/policy, `phi`) that each detector's hits belong
 * to: the one place the detectors' names meet the catalog's. A stream's canary ignores a detector
 * when any of its kinds is in the header's visible_phi_kinds (PHI the plan deliberately leaves in
 * clear for this identity and statement). Catalog kinds no detector finds (name, biometric, photo,
 * other_id) appear nowhere, and neither does free_text: notes shown in clear do not make the
 * identifiers written inside them visible.
 */
export const DETECTOR_PHI_KINDS: Readonly<Record<DetectorName, readonly string[]>> = Object.freeze({
  ssn: ['ssn'],
  // A number is read as a fax only after the word "fax": a fax column in clear reads as phones.
  phone: ['phone', 'fax'],
  fax: ['fax'],
  email: ['email'],
  mrn: ['mrn'],
  health_plan: ['health_plan_id'],
  account: ['account'],
  // Safe Harbor (J) account numbers include card numbers.
  card: ['account'],
  // A birth date in clear is a date in clear.
  date: ['date', 'dob'],
  ip: ['ip'],
  url: ['url'],
  vehicle: ['vehicle'],
  device: ['device'],
  license: ['license'],
  zip: ['zip'],
  address: ['address'],
  age: ['age'],
});

/**
 * The detectors to ignore for these visible PHI kinds, as a mask indexed by detector id (1 =
 * ignore), or undefined when none is. Kinds this service does not know ignore nothing.
 */
export function ignoredDetectors(visiblePhiKinds: readonly string[]): Uint8Array | undefined {
  if (visiblePhiKinds.length === 0) return undefined;
  const visible = new Set(visiblePhiKinds);
  const ignore = new Uint8Array(DETECTOR_NAMES.length);
  let any = false;
  for (const [id, name] of DETECTOR_NAMES.entries()) {
    if (DETECTOR_PHI_KINDS[name].some((k) => visible.has(k))) {
      ignore[id] = 1;
      any = true;
    }
  }
  return any ? ignore : undefined;
}

/** A column the plan left untouched in which detectors found identifiers (never the values). */
export interface LeakSuspicion {
  index: number;
  name: string;
  detector: DetectorName;
  count: number;
}

/**
 * The leak canary of one stream: inspects values of columns the plan leaves unmasked, on a bounded
 * sample of rows, and counts detector hits per column and detector, except hits of the PHI kinds
 * the plan leaves visible (resolved once, here). Holds counts only, never values.
 */
export class Canary {
  private readonly counts = new Map<number, Float64Array>();
  private readonly names = new Map<number, string>();
  private readonly ignore: Uint8Array | undefined;

  constructor(
    private readonly scanner: Scanner,
    private readonly sampling: CanarySampling = DEFAULT_CANARY_SAMPLING,
    visiblePhiKinds: readonly string[] = [],
  ) {
    this.ignore = ignoredDetectors(visiblePhiKinds);
  }

  /** Whether row number `row` (0-based, over the whole stream) is inspected. */
  samples(row: number): boolean {
    const { firstRows, every } = this.sampling;
    return row < firstRows || (row - firstRows) % Math.max(1, every) === 0;
  }

  /** Inspects one unmasked value; returns how many identifiers of a kind not visible were found in it. */
  inspect(index: number, name: string, value: string): number {
    let c = this.counts.get(index);
    if (!c) {
      c = new Float64Array(DETECTOR_NAMES.length);
      this.counts.set(index, c);
      this.names.set(index, name);
    }
    return this.scanner.count(value, c, this.ignore);
  }

  /** Suspicions so far, by column index then detector. */
  leaks(): LeakSuspicion[] {
    const out: LeakSuspicion[] = [];
    for (const index of [...this.counts.keys()].sort((a, b) => a - b)) {
      const c = this.counts.get(index)!;
      for (let d = 0; d < c.length; d++) {
        if (c[d]! > 0) out.push({ index, name: this.names.get(index) ?? '', detector: DETECTOR_NAMES[d]!, count: c[d]! });
      }
    }
    return out;
  }
}
