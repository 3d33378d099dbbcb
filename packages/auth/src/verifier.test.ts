import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTokenVerifier } from './index.js';

test('verifies signature, issuer, audience and expiry; refuses HMAC and alg none', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const issuer = 'http://idp.test';
  const verify = createTokenVerifier({
    issuers: [{ issuer, audience: 'phigate', jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks` }],
  });
  const sign = (claims: Record<string, unknown>, exp = '5m') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience('phigate')
      .setSubject('etl-pipeline')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(privateKey);

  const id = await verify(await sign({ client_id: 'etl-pipeline', groups: ['etl'] }));
  assert.deepEqual(id, { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'], issuer });

  await assert.rejects(verify(undefined), { code: 'AUTH_TOKEN_MISSING' });
  await assert.rejects(verify('not-a-token'), { code: 'AUTH_TOKEN_INVALID' });
  await assert.rejects(verify(await sign({}, '-10m')), { code: 'AUTH_TOKEN_EXPIRED' });
  const wrongAud = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience('other')
    .setSubject('x')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  await assert.rejects(verify(wrongAud), { code: 'AUTH_TOKEN_INVALID' });
  const hmac = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(issuer)
    .setAudience('phigate')
    .setSubject('x')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode('k'.repeat(32)));
  await assert.rejects(verify(hmac), { code: 'AUTH_TOKEN_INVALID' });
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer, aud: 'phigate', sub: 'x', exp: 9999999999, iat: 1 })).toString('base64url')}.`;
  await assert.rejects(verify(none), { code: 'AUTH_TOKEN_INVALID' });
});
