import { globMatch as segmentMatch } from '@phigate/model';
import type { ColumnName, TableName } from './types.js';

/** `[db.]schema.table` (tables) or `[db.]schema.table.column` (columns); `*` globs within a part. */
export function tableMatches(pattern: string, t: TableName): boolean {
  const parts = pattern.split('.');
  if (parts.length === 2) return segmentMatch(parts[0]!, t.schema) && segmentMatch(parts[1]!, t.name);
  if (parts.length === 3) return segmentMatch(parts[0]!, t.database) && segmentMatch(parts[1]!, t.schema) && segmentMatch(parts[2]!, t.name);
  return false;
}

export function columnMatches(pattern: string, c: ColumnName): boolean {
  const i = pattern.lastIndexOf('.');
  if (i < 0) return false;
  return tableMatches(pattern.slice(0, i), c.table) && segmentMatch(pattern.slice(i + 1), c.column);
}

/** Splits a column pattern into its parts for the masking plan; db is dropped (the gateway matches schema.table.column). */
export function splitColumnPattern(pattern: string): { schema: string; table: string; column: string } | undefined {
  const parts = pattern.split('.');
  const tail = parts.slice(-3);
  if (tail.length !== 3 || parts.length > 4) return undefined;
  return { schema: tail[0]!, table: tail[1]!, column: tail[2]! };
}
