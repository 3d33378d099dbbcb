import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgUrlProblems, pgUrlTls } from './index.js';

const ca = join(mkdtempSync(join(tmpdir(), 'pg-security-')), 'ca.pem');
writeFileSync(ca, 'not parsed here');
const problems = (url: string, plaintext = false) => pgUrlProblems('AUDIT_DATABASE_URL', url, plaintext, 'AUDIT_DATABASE_PLAINTEXT');

test('PostgreSQL URL: verify-full (or verify-ca) anywhere; anything else only to loopback or a socket', () => {
  assert.deepEqual(problems(`postgres://u:p@db.internal:5432/audit?sslmode=verify-full&sslrootcert=${ca}`), []);
  assert.deepEqual(problems('postgres://u:p@db.internal/audit?sslmode=verify-full'), []);
  assert.deepEqual(problems(`postgresql://u:p@10.0.0.5/audit?sslmode=verify-ca&sslrootcert=${ca}`), []);
  assert.deepEqual(problems('postgres://u:p@127.0.0.1:5432/audit'), []);
  assert.deepEqual(problems('postgres://u:p@localhost/audit?sslmode=disable'), []);
  assert.deepEqual(problems('postgres://u:p@[::1]:5432/audit?sslmode=require'), []);
  assert.deepEqual(problems('postgres://u@%2Fvar%2Frun%2Fpostgresql/audit'), []);
  assert.match(problems('postgres://u:p@db.internal:5432/audit')[0]!, /AUDIT_DATABASE_URL: plaintext refused, db\.internal:5432 is not a loopback address/);
  assert.match(problems('postgres://u:p@db.internal/audit?sslmode=require')[0]!, /sslmode=require refused, db\.internal:5432 is not a loopback address/);
  assert.match(problems('postgres://u:p@db.internal/audit?sslmode=no-verify')[0]!, /sslmode=no-verify refused/);
  // libpq semantics on request: verify-ca checks the chain against sslrootcert, which it then needs.
  assert.deepEqual(problems(`postgres://u:p@db.internal/audit?sslmode=verify-ca&uselibpqcompat=true&sslrootcert=${ca}`), []);
  assert.match(problems('postgres://u:p@db.internal/audit?sslmode=verify-ca&uselibpqcompat=true')[0]!, /sslmode=verify-ca refused/);
  // A host parameter wins over the authority (as in pg-connection-string).
  assert.match(problems('postgres://u:p@127.0.0.1/audit?host=db.internal')[0]!, /db\.internal:5432 is not a loopback address/);
});

test('PostgreSQL URL: *_PLAINTEXT allows an unverified remote link, and only that', () => {
  assert.deepEqual(problems('postgres://u:p@postgres:5432/audit', true), []);
  assert.match(
    problems('postgres://u:p@db.internal/audit?sslmode=verify-full', true)[0]!,
    /AUDIT_DATABASE_PLAINTEXT: set together with sslmode=verify-full in AUDIT_DATABASE_URL; choose one/,
  );
});

test('PostgreSQL URL: a readable sslrootcert, a known sslmode, a postgres URL', () => {
  assert.match(
    problems('postgres://u:p@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')[0]!,
    /cannot read sslrootcert \/nonexistent\/ca\.pem \(ENOENT\)/,
  );
  assert.match(problems(`postgres://u:p@127.0.0.1/x?sslmode=disable&sslrootcert=${ca}`)[0]!, /sslrootcert given with sslmode=disable/);
  assert.match(problems('postgres://u:p@127.0.0.1/x?sslmode=verify')[0]!, /sslmode must be one of/);
  assert.deepEqual(problems('mysql://u:p@127.0.0.1/x'), ['AUDIT_DATABASE_URL: must be a postgres:// or postgresql:// URL']);
  // The password never appears in a problem.
  assert.ok(!problems('postgres://u:s3cret@db.internal/x').join('\n').includes('s3cret'));
  assert.equal(pgUrlTls('postgres://u:p@db:6432/x?sslmode=verify-full')?.address, 'db:6432');
});
