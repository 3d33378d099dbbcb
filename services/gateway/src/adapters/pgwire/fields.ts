// Result descriptions and rows as the PostgreSQL door puts them on the wire: the RowDescription
// field of a result column, a cell in text or binary format, command tags.
import { AppError } from '@phigate/errors';
import type { Cell, ResultColumn } from '../../domain/types.js';
import type { FieldDescription } from './codec.js';
import { oidOfTypeName, textToBinary, typeSize, UnsupportedBinary } from './types.js';

/** A text field's constant parts (name and type to be filled in). */
export const TEXT_FIELD = { tableOid: 0, columnAttr: 0, typeMod: -1, format: 0 as const };

export function fieldOf(c: ResultColumn, format: 0 | 1): FieldDescription {
  const typeOid = c.typeOid ?? oidOfTypeName(c.type);
  return { name: c.name, tableOid: 0, columnAttr: 0, typeOid, typeSize: typeSize(typeOid), typeMod: c.typeMod ?? -1, format };
}

export function encodeCell(v: Cell, f: FieldDescription): Buffer | null {
  if (v === null) return null;
  if (f.format === 0) return Buffer.from(v, 'utf8');
  try {
    return textToBinary(f.typeOid, v);
  } catch (err) {
    if (err instanceof UnsupportedBinary) throw new AppError('GATEWAY_PG_UNSUPPORTED', { message: `column "${f.name}": ${err.message}` });
    throw err;
  }
}

/** The CommandComplete tag of a statement that affected or returned `rows` rows. */
export function commandTag(command: string, rows: number): string {
  if (
    command === 'SELECT' ||
    command === 'UPDATE' ||
    command === 'DELETE' ||
    command === 'MERGE' ||
    command === 'MOVE' ||
    command === 'FETCH' ||
    command === 'COPY'
  )
    return `${command} ${rows}`;
  if (command === 'INSERT') return `INSERT 0 ${rows}`;
  return command || 'SELECT 0';
}
