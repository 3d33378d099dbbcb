import { DETECTOR_NAMES, type DetectorName, type Scanner } from './detectors.js';

/** How many rows the canary inspects: every row of the first `firstRows`, then every `every`-th. */
export interface CanarySampling {
  firstRows: number;
  every: number;
}

export const DEFAULT_CANARY_SAMPLING: CanarySampling = Object.freeze({ firstRows: 1000, every: 100 });

/** A column the plan left untouched in which detectors found identifiers (never the values). */
export interface LeakSuspicion {
  index: number;
  name: string;
  detector: DetectorName;
  count: number;
}

/**
 * The leak canary of one stream: inspects values of columns the plan leaves unmasked, on a bounded
 * sample of rows, and counts detector hits per column and detector. Holds counts only, never values.
 */
export class Canary {
  private readonly counts = new Map<number, Float64Array>();
  private readonly names = new Map<number, string>();

  constructor(
    private readonly scanner: Scanner,
    private readonly sampling: CanarySampling = DEFAULT_CANARY_SAMPLING,
  ) {}

  /** Whether row number `row` (0-based, over the whole stream) is inspected. */
  samples(row: number): boolean {
    const { firstRows, every } = this.sampling;
    return row < firstRows || (row - firstRows) % Math.max(1, every) === 0;
  }

  /** Inspects one unmasked value; returns how many identifiers were found in it. */
  inspect(index: number, name: string, value: string): number {
    let c = this.counts.get(index);
    if (!c) {
      c = new Float64Array(DETECTOR_NAMES.length);
      this.counts.set(index, c);
      this.names.set(index, name);
    }
    return this.scanner.count(value, c);
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
