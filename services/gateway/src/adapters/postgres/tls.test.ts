import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pgTlsOptions, tlsFailure } from './tls.js';

test('sslMode becomes node-postgres ssl options with libpq meanings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-tls-'));
  writeFileSync(join(dir, 'ca.pem'), 'CA');
  const at = { host: 'db', port: 5432 };
  assert.equal(pgTlsOptions({ ...at, sslMode: 'disable' }, dir), false);
  assert.deepEqual(pgTlsOptions({ ...at, sslMode: 'require' }, dir), { rejectUnauthorized: false });
  assert.deepEqual(pgTlsOptions({ ...at }, dir), { rejectUnauthorized: true }, 'verify-full against public roots by default');
  assert.deepEqual(pgTlsOptions({ ...at, sslRootCertFile: 'ca.pem' }, dir), { ca: 'CA', rejectUnauthorized: true });
  const ca = pgTlsOptions({ ...at, sslMode: 'verify-ca', sslRootCertFile: join(dir, 'ca.pem') }, '/elsewhere');
  assert.ok(ca && ca.ca === 'CA' && ca.rejectUnauthorized === true && ca.checkServerIdentity?.('db', {} as never) === undefined);
});

test('TLS refusals are told apart from other connection failures', () => {
  assert.equal(
    tlsFailure(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' })),
    'SELF_SIGNED_CERT_IN_CHAIN',
  );
  assert.equal(tlsFailure(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })), 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal(tlsFailure(new Error('The server does not support SSL connections')), 'server-without-tls');
  assert.equal(tlsFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), undefined);
});
