import assert from 'node:assert/strict';
import type { webcrypto } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { type AppError, isAppError } from '@phigate/errors';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, type JWK } from 'jose';
import { bearerToken, createTokenVerifier, requireGroup, type TokenVerifier, type VerifierOptions } from './index.js';

type CryptoKey = webcrypto.CryptoKey;
type Alg = 'RS256' | 'PS256' | 'ES256';
interface TestKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK as the IdP publishes it. */
  jwk: JWK;
  /** Private JWK, to re-import the same material under another algorithm. */
  privateJwk: JWK;
}

async function newKey(alg: Alg, kid: string, opts: { publishAlg?: boolean } = {}): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', ...(opts.publishAlg === false ? {} : { alg }) };
  return { kid, alg, privateKey, publicKey, jwk, privateJwk: await exportJWK(privateKey) };
}

const WEBCRYPTO_PARAMS = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
} as const;

const b64 = (x: string | object): string => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/** Signs arbitrary header and payload text (strings are used verbatim, so duplicate names and non-objects can be tested). */
async function signRaw(header: string | object, payload: string | object, key: CryptoKey, alg: Alg): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = await crypto.subtle.sign(WEBCRYPTO_PARAMS[alg], key, Buffer.from(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);
const ISSUER = 'http://idp.test';
const AUDIENCE = 'phigate';

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'etl-pipeline', client_id: 'etl-pipeline', groups: ['etl'], iat: now(), exp: now() + 300, ...extra };
}

/** A token signed by `key`, with header `{alg, kid, typ: at+jwt}` unless overridden (undefined removes a parameter). */
function token(key: TestKey, payload: string | object = claims(), header: Record<string, unknown> = {}): Promise<string> {
  const h = Object.fromEntries(Object.entries({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }).filter(([, v]) => v !== undefined));
  return signRaw(h, payload, key.privateKey, key.alg);
}

interface JwksServer {
  url: string;
  state: { keys: JWK[]; status: number; body?: string; requests: number };
}

async function jwksServer(t: { after: (fn: () => void) => void }, keys: JWK[]): Promise<JwksServer> {
  const state: JwksServer['state'] = { keys, status: 200, requests: 0 };
  const server = createServer((_req, res) => {
    state.requests++;
    res.statusCode = state.status;
    res.setHeader('content-type', 'application/json');
    res.end(state.body ?? JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, state };
}

function verifierFor(url: string, extra: Partial<VerifierOptions> = {}, issuer: Partial<VerifierOptions['issuers'][number]> = {}): TokenVerifier {
  return createTokenVerifier({ issuers: [{ issuer: ISSUER, audience: AUDIENCE, jwksUri: url, ...issuer }], ...extra });
}

/** Asserts a refusal with `code` (and `reason`), and that nothing in the error carries any part of the token. */
async function refused(verify: TokenVerifier, tok: string | undefined, code: string, reason?: string): Promise<AppError> {
  const err: unknown = await verify(tok).then(
    () => assert.fail(`accepted a token that must be refused (${reason ?? code})`),
    (e: unknown) => e,
  );
  assert.ok(isAppError(err), `not an AppError: ${inspect(err)}`);
  assert.equal(err.code, code, `code for ${reason ?? code}`);
  if (reason) assert.equal(err.details.reason, reason);
  const visible = inspect(err, { depth: 20, showHidden: true }) + JSON.stringify(err.toHttpBody()) + err.message;
  for (const part of (tok ?? '').split('.').filter((s) => s.length >= 8)) assert.ok(!visible.includes(part), 'the error carries token content');
  return err;
}

const rsa = await newKey('RS256', 'r1');
const rsaNoAlg = await newKey('RS256', 'r-noalg', { publishAlg: false });
const ec = await newKey('ES256', 'e1');
const stranger = await newKey('RS256', 'r1'); // same kid as `rsa`, different key material

test('accepts a valid token and returns the identity', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk, ec.jwk]);
  const verify = verifierFor(jwks.url);
  assert.deepEqual(await verify(await token(rsa)), { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['etl'], issuer: ISSUER });
  // ES256 with the EC key; aud as an array that contains ours; client id from azp, then from sub.
  const id = await verify(await token(ec, claims({ aud: ['other', AUDIENCE], client_id: undefined, azp: 'etl-app' })));
  assert.equal(id.clientId, 'etl-app');
  assert.equal((await verify(await token(rsa, claims({ client_id: undefined })))).clientId, 'etl-pipeline');
  assert.equal(jwks.state.requests, 1, 'the JWKS is fetched once and cached');
});

test('refuses a missing, garbage or oversized token before looking at keys', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  await refused(verify, undefined, 'AUTH_TOKEN_MISSING');
  await refused(verify, '', 'AUTH_TOKEN_MISSING');
  await refused(verify, 'not-a-token', 'AUTH_TOKEN_INVALID', 'malformed');
  await refused(verify, '%%%.^^^.***', 'AUTH_TOKEN_INVALID', 'malformed');
  const valid = await token(rsa);
  const [h, p, s] = valid.split('.') as [string, string, string];
  await refused(verify, `${h}.${p}.`, 'AUTH_TOKEN_INVALID', 'malformed'); // missing signature
  await refused(verify, `${h}.${p}`, 'AUTH_TOKEN_INVALID', 'malformed');
  await refused(verify, `${h}.${p}.${s}.${s}.${s}`, 'AUTH_TOKEN_INVALID', 'malformed'); // JWE shape
  await refused(verify, ` ${valid}`, 'AUTH_TOKEN_INVALID', 'malformed');
  await refused(verify, `${h}=.${p}.${s}`, 'AUTH_TOKEN_INVALID', 'malformed'); // padding is not base64url
  await refused(verify, await token(rsa, claims({ pad: 'x'.repeat(9000) })), 'AUTH_TOKEN_INVALID', 'too_large');
  await refused(verify, 'a'.repeat(64 * 1024), 'AUTH_TOKEN_INVALID', 'too_large');
  assert.equal(jwks.state.requests, 0, 'nothing was fetched for tokens refused on their shape');
  // The limit is configurable, and a token just under it is fine.
  const big = await token(rsa, claims({ pad: 'x'.repeat(5000) }));
  assert.ok(big.length < 8192);
  await verify(big);
  await refused(verifierFor(jwks.url, { maxTokenBytes: 4096 }), big, 'AUTH_TOKEN_INVALID', 'too_large');
});

test('refuses alg none, HMAC (even keyed with the public key) and algorithms outside the allow-list, without fetching keys', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  const body = b64(claims());
  await refused(verify, `${b64({ alg: 'none', kid: 'r1' })}.${body}.`, 'AUTH_TOKEN_INVALID', 'malformed');
  await refused(verify, `${b64({ alg: 'none', kid: 'r1' })}.${body}.AAAA`, 'AUTH_TOKEN_INVALID', 'algorithm');
  await refused(verify, `${b64({ alg: 'None', kid: 'r1' })}.${body}.AAAA`, 'AUTH_TOKEN_INVALID', 'algorithm');
  const pem = await exportSPKI(rsa.publicKey);
  for (const secret of [pem, JSON.stringify(rsa.jwk), Buffer.from(rsa.jwk.n as string, 'base64url')]) {
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      const input = `${b64({ alg, kid: 'r1', typ: 'at+jwt' })}.${body}`;
      const hmacKey = await crypto.subtle.importKey('raw', Buffer.from(secret), { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['sign']);
      const sig = Buffer.from(await crypto.subtle.sign('HMAC', hmacKey, Buffer.from(input))).toString('base64url');
      await refused(verify, `${input}.${sig}`, 'AUTH_TOKEN_INVALID', 'algorithm');
    }
  }
  await refused(verify, await token(rsa, claims(), { alg: 'RS1' }), 'AUTH_TOKEN_INVALID', 'algorithm');
  await refused(verify, await token(rsa, claims(), { alg: 'dir' }), 'AUTH_TOKEN_INVALID', 'algorithm');
  // ES512 is a valid asymmetric algorithm but not in the default allow-list.
  await refused(verify, await token(ec, claims(), { alg: 'ES512' }), 'AUTH_TOKEN_INVALID', 'algorithm');
  assert.equal(jwks.state.requests, 0);
});

test('the alg must match the key it names: no RS/PS/ES confusion', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk, rsaNoAlg.jwk, ec.jwk]);
  const verify = verifierFor(jwks.url);
  await verify(await token(rsa)); // warms the cache
  // The RSA key is published for RS256: a PS256 signature by the very same private key is refused.
  const psKey = await importJWK(rsa.privateJwk, 'PS256');
  await refused(verify, await signRaw({ alg: 'PS256', kid: 'r1' }, claims(), psKey as CryptoKey, 'PS256'), 'AUTH_TOKEN_INVALID', 'unknown_key');
  // ES256 naming the RSA key, RS256 naming the EC key.
  await refused(verify, await token(ec, claims(), { kid: 'r1' }), 'AUTH_TOKEN_INVALID', 'unknown_key');
  await refused(verify, await token(rsa, claims(), { kid: 'e1' }), 'AUTH_TOKEN_INVALID', 'unknown_key');
  // A key published without `alg` can only be used with algorithms of its own kty (jose) …
  await verify(await token(rsaNoAlg));
  await refused(verify, await token(ec, claims(), { kid: 'r-noalg' }), 'AUTH_TOKEN_INVALID', 'unknown_key');
  const psNoAlg = (await importJWK(rsaNoAlg.privateJwk, 'PS256')) as CryptoKey;
  const ps = await signRaw({ alg: 'PS256', kid: 'r-noalg' }, claims(), psNoAlg, 'PS256');
  await verify(ps);
  // … and an issuer's algorithms can be pinned so that RSA keys sign only RS256.
  await refused(verifierFor(jwks.url, {}, { algorithms: ['RS256'] }), ps, 'AUTH_TOKEN_INVALID', 'algorithm');
  assert.equal(jwks.state.requests, 1, 'unknown kid/alg combinations within the cooldown cost no fetch');
});

test('refuses crit, b64, embedded or remote keys, cty, and a missing kid', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  const headers: Array<Record<string, unknown>> = [
    { crit: ['exp'] },
    { crit: ['b64'], b64: false },
    { crit: [] },
    { b64: true },
    { jku: 'https://evil.test/jwks' },
    { jwk: rsa.jwk },
    { x5u: 'https://evil.test/cert' },
    { x5c: ['MIIB'] },
    { cty: 'JWT' },
    { kid: undefined },
    { kid: '' },
    { kid: 42 },
    { kid: 'k'.repeat(300) },
  ];
  for (const h of headers) await refused(verify, await token(rsa, claims(), h), 'AUTH_TOKEN_INVALID', 'header');
});

test('typ: at+jwt, application/at+jwt, JWT or absent; other token types and ID tokens are refused', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'JWT', 'jwt', undefined]) await verify(await token(rsa, claims(), { typ }));
  for (const typ of ['logout+jwt', 'secevent+jwt', 'dpop+jwt', 'JOSE', 'id_token', 'application/jwt+at', 7]) {
    await refused(verify, await token(rsa, claims(), { typ }), 'AUTH_TOKEN_INVALID', 'token_type');
  }
  for (const marker of [{ nonce: 'n-0S6_WzA2Mj' }, { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }, { c_hash: 'LDktKdoQak3Pk0cnXxCltA' }]) {
    await refused(verify, await token(rsa, claims(marker), { typ: 'JWT' }), 'AUTH_TOKEN_INVALID', 'token_type');
  }
});

test('header and claims must be JSON objects, valid UTF-8, without duplicate member names', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  const c = claims();
  const json = JSON.stringify(c);
  const hdr = JSON.stringify({ alg: 'RS256', kid: 'r1' });
  const cases: Array<[string, string]> = [
    ['[]', json],
    ['"RS256"', json],
    ['null', json],
    [hdr, '[]'],
    [hdr, `[${json}]`],
    [hdr, '"etl-pipeline"'],
    [hdr, '42'],
    [hdr, 'null'],
    [hdr, 'true'],
    [hdr, `${json} `.repeat(2)],
    [hdr, `\ufeff${json}`], // BOM
    [hdr, `${json.slice(0, -1)},"sub":"admin"}`], // duplicate sub: JSON.parse would keep the last
    [hdr, `${json.slice(0, -1)},"\\u0073ub":"admin"}`], // the same, spelled with an escape
    [hdr, `${json.slice(0, -1)},"iss":"${ISSUER}"}`], // duplicate iss
    [hdr, `${json.slice(0, -1)},"act":{"sub":"a","sub":"b"}}`], // nested duplicate
    [hdr, `${json.slice(0, -1)},"deep":${'['.repeat(40)}${']'.repeat(40)}}`], // too deep
    [`{"alg":"RS256","kid":"r1","alg":"none"}`, json], // duplicate alg
    [hdr, json.slice(0, -1)], // truncated
  ];
  for (const [h, p] of cases) await refused(verify, await signRaw(h, p, rsa.privateKey, 'RS256'), 'AUTH_TOKEN_INVALID', 'malformed');
  // Invalid UTF-8 in the claims set.
  const badUtf8 = Buffer.concat([Buffer.from(json.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]).toString('base64url');
  const input = `${b64(hdr)}.${badUtf8}`;
  const sig = Buffer.from(await crypto.subtle.sign(WEBCRYPTO_PARAMS.RS256, rsa.privateKey, Buffer.from(input))).toString('base64url');
  await refused(verify, `${input}.${sig}`, 'AUTH_TOKEN_INVALID', 'malformed');
  // Whitespace and escapes that JSON allows are fine.
  await verify(await signRaw(` { "alg" : "RS256", "kid": "r1" } `, JSON.stringify(c, null, 2).replace('"sub"', '"\\u0073ub"'), rsa.privateKey, 'RS256'));
});

test('sub, client_id, azp and aud must have the right shape', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  for (const sub of [123, ['etl-pipeline'], { id: 'x' }, '', null, true, 'a\nb', 'x'.repeat(256)]) {
    await refused(verify, await token(rsa, claims({ sub })), 'AUTH_TOKEN_INVALID', 'subject');
  }
  await refused(verify, await token(rsa, claims({ sub: undefined })), 'AUTH_TOKEN_INVALID', 'claims');
  for (const client_id of [7, ['a'], '', 'a\u0000b']) await refused(verify, await token(rsa, claims({ client_id })), 'AUTH_TOKEN_INVALID', 'claims');
  await refused(verify, await token(rsa, claims({ client_id: undefined, azp: ['x'] })), 'AUTH_TOKEN_INVALID', 'claims');
  await refused(verify, await token(rsa, claims({ aud: 'other' })), 'AUTH_TOKEN_INVALID', 'audience');
  await refused(verify, await token(rsa, claims({ aud: ['other', 'another'] })), 'AUTH_TOKEN_INVALID', 'audience');
  await refused(verify, await token(rsa, claims({ aud: [AUDIENCE, 7] })), 'AUTH_TOKEN_INVALID', 'audience');
  await refused(verify, await token(rsa, claims({ aud: `${AUDIENCE} ` })), 'AUTH_TOKEN_INVALID', 'audience');
  await refused(verify, await token(rsa, claims({ aud: undefined })), 'AUTH_TOKEN_INVALID', 'audience');
  for (const exp of [undefined, '9999999999']) await refused(verify, await token(rsa, claims({ exp })), 'AUTH_TOKEN_INVALID', 'claims');
  for (const iat of [undefined, '1']) await refused(verify, await token(rsa, claims({ iat })), 'AUTH_TOKEN_INVALID', 'claims');
  await refused(verify, await token(rsa, claims({ nbf: 'now' })), 'AUTH_TOKEN_INVALID', 'claims');
});

test('groups: absent means none; an array of names is deduplicated; anything else is refused', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  assert.deepEqual((await verify(await token(rsa, claims({ groups: undefined })))).groups, []);
  assert.deepEqual((await verify(await token(rsa, claims({ groups: [] })))).groups, []);
  assert.deepEqual((await verify(await token(rsa, claims({ groups: ['etl', 'billing', 'etl'] })))).groups, ['etl', 'billing']);
  for (const groups of ['etl', 'etl,admin', { 0: 'etl' }, ['etl', 1], ['etl', null], [['admin']], [''], null, 7, true]) {
    await refused(verify, await token(rsa, claims({ groups })), 'AUTH_TOKEN_INVALID', 'groups');
  }
  // A custom claim name: the default `groups` claim is then ignored.
  const roles = verifierFor(jwks.url, {}, { groupsClaim: 'roles' });
  assert.deepEqual((await roles(await token(rsa, claims({ roles: ['auditor'] })))).groups, ['auditor']);
  assert.deepEqual((await roles(await token(rsa, claims()))).groups, []);
});

test('exp, nbf and iat are honoured within the clock skew and not beyond; the lifetime is bounded', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url); // 30 s of skew by default
  const n = now();
  await verify(await token(rsa, claims({ iat: n - 600, exp: n - 20 })));
  await refused(verify, await token(rsa, claims({ iat: n - 600, exp: n - 40 })), 'AUTH_TOKEN_EXPIRED');
  await verify(await token(rsa, claims({ nbf: n + 20 })));
  await refused(verify, await token(rsa, claims({ nbf: n + 40 })), 'AUTH_TOKEN_INVALID', 'not_yet_valid');
  await verify(await token(rsa, claims({ iat: n + 20 })));
  await refused(verify, await token(rsa, claims({ iat: n + 40 })), 'AUTH_TOKEN_INVALID', 'not_yet_valid');
  // No skew at all.
  const strict = verifierFor(jwks.url, { clockToleranceSec: 0 });
  await refused(strict, await token(rsa, claims({ iat: n - 600, exp: n - 2 })), 'AUTH_TOKEN_EXPIRED');
  await refused(strict, await token(rsa, claims({ nbf: n + 5 })), 'AUTH_TOKEN_INVALID', 'not_yet_valid');
  // A token living longer than 24 h (or the configured maximum) is refused even if signed.
  await refused(verify, await token(rsa, claims({ exp: n + 86_400 + 60 })), 'AUTH_TOKEN_INVALID', 'lifetime');
  await refused(verifierFor(jwks.url, { maxTokenLifetimeSec: 3600 }), await token(rsa, claims({ exp: n + 7200 })), 'AUTH_TOKEN_INVALID', 'lifetime');
  // Expired *and* badly signed is a bad signature: only a validly signed token is reported expired.
  await refused(verify, await token(stranger, claims({ iat: n - 600, exp: n - 300 })), 'AUTH_TOKEN_INVALID', 'signature');
  // Skew is bounded by configuration.
  assert.throws(() => verifierFor(jwks.url, { clockToleranceSec: 301 }), { code: 'COMMON_CONFIG_INVALID' });
});

test('a signature over different content is refused (altered claims keep the original signature)', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  const [h, , s] = (await token(rsa)).split('.') as [string, string, string];
  await refused(verify, `${h}.${b64(claims({ groups: ['phi-approvers', 'admin'] }))}.${s}`, 'AUTH_TOKEN_INVALID', 'signature');
  await refused(verify, `${h}.${b64(claims({ sub: 'billing-service' }))}.${s}`, 'AUTH_TOKEN_INVALID', 'signature');
  await refused(verify, await token(stranger), 'AUTH_TOKEN_INVALID', 'signature'); // right kid, wrong key
});

test('several issuers: each with its own audience and keys; a token from one is never checked with another key set', async (t) => {
  const a = await jwksServer(t, [rsa.jwk]);
  const bShared = await newKey('RS256', 'r1'); // B publishes a key with A's kid
  const b = await jwksServer(t, [ec.jwk, bShared.jwk]);
  const ISSUER_B = 'https://idp-b.test/tenant';
  const verify = createTokenVerifier({
    issuers: [
      { issuer: ISSUER, audience: AUDIENCE, jwksUri: a.url },
      { issuer: ISSUER_B, audience: 'phigate-b', jwksUri: b.url, groupsClaim: 'roles' },
    ],
    jwksCooldownMs: 60_000,
  });
  assert.equal((await verify(await token(rsa))).issuer, ISSUER);
  const fromB = await verify(await token(ec, claims({ iss: ISSUER_B, aud: 'phigate-b', roles: ['auditor'] })));
  assert.deepEqual(fromB, { subject: 'etl-pipeline', clientId: 'etl-pipeline', groups: ['auditor'], issuer: ISSUER_B });
  assert.equal((await verify(await token(bShared, claims({ iss: ISSUER_B, aud: 'phigate-b' })))).issuer, ISSUER_B);
  const [fetchesA, fetchesB] = [a.state.requests, b.state.requests];
  // Claims to be A, signed with B's keys: B's key set is never consulted.
  await refused(verify, await token(ec), 'AUTH_TOKEN_INVALID', 'unknown_key');
  await refused(verify, await token(bShared), 'AUTH_TOKEN_INVALID', 'signature'); // same kid, B's material
  // Each issuer's own audience only.
  await refused(verify, await token(ec, claims({ iss: ISSUER_B })), 'AUTH_TOKEN_INVALID', 'audience');
  await refused(verify, await token(rsa, claims({ aud: 'phigate-b' })), 'AUTH_TOKEN_INVALID', 'audience');
  // Claims to be B, signed with A's key (kid r1 exists in B's set too).
  await refused(verify, await token(rsa, claims({ iss: ISSUER_B, aud: 'phigate-b' })), 'AUTH_TOKEN_INVALID', 'signature');
  // Issuers are compared exactly; an unknown one triggers no fetch at all.
  for (const iss of ['https://evil.test', `${ISSUER}/`, ISSUER.toUpperCase(), '', 7, [ISSUER], undefined]) {
    await refused(verify, await token(rsa, claims({ iss })), 'AUTH_TOKEN_INVALID', 'untrusted_issuer');
  }
  assert.deepEqual([a.state.requests, b.state.requests], [fetchesA, fetchesB], 'no key set was fetched for refused tokens');
});

test('the JWKS is cached; a flood of unknown kids does not hammer the JWKS endpoint', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url); // default 30 s cooldown
  await verify(await token(rsa));
  assert.equal(jwks.state.requests, 1);
  const unknown = await Promise.all(Array.from({ length: 20 }, (_, i) => token(rsa, claims(), { kid: `attacker-${i}` })));
  await Promise.all(Array.from({ length: 300 }, (_, i) => refused(verify, unknown[i % unknown.length], 'AUTH_TOKEN_INVALID', 'unknown_key')));
  for (const tok of unknown) await refused(verify, tok, 'AUTH_TOKEN_INVALID', 'unknown_key');
  await verify(await token(rsa));
  assert.equal(jwks.state.requests, 1, '320 unknown-kid tokens within the cooldown caused no fetch');

  // With a short cooldown, a sustained flood costs at most one fetch per cooldown period.
  const flooded = await jwksServer(t, [rsa.jwk]);
  const short = verifierFor(flooded.url, { jwksCooldownMs: 200 });
  await short(await token(rsa));
  const started = Date.now();
  let attempts = 0;
  while (Date.now() - started < 1000) {
    await Promise.all(unknown.slice(0, 5).map((tok) => refused(short, tok, 'AUTH_TOKEN_INVALID', 'unknown_key')));
    attempts += 5;
    await new Promise((r) => setTimeout(r, 5));
  }
  const elapsed = Date.now() - started;
  assert.ok(attempts > 100, `flood too small to prove anything (${attempts})`);
  assert.ok(flooded.state.requests <= 2 + Math.ceil(elapsed / 200), `${flooded.state.requests} fetches for ${attempts} unknown-kid tokens in ${elapsed} ms`);
});

test('key rotation: a new kid is fetched once the cooldown has passed', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url, { jwksCooldownMs: 1000 });
  await verify(await token(rsa));
  const rotated = await newKey('RS256', 'r2');
  jwks.state.keys = [rsa.jwk, rotated.jwk];
  const tok = await token(rotated);
  await refused(verify, tok, 'AUTH_TOKEN_INVALID', 'unknown_key'); // still cooling down: no fetch
  assert.equal(jwks.state.requests, 1);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await verify(tok)).subject, 'etl-pipeline');
  assert.equal(jwks.state.requests, 2);
  await verify(await token(rsa));
  assert.equal(jwks.state.requests, 2);
});

test('IdP outage: AUTH_ISSUER_UNAVAILABLE (retriable), and a flood during it does not become a flood of fetches', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  jwks.state.status = 500;
  const verify = verifierFor(jwks.url); // backoff after a failure: min(cooldown, 5 s)
  const tok = await token(rsa);
  const errs = await Promise.all(Array.from({ length: 50 }, () => refused(verify, tok, 'AUTH_ISSUER_UNAVAILABLE')));
  assert.ok(errs.every((e) => e.retriable));
  for (let i = 0; i < 50; i++) await refused(verify, tok, 'AUTH_ISSUER_UNAVAILABLE');
  assert.equal(jwks.state.requests, 1, '100 tokens during an outage cost one fetch');

  // Recovery after the backoff.
  const recovering = await jwksServer(t, [rsa.jwk]);
  recovering.state.status = 503;
  const short = verifierFor(recovering.url, { jwksCooldownMs: 1000 }); // backoff: 1 s
  await refused(short, tok, 'AUTH_ISSUER_UNAVAILABLE');
  recovering.state.status = 200;
  await refused(short, tok, 'AUTH_ISSUER_UNAVAILABLE'); // within the backoff: not asked again
  assert.equal(recovering.state.requests, 1);
  await new Promise((r) => setTimeout(r, 1100));
  await short(tok);
  assert.equal(recovering.state.requests, 2);

  // Malformed key sets and an unreachable IdP are the IdP's problem, not the token's.
  const garbage = await jwksServer(t, []);
  garbage.state.body = '{"keys":"nope"}';
  await refused(verifierFor(garbage.url), tok, 'AUTH_ISSUER_UNAVAILABLE');
  garbage.state.body = '<html>';
  await refused(verifierFor(garbage.url), tok, 'AUTH_ISSUER_UNAVAILABLE');
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const err = await refused(verifierFor(`http://127.0.0.1:${port}/jwks`), tok, 'AUTH_ISSUER_UNAVAILABLE');
  assert.ok(err.cause, 'the fetch failure is kept as the cause (it holds no token)');
});

test('options are validated once, every problem reported together', () => {
  assert.throws(
    () =>
      createTokenVerifier({
        issuers: [
          { issuer: 'https://a.test', audience: '', jwksUri: 'file:///etc/passwd' },
          { issuer: 'https://a.test', audience: 'x', jwksUri: 'not a url', algorithms: ['HS256'] },
        ],
        algorithms: ['RS256', 'HS256', 'none'],
        clockToleranceSec: 3600,
        maxTokenBytes: 10 * 1024 * 1024,
      }),
    (err: AppError) => {
      assert.equal(err.code, 'COMMON_CONFIG_INVALID');
      const problems = err.details.problems as string[];
      for (const needle of ['HS256', 'none', 'audience', 'http(s)', 'twice', 'not a URL', 'clockToleranceSec', 'maxTokenBytes']) {
        assert.ok(
          problems.some((p) => p.includes(needle)),
          `missing problem about ${needle}: ${problems.join(' | ')}`,
        );
      }
      return true;
    },
  );
  assert.throws(() => createTokenVerifier({ issuers: [] }), { code: 'COMMON_CONFIG_INVALID' });
});

test('bearerToken and requireGroup', () => {
  assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  assert.equal(bearerToken('bearer abc'), 'abc');
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearerabc']) assert.equal(bearerToken(h), undefined);
  const id = { subject: 's', clientId: 's', groups: ['etl'], issuer: ISSUER };
  requireGroup(id, ['auditors', 'etl']);
  assert.throws(() => requireGroup(id, ['auditors']), { code: 'AUTH_GROUP_REQUIRED' });
  assert.throws(() => requireGroup({ ...id, groups: [] }, ['auditors']), { code: 'AUTH_GROUP_REQUIRED' });
});

test('a verified token is remembered (by hash) until it expires; a token differing in any byte is verified afresh', async (t) => {
  const jwks = await jwksServer(t, [rsa.jwk]);
  const verify = verifierFor(jwks.url);
  const tok = await token(rsa);
  const first = await verify(tok);
  assert.equal(await verify(tok), first, 'the second presentation is served from the cache');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.groups), 'a shared identity cannot be changed by a caller');
  const altered = `${tok.slice(0, -2)}${tok.endsWith('AA') ? 'BB' : 'AA'}`;
  await refused(verify, altered, 'AUTH_TOKEN_INVALID');
  const uncached = verifierFor(jwks.url, { verifiedCacheSize: 0 });
  assert.notEqual(await uncached(tok), await uncached(tok), 'with the cache off every call verifies');
});
