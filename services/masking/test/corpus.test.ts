// Acceptance: detectors over a labelled synthetic corpus (seeded, 12,000 free-text values with
// identifiers planted at known offsets among decoys). Recall >= 0.99 for SSN, phone, email and
// MRN; precision >= 0.95 overall. Prints per-detector precision and recall.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DETECTOR_NAMES, type DetectorName, defaultScanner } from '../src/domain/detectors.js';
import { generateCorpus } from './corpus.js';

/** Detectors that label the same planted identifier equally well (a fax is a phone number). */
const SAME: Partial<Record<DetectorName, DetectorName[]>> = { phone: ['fax'], fax: ['phone'] };

export function evaluate(corpus: ReturnType<typeof generateCorpus>) {
  const stats = new Map<DetectorName, { planted: number; recalled: number; found: number; correct: number }>(
    DETECTOR_NAMES.map((d) => [d, { planted: 0, recalled: 0, found: 0, correct: 0 }]),
  );
  const falsePositives: string[] = [];
  const misses: string[] = [];
  let values = 0;
  for (const { text, planted } of corpus) {
    values++;
    const found = defaultScanner.findAll(text);
    for (const p of planted) {
      const s = stats.get(p.kind)!;
      s.planted++;
      const hit = found.some((f) => f.start < p.end && p.start < f.end && (f.detector === p.kind || SAME[p.kind]?.includes(f.detector)));
      if (hit) s.recalled++;
      else if (misses.length < 40) misses.push(`${p.kind}: ${JSON.stringify(text.slice(p.start, p.end))} in ${JSON.stringify(text)}`);
    }
    for (const f of found) {
      const s = stats.get(f.detector)!;
      s.found++;
      const ok = planted.some((p) => f.start < p.end && p.start < f.end && (f.detector === p.kind || SAME[p.kind]?.includes(f.detector)));
      if (ok) s.correct++;
      else if (falsePositives.length < 40) falsePositives.push(`${f.detector}: ${JSON.stringify(text.slice(f.start, f.end))} in ${JSON.stringify(text)}`);
    }
  }
  let found = 0;
  let correct = 0;
  for (const s of stats.values()) {
    found += s.found;
    correct += s.correct;
  }
  return { values, stats, precision: correct / (found || 1), falsePositives, misses };
}

test('labelled synthetic corpus: recall >= 0.99 for SSN, phone, email, MRN; precision >= 0.95 overall', () => {
  const corpus = generateCorpus(12_000);
  const { values, stats, precision, falsePositives, misses } = evaluate(corpus);
  const planted = [...stats.values()].reduce((a, s) => a + s.planted, 0);
  const rows = [...stats.entries()].map(([d, s]) => ({
    detector: d,
    planted: s.planted,
    recall: s.planted ? Number((s.recalled / s.planted).toFixed(4)) : null,
    found: s.found,
    precision: s.found ? Number((s.correct / s.found).toFixed(4)) : null,
  }));
  console.log(`corpus: ${values} values, ${planted} planted identifiers; overall precision ${precision.toFixed(4)}`);
  console.table(rows);
  if (misses.length) console.log('first misses:\n  ' + misses.slice(0, 15).join('\n  '));
  if (falsePositives.length) console.log('first false positives:\n  ' + falsePositives.slice(0, 15).join('\n  '));
  assert.ok(values >= 10_000);
  for (const d of ['ssn', 'phone', 'email', 'mrn'] as const) {
    const s = stats.get(d)!;
    assert.ok(s.planted >= 500, `${d}: enough planted (${s.planted})`);
    assert.ok(s.recalled / s.planted >= 0.99, `${d} recall ${(s.recalled / s.planted).toFixed(4)}`);
  }
  assert.ok(precision >= 0.95, `overall precision ${precision.toFixed(4)}`);
});
