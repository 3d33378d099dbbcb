// phigate-test: stack
// The internal links run mutual TLS (issue 18): the stack's policy and masking services, and the
// approval service's internal API, accept a client presenting a certificate of phigate's internal CA
// and refuse one from another CA, or none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { internalHttpClient } from '@phigate/config';
import { type GrpcTls, grpcChannelCredentials, maskingV1, policyV1 } from '@phigate/proto';
import { foreignCertificate, httpsWithoutClientCert, need } from '@phigate/testkit';

const tls = (ca: string, cert: string, key: string): GrpcTls => ({
  INTERNAL_TLS_CA_FILE: ca,
  INTERNAL_TLS_CERT_FILE: cert,
  INTERNAL_TLS_KEY_FILE: key,
  INTERNAL_TLS_REFRESH_MS: 60_000,
  INTERNAL_PLAINTEXT: false,
});

/** A certificate of another CA; it trusts the real CA (so the server's certificate verifies), only its own certificate is foreign. */
function otherCa(): GrpcTls {
  const f = foreignCertificate();
  return tls(need('INTERNAL_TLS_CA_FILE'), f.INTERNAL_TLS_CERT_FILE, f.INTERNAL_TLS_KEY_FILE);
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

test("the approval service's internal API accepts the internal CA's certificates only", async (t) => {
  const url = `${need('APPROVAL_INTERNAL_URL')}/internal/approvals/no-such-approval`;
  const ours = internalHttpClient(tls(need('INTERNAL_TLS_CA_FILE'), need('INTERNAL_TLS_CERT_FILE'), need('INTERNAL_TLS_KEY_FILE')));
  const foreign = internalHttpClient(otherCa());
  t.after(() => {
    ours.close();
    foreign.close();
  });
  // The tools identity has no internal token: a 401 proves the handshake succeeded and a route ran.
  assert.equal((await ours.request('GET', url)).status, 401, "the internal CA's certificate gets an answer");
  await assert.rejects(foreign.request('GET', url), 'a certificate of another CA is refused in the handshake');
  await assert.rejects(httpsWithoutClientCert(url, need('INTERNAL_TLS_CA_FILE')), 'no client certificate is refused');
});
