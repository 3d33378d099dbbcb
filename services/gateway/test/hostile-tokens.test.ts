// phigate-test: stack
// Hostile access tokens against the real gateway (issue 3, acceptance): each is refused with 401, a
// stable AUTH_* code and no rows, and afterwards no token, hostile or real, is in any stack log.
// Tokens that must fail on their *claims* (expired, not yet valid, wrong issuer or audience) are
// signed with the dev IdP's own private key (DEV ONLY: read from PHIGATE_HOME), and a positive
// control signed the same way is accepted, so each refusal proves the claim check and not merely
// a bad signature. Needs `npm run stack:up` (npm test starts it).
import assert from 'node:assert/strict';
import { createPublicKey, type JsonWebKey, randomBytes, type webcrypto } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoToken, need, requireHttp } from '@phigate/testkit';
import { CompactSign, generateKeyPair, importJWK, type JWK, SignJWT, UnsecuredJWT } from 'jose';

type CryptoKey = webcrypto.CryptoKey;

const QUERY = { connection: 'clinical-pg', sql: 'select 1' };
const REFUSAL_CODES = ['AUTH_TOKEN_MISSING', 'AUTH_TOKEN_INVALID', 'AUTH_TOKEN_EXPIRED'];

/** Every token this suite sends, so the log check can look for all of them. */
const sent: string[] = [];

interface Answer {
  status: number;
  body: Record<string, any>;
}

/** POST /v1/query with `authorization` as the header value (undefined: no header at all). */
async function query(authorization: string | undefined): Promise<Answer> {
  const res = await fetch(`${need('GATEWAY_URL')}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
    body: JSON.stringify(QUERY),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body: Record<string, any> = {};
  try {
    body = JSON.parse(text) as Record<string, any>;
  } catch {
    body = { unparsed: text.slice(0, 200) };
  }
  return { status: res.status, body };
}

const bearer = (token: string): string => {
  sent.push(token);
  return `Bearer ${token}`;
};

const b64 = (x: string | object | Uint8Array): string =>
  Buffer.from(typeof x === 'string' ? x : x instanceof Uint8Array ? x : JSON.stringify(x)).toString('base64url');
const decode = (segment: string): Record<string, any> => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, any>;
const now = (): number => Math.floor(Date.now() / 1000);

interface World {
  issuer: string;
  real: string;
  realHeader: Record<string, any>;
  realClaims: Record<string, any>;
  idpKey: CryptoKey;
  idpKid: string;
  idpPublicJwk: JWK;
  jwksText: string;
  /** Signs `claims` (an object, or raw JSON text) with the dev IdP's real RSA key. */
  signAsIdp: (claims: Record<string, unknown> | string, header?: Record<string, unknown>) => Promise<string>;
}

let world: World | undefined;

async function setUp(): Promise<World> {
  if (world) return world;
  await requireHttp('gateway', `${need('GATEWAY_URL')}/readyz`);
  const issuer = need('DEV_IDP_ISSUER');
  const real = await demoToken('etl-pipeline');
  sent.push(real);
  const [h = '', p = ''] = real.split('.');
  const realHeader = decode(h);
  const realClaims = decode(p);
  // The public key as anyone can fetch it (discovery → jwks_uri) …
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  const jwksText = await (await fetch(discovery.jwks_uri)).text();
  const idpPublicJwk = (JSON.parse(jwksText) as { keys: JWK[] }).keys.find((k) => k.kid === realHeader.kid && k.kty === 'RSA');
  assert.ok(idpPublicJwk, `the IdP's JWKS has no RSA key ${realHeader.kid}`);
  // … and the private key the dev IdP persists (DEV ONLY), to sign tokens whose claims are wrong.
  const privateJwks = JSON.parse(readFileSync(join(need('PHIGATE_HOME'), 'dev-idp', 'jwks.json'), 'utf8')) as { keys: JWK[] };
  const privateJwk = privateJwks.keys.find((k) => k.kid === realHeader.kid);
  assert.ok(privateJwk, `the dev IdP's private JWKS has no key ${realHeader.kid}`);
  const idpKey = (await importJWK(privateJwk, 'RS256')) as CryptoKey;
  const idpKid = realHeader.kid as string;
  const signAsIdp = (claims: Record<string, unknown> | string, header: Record<string, unknown> = {}): Promise<string> => {
    const payload = new TextEncoder().encode(typeof claims === 'string' ? claims : JSON.stringify(claims));
    // jose refuses to sign a `crit` it is not told about: tell it, so the verifier is what refuses.
    const crit = Array.isArray(header.crit) ? { crit: Object.fromEntries(header.crit.map((c: string) => [c, true])) } : undefined;
    return new CompactSign(payload).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: idpKid, ...header }).sign(idpKey, crit);
  };
  world = { issuer, real, realHeader, realClaims, idpKey, idpKid, idpPublicJwk, jwksText, signAsIdp };
  return world;
}

/** Fresh claims like the IdP's own (same sub, client_id, groups, iss, aud), valid now. */
function freshClaims(w: World, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...w.realClaims, jti: randomBytes(12).toString('base64url'), iat: now(), exp: now() + 600, ...extra };
}

async function expectRefused(t: { diagnostic: (m: string) => void }, name: string, authorization: string | undefined, code: string): Promise<void> {
  const r = await query(authorization);
  t.diagnostic(`${name}: HTTP ${r.status} ${r.body.code ?? '-'}${r.body.reason ? ` (${r.body.reason})` : ''}`);
  assert.equal(r.status, 401, `${name}: expected 401, got ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  assert.ok(REFUSAL_CODES.includes(r.body.code), `${name}: unexpected code ${r.body.code}`);
  assert.equal(r.body.code, code, `${name}: code`);
  assert.equal(r.body.rows, undefined, `${name}: rows were returned`);
  assert.equal(r.body.columns, undefined, `${name}: columns were returned`);
  const echoed = JSON.stringify(r.body);
  for (const part of (authorization ?? '').replace(/^Bearer /, '').split('.')) {
    if (part.length >= 16) assert.ok(!echoed.includes(part), `${name}: the answer echoes the token`);
  }
}

test('positive controls: the real token, and the same claims re-signed with the IdP key, are accepted', async () => {
  const w = await setUp();
  const real = await query(bearer(w.real));
  assert.equal(real.status, 200, JSON.stringify(real.body));
  assert.deepEqual(real.body.rows, [[1]]);
  const resigned = await query(bearer(await w.signAsIdp(freshClaims(w))));
  assert.equal(
    resigned.status,
    200,
    `a token signed with the dev IdP key must be accepted, else the claim cases below prove nothing: ${JSON.stringify(resigned.body)}`,
  );
});

test('no token, empty, garbage and malformed tokens', async (t) => {
  const w = await setUp();
  const [h = '', p = ''] = w.real.split('.');
  await expectRefused(t, 'no Authorization header', undefined, 'AUTH_TOKEN_MISSING');
  await expectRefused(t, 'empty bearer (`Bearer `)', 'Bearer ', 'AUTH_TOKEN_MISSING');
  await expectRefused(t, 'scheme only (`Bearer`)', 'Bearer', 'AUTH_TOKEN_MISSING');
  await expectRefused(t, 'Basic credentials instead of a bearer token', `Basic ${b64('etl-pipeline:dev-only-etl-pipeline-secret')}`, 'AUTH_TOKEN_MISSING');
  await expectRefused(t, 'garbage word', bearer('garbage'), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'random base64url', bearer(randomBytes(300).toString('base64url')), 'AUTH_TOKEN_INVALID');
  await expectRefused(
    t,
    'three random segments',
    bearer(`${randomBytes(30).toString('base64url')}.${randomBytes(60).toString('base64url')}.${randomBytes(256).toString('base64url')}`),
    'AUTH_TOKEN_INVALID',
  );
  await expectRefused(t, 'dots only', bearer('...'), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'missing signature (`header.payload.`)', bearer(`${h}.${p}.`), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'two segments (`header.payload`)', bearer(`${h}.${p}`), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'header that is a JSON array', bearer(`${b64('[]')}.${p}.${randomBytes(256).toString('base64url')}`), 'AUTH_TOKEN_INVALID');
});

test('alg none and HMAC signed with the IdP public key', async (t) => {
  const w = await setUp();
  const claims = freshClaims(w);
  const unsecured = new UnsecuredJWT(claims).encode(); // {"alg":"none"} . claims . (empty)
  await expectRefused(t, 'alg none (empty signature)', bearer(unsecured), 'AUTH_TOKEN_INVALID');
  await expectRefused(
    t,
    'alg none with the IdP kid and a signature',
    bearer(`${b64({ alg: 'none', typ: 'at+jwt', kid: w.idpKid })}.${b64(claims)}.${randomBytes(32).toString('base64url')}`),
    'AUTH_TOKEN_INVALID',
  );
  await expectRefused(t, 'alg NONE (case variant)', bearer(`${b64({ alg: 'NONE', kid: w.idpKid })}.${b64(claims)}.AAAA`), 'AUTH_TOKEN_INVALID');
  const pub = createPublicKey({ key: w.idpPublicJwk as JsonWebKey, format: 'jwk' });
  const secrets: Array<[string, Uint8Array]> = [
    ['SPKI PEM', Buffer.from(pub.export({ type: 'spki', format: 'pem' }) as string)],
    ['SPKI PEM without trailing newline', Buffer.from((pub.export({ type: 'spki', format: 'pem' }) as string).trimEnd())],
    ['SPKI DER', pub.export({ type: 'spki', format: 'der' }) as Buffer],
    ['PKCS#1 PEM', Buffer.from(pub.export({ type: 'pkcs1', format: 'pem' }) as string)],
    ['JWK JSON as published', Buffer.from(JSON.stringify(w.idpPublicJwk))],
    ['JWKS document as served', Buffer.from(w.jwksText)],
    ['JWK modulus bytes', Buffer.from(w.idpPublicJwk.n as string, 'base64url')],
  ];
  for (const [form, secret] of secrets) {
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      const hmac = await new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', kid: w.idpKid }).sign(secret);
      await expectRefused(t, `${alg} keyed with the IdP public key (${form})`, bearer(hmac), 'AUTH_TOKEN_INVALID');
    }
  }
});

test('a real token with its payload altered, keeping the original signature', async (t) => {
  const w = await setUp();
  const [h = '', , s = ''] = w.real.split('.');
  const altered = (extra: Record<string, unknown>) => bearer(`${h}.${b64({ ...w.realClaims, ...extra })}.${s}`);
  await expectRefused(t, 'altered payload: groups escalated', altered({ groups: ['etl', 'phi-approvers', 'admin'] }), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'altered payload: subject swapped', altered({ sub: 'billing-service', client_id: 'billing-service' }), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'altered payload: lifetime extended', altered({ exp: now() + 30 * 86_400 }), 'AUTH_TOKEN_INVALID');
  // Only the header changed (typ dropped): the signature covers the header too.
  await expectRefused(
    t,
    'altered header, original signature',
    bearer(`${b64({ alg: 'RS256', kid: w.idpKid })}.${w.real.split('.')[1]}.${s}`),
    'AUTH_TOKEN_INVALID',
  );
});

test('validly signed by the IdP key, but the claims are wrong', async (t) => {
  const w = await setUp();
  const n = now();
  await expectRefused(t, 'expired (exp 10 min ago)', bearer(await w.signAsIdp(freshClaims(w, { iat: n - 4200, exp: n - 600 }))), 'AUTH_TOKEN_EXPIRED');
  await expectRefused(
    t,
    'expired beyond the skew (exp 45 s ago)',
    bearer(await w.signAsIdp(freshClaims(w, { iat: n - 3600, exp: n - 45 }))),
    'AUTH_TOKEN_EXPIRED',
  );
  await expectRefused(t, 'not yet valid (nbf in 10 min)', bearer(await w.signAsIdp(freshClaims(w, { nbf: n + 600 }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(
    t,
    'issued in the future (iat in 10 min)',
    bearer(await w.signAsIdp(freshClaims(w, { iat: n + 600, exp: n + 1200 }))),
    'AUTH_TOKEN_INVALID',
  );
  await expectRefused(t, 'wrong issuer (another host)', bearer(await w.signAsIdp(freshClaims(w, { iss: 'https://idp.evil.example' }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'wrong issuer (trailing slash)', bearer(await w.signAsIdp(freshClaims(w, { iss: `${w.issuer}/` }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'no issuer', bearer(await w.signAsIdp(freshClaims(w, { iss: undefined }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'wrong audience', bearer(await w.signAsIdp(freshClaims(w, { aud: 'some-other-api' }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(
    t,
    'wrong audience (array without ours)',
    bearer(await w.signAsIdp(freshClaims(w, { aud: ['some-other-api', 'urn:phigate'] }))),
    'AUTH_TOKEN_INVALID',
  );
  await expectRefused(t, 'no audience', bearer(await w.signAsIdp(freshClaims(w, { aud: undefined }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'lifetime over 24 h', bearer(await w.signAsIdp(freshClaims(w, { exp: n + 2 * 86_400 }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'subject not a string', bearer(await w.signAsIdp(freshClaims(w, { sub: ['etl-pipeline'] }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'groups not an array', bearer(await w.signAsIdp(freshClaims(w, { groups: 'etl,phi-approvers' }))), 'AUTH_TOKEN_INVALID');
  const json = JSON.stringify(freshClaims(w));
  await expectRefused(t, 'duplicate sub (escaped)', bearer(await w.signAsIdp(`${json.slice(0, -1)},"\\u0073ub":"alice"}`)), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'ID-token claims (nonce)', bearer(await w.signAsIdp(freshClaims(w, { nonce: 'n-0S6_WzA2Mj' }))), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'other token type (typ logout+jwt)', bearer(await w.signAsIdp(freshClaims(w), { typ: 'logout+jwt' })), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'crit header', bearer(await w.signAsIdp(freshClaims(w), { crit: ['x-phigate-ext'], 'x-phigate-ext': true })), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'embedded jwk header', bearer(await w.signAsIdp(freshClaims(w), { jwk: w.idpPublicJwk })), 'AUTH_TOKEN_INVALID');
});

test('unknown kid, and keys that are not the IdP key', async (t) => {
  const w = await setUp();
  const { privateKey } = await generateKeyPair('RS256');
  const claims = freshClaims(w);
  const own = (kid: string | undefined) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...(kid === undefined ? {} : { kid }) }).sign(privateKey);
  await expectRefused(t, 'unknown kid (attacker key)', bearer(await own(`attacker-${randomBytes(4).toString('hex')}`)), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'IdP kid, attacker key', bearer(await own(w.idpKid)), 'AUTH_TOKEN_INVALID');
  await expectRefused(t, 'no kid', bearer(await own(undefined)), 'AUTH_TOKEN_INVALID');
  await expectRefused(
    t,
    'unknown kid (IdP key)',
    bearer(await w.signAsIdp(claims, { kid: `rotated-${randomBytes(4).toString('hex')}` })),
    'AUTH_TOKEN_INVALID',
  );
  const psKey = (await importJWK(
    JSON.parse(readFileSync(join(need('PHIGATE_HOME'), 'dev-idp', 'jwks.json'), 'utf8')).keys.find((k: JWK) => k.kid === w.idpKid),
    'PS256',
  )) as CryptoKey;
  const ps = await new SignJWT(claims).setProtectedHeader({ alg: 'PS256', typ: 'at+jwt', kid: w.idpKid }).sign(psKey);
  await expectRefused(t, 'PS256 by the IdP RSA key (published for RS256)', bearer(ps), 'AUTH_TOKEN_INVALID');
});

test('oversized tokens', async (t) => {
  const w = await setUp();
  // Validly signed by the IdP and otherwise fine: only the size is wrong.
  const nineK = await w.signAsIdp(freshClaims(w, { pad: 'x'.repeat(7000) }));
  assert.ok(nineK.length > 8192 && nineK.length < 12_000);
  await expectRefused(t, `oversized, IdP-signed (${nineK.length} B)`, bearer(nineK), 'AUTH_TOKEN_INVALID');
  const twelveK = `${randomBytes(3000).toString('base64url')}.${randomBytes(6000).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
  await expectRefused(t, `oversized garbage (${twelveK.length} B)`, bearer(twelveK), 'AUTH_TOKEN_INVALID');
});

test('a 64 KB token gets 401 with a code; beyond the header limit it is still refused without rows', async (t) => {
  await setUp();
  const huge = `${randomBytes(12_000).toString('base64url')}.${randomBytes(36_000).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
  assert.ok(huge.length >= 64_000);
  await expectRefused(t, `oversized garbage (${huge.length} B)`, bearer(huge), 'AUTH_TOKEN_INVALID');
  // Past the HTTP server's header limit the gateway never sees the request: Node answers 431 itself.
  const past = `${randomBytes(20_000).toString('base64url')}.${randomBytes(60_000).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
  const r = await query(bearer(past));
  t.diagnostic(`oversized past the header limit (${past.length} B): HTTP ${r.status} ${r.body.code ?? '-'}`);
  assert.ok(r.status === 401 || r.status === 431, `HTTP ${r.status}`);
  assert.equal(r.body.rows, undefined);
});

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

test('after the suite, no token sent here (hostile or real) appears in any stack log', async () => {
  assert.ok(sent.length > 50, 'the suite above did not run');
  await new Promise((r) => setTimeout(r, 1500)); // let asynchronous log writers flush
  // A token is found by any of its long segments (signature, claims) or, when huge, a slice of it.
  const needles = new Set<string>();
  for (const tok of sent) {
    for (const seg of tok.split('.')) if (seg.length >= 24) needles.add(seg.length > 4096 ? seg.slice(1000, 1200) : seg);
  }
  const logDir = need('PHIGATE_LOG_DIR');
  const files = filesUnder(logDir);
  assert.ok(files.length > 0, `no log files under ${logDir}`);
  const hits: string[] = [];
  for (const file of files) {
    if (statSync(file).size === 0) continue;
    const text = readFileSync(file, 'latin1');
    for (const needle of needles) if (text.includes(needle)) hits.push(`${file.slice(logDir.length + 1)} (needle of ${needle.length} chars)`);
  }
  assert.deepEqual(hits, [], `token content found in the stack logs: ${hits.join(', ')}`);
});
