// The internal links run mutual TLS (issue 18): the stack's policy and masking services accept a
// client presenting a certificate of phigate's internal CA and refuse one from another CA, or none.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { type GrpcTls, grpcChannelCredentials, maskingV1, policyV1 } from '@phigate/proto';
import { need } from '@phigate/testkit';

const tls = (ca: string, cert: string, key: string): GrpcTls => ({
  INTERNAL_TLS_CA_FILE: ca,
  INTERNAL_TLS_CERT_FILE: cert,
  INTERNAL_TLS_KEY_FILE: key,
  INTERNAL_TLS_REFRESH_MS: 60_000,
  INTERNAL_PLAINTEXT: false,
});

/** A CA of its own and a certificate it signed, valid for 127.0.0.1: what an intruder on the network could make. */
function otherCa(): GrpcTls {
  const d = mkdtempSync(join(tmpdir(), 'other-ca-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=other CA',
    '-keyout',
    join(d, 'ca.key'),
    '-out',
    join(d, 'ca.pem'),
  );
  ossl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=gateway',
    '-keyout',
    join(d, 'c.key'),
    '-out',
    join(d, 'c.csr'),
  );
  writeFileSync(join(d, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  ossl(
    'x509',
    '-req',
    '-in',
    join(d, 'c.csr'),
    '-CA',
    join(d, 'ca.pem'),
    '-CAkey',
    join(d, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    join(d, 'c.pem'),
    '-extfile',
    join(d, 'ext'),
  );
  // It trusts the real CA (so the server's certificate verifies); only its own certificate is foreign.
  return tls(need('INTERNAL_TLS_CA_FILE'), join(d, 'c.pem'), join(d, 'c.key'));
}

/** Whether a channel with these credentials gets ready (a completed TLS handshake) before a deadline. */
function ready(
  Client: typeof policyV1.PolicyServiceClient | typeof maskingV1.MaskingServiceClient,
  address: string,
  creds: ChannelCredentials,
): Promise<string> {
  const client = new Client(address, creds);
  return new Promise((resolve) =>
    client.waitForReady(Date.now() + 3000, (err) => {
      client.close();
      resolve(err ? 'refused' : 'ready');
    }),
  );
}

test("policy and masking accept the internal CA's certificates only: another CA, or plaintext, never gets a channel", async () => {
  const ours = tls(need('INTERNAL_TLS_CA_FILE'), need('INTERNAL_TLS_CERT_FILE'), need('INTERNAL_TLS_KEY_FILE'));
  const foreign = otherCa();
  for (const [Client, address] of [
    [policyV1.PolicyServiceClient, need('POLICY_GRPC_ADDR')],
    [maskingV1.MaskingServiceClient, need('MASKING_GRPC_ADDR')],
  ] as const) {
    assert.equal(await ready(Client, address, grpcChannelCredentials(ours)), 'ready', `${address}: the internal CA's certificate`);
    assert.equal(await ready(Client, address, grpcChannelCredentials(foreign)), 'refused', `${address}: a certificate of another CA`);
    assert.equal(await ready(Client, address, credentials.createInsecure()), 'refused', `${address}: plaintext`);
  }
});
