import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applicableBudgets, type Budget, BudgetMeter, parseWindow } from './budgets.js';
import type { ResultColumn, ResultColumnMask } from './types.js';

const budget = (over: Partial<Budget> = {}): Budget => ({
  id: 'b',
  windowSec: 600,
  limits: { rows: 10 },
  columns: ['*.patients.*'],
  clear: ['none'],
  patientColumns: ['*.patients.id', '*.*.patient_id'],
  onExceed: 'deny',
  alertAt: 0.8,
  ...over,
});
const col = (name: string, table = 'patients'): ResultColumn => ({ name, type: 'text', source: { schema: 'public', table, column: name } });
const mask = (index: number, strategy: ResultColumnMask['strategy']): ResultColumnMask => ({ index, name: '', strategy, keepLast: 0 });

test('budgets that apply: purposes and connections filter, per splits the counter', () => {
  const bs = [
    budget({ id: 'all' }),
    budget({ id: 'qi', purposes: ['qi'] }),
    budget({ id: 'sf', connections: ['sf'] }),
    budget({ id: 'per', per: ['purpose', 'connection'] }),
  ];
  assert.deepEqual(
    applicableBudgets(bs, 'pg', 'qi').map((s) => s.counter),
    ['all', 'qi', 'per:p=qi:c=pg'],
  );
  assert.deepEqual(
    applicableBudgets(bs, 'sf', undefined).map((s) => s.counter),
    ['all', 'sf', 'per:p=-:c=sf'],
  );
  assert.deepEqual(applicableBudgets(undefined, 'pg', 'qi'), []);
});

test('a result counts when a covered column leaves in clear; patients are read from the raw key, each distinct one hashed once', () => {
  const scopes = applicableBudgets([budget()], 'pg', undefined);
  const hashed: string[] = [];
  const hash = (v: string) => {
    hashed.push(v);
    return `h(${v})`;
  };
  const cols = [col('id'), col('ssn')];
  const masked = new BudgetMeter(scopes, cols, [mask(0, 'token'), mask(1, 'redact')], hash);
  assert.equal(masked.counts, false, 'nothing covered leaves in clear');
  const meter = new BudgetMeter(scopes, cols, [mask(0, 'none'), mask(1, 'redact')], hash);
  assert.equal(meter.counts, true);
  meter.add(
    [
      ['1', '123'],
      ['2', '456'],
      ['1', '789'],
    ],
    [
      ['1', 'R'],
      ['2', 'R'],
      ['1', 'R'],
    ],
  );
  assert.deepEqual(meter.take(), { rows: 3, bytes: 6, patients: ['h(1)', 'h(2)'] });
  assert.deepEqual(hashed, ['1', '2']);
  assert.deepEqual(meter.take(), { rows: 0, bytes: 0, patients: [] }, 'a take starts again');
  const other = new BudgetMeter(scopes, [col('amount', 'claims')], [mask(0, 'none')], hash);
  assert.equal(other.counts, false, 'a table the budget does not cover');
});

test('windows', () => {
  assert.deepEqual(['90s', '15m', '24h', '7d', '1w', 'h'].map(parseWindow), [90, 900, 86400, 604800, undefined, undefined]);
});
