import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dateYear, parseAsOf, RESTRICTED_ZIP3, safeHarborAge, safeHarborDate, safeHarborZip } from './safe-harbor.js';

const asOf = parseAsOf('2026-06-30')!;

test('as_of must be a real YYYY-MM-DD date', () => {
  assert.deepEqual(parseAsOf('2026-06-30'), { year: 2026, month: 6, day: 30 });
  for (const bad of ['', '2026-6-30', '2026-02-30', '2026/06/30', '30-06-2026', '2026-06-30T00:00:00Z', 'yesterday'])
    assert.equal(parseAsOf(bad), undefined, bad);
});

test('safe_harbor_date keeps only the year of ISO dates and timestamps', () => {
  assert.equal(safeHarborDate('1987-03-14', asOf), '1987');
  assert.equal(safeHarborDate('2024-03-14 10:22:00+00', asOf), '2024');
  assert.equal(safeHarborDate('2024-03-14T10:22:00.123456Z', asOf), '2024');
  assert.equal(safeHarborDate('2024-03-14T10:22:00-05:00', asOf), '2024');
  assert.equal(safeHarborDate('2024-03-14 10:22', asOf), '2024');
  assert.equal(safeHarborDate(' 2024-03-14 ', asOf), '2024');
  assert.equal(safeHarborDate('2024-02-29', asOf), '2024');
});

test('safe_harbor_date reads the common US and other written forms', () => {
  for (const v of [
    '03/14/1987',
    '3/14/1987',
    '03-14-1987',
    '14/03/1987',
    '14.03.1987',
    '1987/03/14',
    '19870314',
    'Mar 14, 1987',
    'March 14 1987',
    '14 Mar 1987',
    '14-Mar-1987',
    '3/14/1987 10:22 AM',
    'Sat Mar 14 10:22:00 1987 PST',
    '1987-03',
    '1987',
  ])
    assert.equal(safeHarborDate(v, asOf), '1987', v);
});

test('safe_harbor_date turns dates 90 or more years before as_of into 90+', () => {
  assert.equal(safeHarborDate('1936-07-01', asOf), '90+', 'exactly 90 by year');
  assert.equal(safeHarborDate('1936-12-31', asOf), '90+', 'still 89 on as_of, but the year alone implies a possible 90: generalised');
  assert.equal(safeHarborDate('1937-01-01', asOf), '1937', '89 by year: kept');
  assert.equal(safeHarborDate('1899-01-01', asOf), '90+');
  assert.equal(safeHarborDate('1930', asOf), '90+', 'a bare year too');
  assert.equal(safeHarborDate('03/14/1920', asOf), '90+');
  assert.equal(safeHarborDate('2030-01-01', asOf), '2030', 'future dates keep their year');
});

test('safe_harbor_date redacts what it cannot read (fail closed)', () => {
  for (const v of [
    '',
    'unknown',
    '2024-13-01',
    '2024-02-30',
    '2023-02-29',
    '3/14/87',
    '14/14/1987',
    '2024-03-14 garbage',
    '10:22:00',
    '2024-03-14T25:99',
    'Marchtember 3, 2020',
    '12345',
    'x'.repeat(100),
  ])
    assert.equal(safeHarborDate(v, asOf), '[REDACTED]', v);
});

test('dateYear exposes the parsed year', () => {
  assert.equal(dateYear('2024-03-14'), 2024);
  assert.equal(dateYear('nope'), undefined);
});

test('safe_harbor_zip keeps three digits, or 000 for the 17 low-population prefixes', () => {
  assert.equal(safeHarborZip('78758'), '787**');
  assert.equal(safeHarborZip('78758-1234'), '787**');
  assert.equal(safeHarborZip('787581234'), '787**');
  assert.equal(safeHarborZip(' 78758 '), '787**');
  assert.equal(safeHarborZip('02138'), '021**', 'leading zero kept');
  assert.equal(RESTRICTED_ZIP3.size, 17);
  for (const p of ['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893']) {
    assert.equal(safeHarborZip(`${p}12`), '000**', p);
    assert.equal(safeHarborZip(`${p}12-0001`), '000**', p);
  }
  assert.equal(safeHarborZip('03712'), '037**', 'a neighbour of a restricted prefix is not restricted');
});

test('safe_harbor_zip redacts anything that is not a 5-digit or ZIP+4 code', () => {
  for (const v of ['', '7875', '787589', '78758-12', 'ABCDE', '78 758', 'SW1A 1AA', '78758-12345', 'zip 78758'])
    assert.equal(safeHarborZip(v), '[REDACTED]', v);
});

test('safe_harbor_age: over 89 becomes 90+, other numbers stay, non-numbers are redacted', () => {
  assert.equal(safeHarborAge('45'), '45');
  assert.equal(safeHarborAge('89'), '89');
  assert.equal(safeHarborAge('89.0'), '89.0', 'unchanged');
  assert.equal(safeHarborAge('89.5'), '90+');
  assert.equal(safeHarborAge('90'), '90+');
  assert.equal(safeHarborAge('104'), '90+');
  assert.equal(safeHarborAge('1000'), '90+');
  assert.equal(safeHarborAge('0'), '0');
  for (const v of ['', 'ninety', '-3', '45 years', '4 5', '1e2', '.5', '45.', 'NaN']) assert.equal(safeHarborAge(v), '[REDACTED]', v);
});
