import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DETECTOR_NAMES, defaultScanner, luhn, mayContainIdentifier, Scanner, scrub, validatePattern, validSsn, validVin } from './detectors.js';

/** The detector names found in a text, in order. */
const kinds = (text: string, scanner = defaultScanner) => scanner.findAll(text).map((f) => f.detector);
/** The matched substrings of one detector. */
const found = (text: string, detector: string, scanner = defaultScanner) =>
  scanner
    .findAll(text)
    .filter((f) => f.detector === detector)
    .map((f) => text.slice(f.start, f.end));

test('ssn: dashed or spaced, never-issued numbers refused; bare 9 digits only after an SSN keyword', () => {
  assert.deepEqual(found('SSN 912-34-5678 and 123 45 6789', 'ssn'), ['912-34-5678', '123 45 6789']);
  assert.deepEqual(found('ssn on file 912345678; SS# 123456789', 'ssn'), ['912345678', '123456789']);
  assert.deepEqual(kinds('000-12-3456 666-12-3456 123-00-4567 123-45-0000 123456789 123-45-6789-0'), []);
  assert.deepEqual(found('SSN 000123456', 'ssn'), []);
  assert.ok(validSsn(912, 34, 5678));
  assert.ok(!validSsn(0, 12, 3456) && !validSsn(666, 1, 1) && !validSsn(123, 0, 1) && !validSsn(123, 1, 0));
});

test('phone: NANP shapes with valid area code and exchange', () => {
  const text =
    'Call (415) 555-0123, 415-555-0123, 415.555.0123, 415 555 0123, +1 415 555 0123, +1-415-555-0123, 1-800-555-0199, (415)555-0123, 4155550123, 14155550123, +14155550123.';
  assert.deepEqual(found(text, 'phone'), [
    '(415) 555-0123',
    '415-555-0123',
    '415.555.0123',
    '415 555 0123',
    '+1 415 555 0123',
    '+1-415-555-0123',
    '1-800-555-0199',
    '(415)555-0123',
    '4155550123',
    '14155550123',
    '+14155550123',
  ]);
  assert.deepEqual(found('+44 20 7946 0958', 'phone'), ['+44 20 7946 0958']);
  assert.deepEqual(found('call 555-0123 or ph 201.3344', 'phone'), ['555-0123', '201.3344'], 'seven digits after a phone keyword');
});

test('phone: invalid NANP numbers and numbers in other roles are not phones', () => {
  assert.deepEqual(kinds('123-456-7890 (011) 555-0123 911-555-0123 415-155-0123 5550123 1234567890'), []);
  assert.deepEqual(kinds('Order #4155550123, room 204, lot 5553219876'), [], 'context keywords say these are not phones');
  assert.deepEqual(kinds('version 1.415.555.0123.4'), []);
});

test('fax: a phone after a fax keyword', () => {
  assert.deepEqual(kinds('Fax: (415) 555-0123; phone 415-555-0124'), ['fax', 'phone']);
});

test('email', () => {
  assert.deepEqual(found('mail jane.doe12@example.org. or J_O+tag@sub.mail.example.co.uk, 12345@x.io', 'email'), [
    'jane.doe12@example.org',
    'J_O+tag@sub.mail.example.co.uk',
    '12345@x.io',
  ]);
  assert.deepEqual(kinds('user@localhost, @handle, a@b.c, x@-bad.com, a@b.c0m, twitter @jane'), []);
});

test('mrn: default patterns, and a context keyword', () => {
  assert.deepEqual(found('MRN-0004521, mrn: 1234567, MRN#123456, MR#1234567, medical record number 7654321', 'mrn'), [
    'MRN-0004521',
    'mrn: 1234567',
    'MRN#123456',
    'MR#1234567',
    '7654321',
  ]);
  assert.deepEqual(kinds('MRN pending, MRN-12'), []);
});

test('health plan numbers: MBI and member id shapes, and after a plan keyword', () => {
  assert.deepEqual(found('MBI 1EG4-TE5-MK73 / 1EG4TE5MK73; member W123456789, XEH123456789, MCD12345678', 'health_plan'), [
    '1EG4-TE5-MK73',
    '1EG4TE5MK73',
    'W123456789',
    'XEH123456789',
    'MCD12345678',
  ]);
  assert.deepEqual(found('Policy # 88-1234-99 and subscriber id ZQ9981234', 'health_plan'), ['88-1234-99', 'ZQ9981234']);
  assert.deepEqual(kinds('ICD E11.9, S72.001A, A1c 6.8, plan to recheck in 3 months'), []);
});

test('mrn and health-plan patterns are configurable', () => {
  const s = new Scanner({ mrnPatterns: ['PT\\d{6}'], healthPlanPatterns: ['HP-[0-9]{4}-[0-9]{4}'] });
  assert.deepEqual(kinds('PT123456 HP-1234-5678 MR#1234567', s), ['mrn', 'health_plan'], 'the default MRN patterns are replaced');
  assert.deepEqual(kinds('PT123456', new Scanner({ mrnPatterns: [], healthPlanPatterns: [] })), []);
  assert.throws(() => new Scanner({ mrnPatterns: ['(a+)+'], healthPlanPatterns: [] }), /unbounded repetition/);
});

test('validatePattern refuses patterns that could backtrack badly', () => {
  assert.equal(validatePattern('MRN-\\d{7}'), undefined);
  assert.equal(validatePattern('(?i:mrn)[-:# ]{0,2}\\d{5,10}'), undefined);
  assert.equal(validatePattern('[A-Z+*]{2}\\d{3}'), undefined, '+ and * inside a class are literals');
  assert.match(validatePattern('\\d+')!, /unbounded/);
  assert.match(validatePattern('a*')!, /unbounded/);
  assert.match(validatePattern('\\d{3,}')!, /unbounded/);
  assert.match(validatePattern('(ab){2}')!, /group/);
  assert.match(validatePattern('(ab)?')!, /group/);
  assert.match(validatePattern('(a)\\1')!, /back-reference/);
  assert.match(validatePattern('a(?=b)')!, /lookaround/);
  assert.match(validatePattern('\\d{1,100}')!, /over 64/);
  assert.match(validatePattern('(')!, /compile/);
  assert.match(validatePattern('')!, /1-200/);
});

test('account (after a keyword) and card numbers (Luhn)', () => {
  assert.deepEqual(found('acct 123456789012, account no. 0042-8812-77, acct ending 1234', 'account'), ['123456789012', '0042-8812-77', '1234']);
  assert.deepEqual(found('Visa 4111 1111 1111 1111, 4111-1111-1111-1111, 4111111111111111, Amex 378282246310005', 'card'), [
    '4111 1111 1111 1111',
    '4111-1111-1111-1111',
    '4111111111111111',
    '378282246310005',
  ]);
  assert.deepEqual(kinds('4111 1111 1111 1112, 4111111111111112, 1234567890123'), [], 'not Luhn-valid');
  assert.ok(luhn('79927398713', 0, 11));
  assert.ok(!luhn('79927398710', 0, 11));
});

test('dates: ISO, US, European, written, with times; impossible dates refused', () => {
  const text =
    'Seen 2024-03-14, 2024/03/14, 2024-03-14T10:22:00Z, 2024-03-14 10:22:00+00, 03/14/2024, 3/14/24, 14.03.2024, Mar 14, 2024, March 14th 2024, 14 March 2024, 14-Mar-2024, March 2024, 2024-03.';
  assert.deepEqual(found(text, 'date'), [
    '2024-03-14',
    '2024/03/14',
    '2024-03-14T10:22:00Z',
    '2024-03-14 10:22:00+00',
    '03/14/2024',
    '3/14/24',
    '14.03.2024',
    'Mar 14, 2024',
    'March 14th 2024',
    '14 March 2024',
    '14-Mar-2024',
    'March 2024',
    '2024-03',
  ]);
  assert.deepEqual(kinds('BP 128/82, 1/2 ppd, 2019-2020, 31/04/2024, 2/30/2024, 2023-02-29, 13/13/2020, in 2019, 10:30'), []);
});

test('ip: IPv4 with octet ranges, IPv6 full and compressed', () => {
  assert.deepEqual(found('from 192.168.1.20, 8.8.8.8 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334, fe80::1ff:fe23:4567:890a, ::ffff:10.0.0.1', 'ip'), [
    '192.168.1.20',
    '8.8.8.8',
    '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
    'fe80::1ff:fe23:4567:890a',
    '10.0.0.1',
  ]);
  assert.deepEqual(kinds('10.0.0.256 v1.2.3.4.5 1.2.3 12:30:45 3:16'), []);
});

test('url', () => {
  assert.deepEqual(found('see https://portal.example.org/pt/123?x=1. and www.example.com/abc, (http://x.org/a)', 'url'), [
    'https://portal.example.org/pt/123?x=1',
    'www.example.com/abc',
    'http://x.org/a',
  ]);
});

test('vehicle: VIN with a valid check digit, plates after a keyword', () => {
  assert.ok(validVin('1HGCM82633A004352', 0));
  assert.ok(!validVin('1HGCM82633A004353', 0));
  assert.deepEqual(found('car 1HGCM82633A004352; plate 7ABC123', 'vehicle'), ['1HGCM82633A004352', '7ABC123']);
  assert.deepEqual(kinds('ref 1HGCM82633A004353 and ABCDEFGHJKLMNPRST'), [], 'bad check digit without context; no digits');
});

test('device: MAC addresses, GS1 UDIs, serial numbers after a keyword', () => {
  assert.deepEqual(found('MAC 00:1A:2B:3C:4D:5E, UDI (01)00884838031219(17)250101(10)ABC123, S/N: AB12345X, serial 99-1234-55', 'device'), [
    '00:1A:2B:3C:4D:5E',
    '(01)00884838031219(17)250101(10)ABC123',
    'AB12345X',
    '99-1234-55',
  ]);
});

test('license: certificate and licence numbers after a keyword', () => {
  assert.deepEqual(found('DEA AB1234563, license D1234567, NPI 1234567893', 'license'), ['AB1234563', 'D1234567', '1234567893']);
});

test('zip: after a keyword, a state, or a street address; ZIP+4 anywhere', () => {
  assert.deepEqual(found('zip 78758; lives in 10001. Austin, TX 78701; 12 Elm St, 02138; code 78758-1234', 'zip'), [
    '78758',
    '10001',
    '78701',
    '02138',
    '78758-1234',
  ]);
  assert.deepEqual(kinds('12345 units, $10,000, 50000 mg'), []);
});

test('address: house number, street words, street suffix', () => {
  assert.deepEqual(found('Lives at 6665 Oak Ave, moved from 42 2nd St. and 9 N Hillcrest Ct', 'address'), ['6665 Oak Ave', '42 2nd St.', '9 N Hillcrest Ct']);
  assert.deepEqual(kinds('500 mg Twice Daily, 3 Main Points'), []);
});

test('age: only ages over 89, replaced by 90+', () => {
  assert.equal(scrub('93 y/o F; 93-year-old; aged 101; age 45; 45 y/o; 95 yrs').text, '90+ y/o F; 90+-year-old; aged 90+; age 45; 45 y/o; 90+ yrs');
});

test('scrub replaces with typed placeholders and keeps the rest', () => {
  const r = scrub('Pt called from 555-201-3344 re: refill; SSN 912-34-5678; f/u 2024-03-14; mail jane.doe12@example.org; MRN-0004521');
  assert.equal(r.text, 'Pt called from [PHONE] re: refill; SSN [SSN]; f/u [DATE]; mail [EMAIL]; [MRN]');
  assert.equal(r.replaced, 5);
  assert.equal(scrub('Lives at 6665 Oak Ave, 78758. Callback 4155550123 after 5pm.').text, 'Lives at [ADDRESS], [ZIP]. Callback [PHONE] after 5pm.');
  const clean = 'Routine follow-up; vitals stable. BP 128/82, HR 71. Metformin 500 mg twice daily.';
  assert.equal(scrub(clean).text, clean);
  assert.equal(scrub(clean).replaced, 0);
  assert.equal(scrub('').text, '');
});

test('non-ASCII text: tokens never start inside words, NBSP still separates', () => {
  assert.equal(scrub('José\u00a0912-34-5678 Núñez').text, 'José\u00a0[SSN] Núñez');
  assert.equal(scrub('é912-34-5678').text, 'é912-34-5678');
});

test('cheap pre-check: values without digits, @ or URL markers are skipped', () => {
  assert.equal(mayContainIdentifier('No known drug allergies.'), false);
  assert.equal(mayContainIdentifier('mail me @ home'), true);
  assert.equal(mayContainIdentifier('see www.example.org'), true);
  assert.equal(mayContainIdentifier('x1'), true);
});

test('every detector has a placeholder and a test above', () => {
  assert.equal(DETECTOR_NAMES.length, 17);
});

test('scanning is linear: adversarial inputs of 1 MB scan quickly', () => {
  const inputs = [
    '1-'.repeat(500_000),
    'a.'.repeat(500_000) + '@',
    '1.'.repeat(500_000),
    '123 '.repeat(250_000),
    '(1'.repeat(500_000),
    '+1 '.repeat(333_333),
    'a@'.repeat(500_000),
    'a:'.repeat(500_000),
    '1:'.repeat(500_000),
    'Ssn '.repeat(250_000),
    `${'x'.repeat(1_000_000)}1`,
    '9'.repeat(1_000_000),
    'MRN'.repeat(333_333),
    `http://${'a'.repeat(1_000_000)}`,
  ];
  for (const text of inputs) {
    const t0 = process.hrtime.bigint();
    scrub(text);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 1500, `${JSON.stringify(text.slice(0, 12))}… took ${ms.toFixed(0)} ms`);
  }
});
