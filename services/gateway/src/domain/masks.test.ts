import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resultMasks } from './masks.js';

const src = (column: string) => ({ schema: 'public', table: 'patients', column });

test('masks follow each result column to its source; expressions get the unknown-source strategy', () => {
  const masks = resultMasks(
    [
      { name: 'id', type: 'int8', source: src('id') },
      { name: 'contact', type: 'text', source: src('email') },
      { name: 'upper', type: 'text' },
    ],
    { columns: [{ schema: '*', table: 'patients', column: 'email', strategy: 'redact', keepLast: 4 }], unknownSourceStrategy: 'redact' },
  );
  assert.deepEqual(
    masks.map((m) => m.strategy),
    ['none', 'redact', 'redact'],
  );
});
