import type { Row } from './gen/phigate/masking/v1/masking.pb.js';

/** A text cell as both sides of the masking stream hold it; `null` is SQL NULL. */
export type Cell = string | null;

/** Encodes cells as a wire Row: values as text, NULL positions listed in null_indexes. */
export function encodeRow(cells: readonly Cell[]): Row {
  const nullIndexes: number[] = [];
  const values = cells.map((c, i) => {
    if (c === null) {
      nullIndexes.push(i);
      return '';
    }
    return c;
  });
  return { values, nullIndexes };
}

/** Decodes a wire Row back into cells. */
export function decodeRow(row: Row): Cell[] {
  const cells: Cell[] = row.values.slice();
  for (const i of row.nullIndexes) cells[i] = null;
  return cells;
}
