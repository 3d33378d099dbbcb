import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { buildIdp, type DevIdp, findDevIdentity, loadDevIdentities, silentLogger } from '../src/app.js';

const execFileAsync = promisify(execFile);
const identities = loadDevIdentities();
const TOKEN_CLI = fileURLToPath(new URL('../src/token-cli.js', import.meta.url));

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function secretOf(name: string): string {
  const identity = findDevIdentity(identities, name);
  assert.ok(identity, `identity ${name} exists`);
  return identity.clientSecret;
}

describe('dev IdP', () => {
  let dir: string;
  let keysFile: string;
  let idp: DevIdp;
  let issuer: string;
  let tokenEndpoint: string;
  let jwksUri: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dev-idp-test-'));
    keysFile = join(dir, 'keys', 'jwks.json');
    idp = buildIdp({ port: 0, keysFile, clients: identities, logger: silentLogger });
    ({ issuer } = await idp.start());
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    const discovery = (await res.json()) as Record<string, unknown>;
    assert.equal(discovery.issuer, issuer);
    tokenEndpoint = discovery.token_endpoint as string;
    jwksUri = discovery.jwks_uri as string;
    assert.ok((discovery.grant_types_supported as string[]).includes('client_credentials'));
    const methods = discovery.token_endpoint_auth_methods_supported as string[];
    assert.ok(methods.includes('client_secret_basic') && methods.includes('client_secret_post'));
  });

  after(async () => {
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function token(name: string, via: 'basic' | 'post' = 'basic', extra: Record<string, string> = {}) {
    const form = new URLSearchParams({ grant_type: 'client_credentials', ...extra });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (via === 'basic') headers.authorization = basic(name, secretOf(name));
    else {
      form.set('client_id', name);
      form.set('client_secret', secretOf(name));
    }
    return fetch(tokenEndpoint, { method: 'POST', headers, body: form });
  }

  it('serves /healthz', async () => {
    const res = await fetch(`${issuer}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('persists the signing keys with mode 600', () => {
    const st = statSync(keysFile);
    assert.equal(st.mode & 0o777, 0o600);
    const jwks = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys: { kty: string; alg: string; d?: string }[] };
    assert.ok(jwks.keys.some((k) => k.kty === 'RSA' && k.alg === 'RS256' && k.d));
  });

  it('publishes only public keys in the JWKS', async () => {
    const res = await fetch(jwksUri);
    const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
    assert.ok(jwks.keys.length >= 1);
    for (const k of jwks.keys) assert.equal(k.d, undefined);
  });

  it('issues a verifiable RS256 JWT access token by client_credentials (basic)', async () => {
    const res = await token('etl-pipeline');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 3600);
    assert.equal(body.access_token.split('.').length, 3, 'JWT, not opaque');
    const header = decodeProtectedHeader(body.access_token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'at+jwt');

    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(jwksUri)), {
      issuer,
      audience: 'phigate',
      algorithms: ['RS256'],
    });
    assert.equal(payload.sub, 'etl-pipeline');
    assert.equal(payload.client_id, 'etl-pipeline');
    assert.equal(payload.aud, 'phigate');
    assert.deepEqual(payload.groups, ['etl']);
    assert.equal(typeof payload.jti, 'string');
    assert.equal(typeof payload.iat, 'number');
    assert.equal(payload.exp, (payload.iat as number) + 3600);
  });

  it('accepts client_secret_post and carries each identity groups', async () => {
    const jwks = createRemoteJWKSet(new URL(jwksUri));
    for (const identity of identities) {
      const res = await token(identity.name, 'post');
      assert.equal(res.status, 200, identity.name);
      const { access_token } = (await res.json()) as { access_token: string };
      const { payload } = await jwtVerify(access_token, jwks, { issuer, audience: 'phigate' });
      assert.equal(payload.sub, identity.name);
      assert.deepEqual(payload.groups, identity.groups);
    }
  });

  it('accepts the explicit resource indicator and the phigate scope', async () => {
    const res = await token('alice', 'basic', { resource: 'urn:phigate', scope: 'phigate' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; scope: string };
    assert.equal(body.scope, 'phigate');
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(jwksUri)), {
      issuer,
      audience: 'phigate',
    });
    assert.equal(payload.scope, 'phigate');
    assert.deepEqual(payload.groups, ['phi-approvers']);
  });

  it('rejects an unknown resource indicator with invalid_target', async () => {
    const res = await token('alice', 'basic', { resource: 'urn:something-else' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_target');
  });

  it('rejects a wrong secret with 401 invalid_client', async () => {
    const res = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: {
        authorization: basic('etl-pipeline', 'not-the-secret'),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('rejects an unknown client with 401 invalid_client', async () => {
    const res = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=mallory&client_secret=whatever-1234',
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('token CLI prints only the token, exits 2 on unknown identity', async () => {
    const env = { ...process.env, DEV_IDP_ISSUER: issuer };
    const ok = await execFileAsync(process.execPath, [TOKEN_CLI, 'billing-service'], { env });
    const jwt = ok.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(ok.stdout, `${jwt}\n`);
    const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(jwksUri)), { issuer, audience: 'phigate' });
    assert.deepEqual(payload.groups, ['billing']);

    await assert.rejects(execFileAsync(process.execPath, [TOKEN_CLI, 'nobody'], { env }), (err: unknown) => {
      const e = err as { code: number; stdout: string; stderr: string };
      assert.equal(e.code, 2);
      assert.equal(e.stdout, '');
      assert.match(e.stderr, /Unknown identity "nobody"; valid identities are: etl-pipeline, .*platform-admin\./);
      return true;
    });
  });

  it('keeps the keys across restarts, so earlier tokens still verify', async () => {
    const res = await token('audra');
    const { access_token } = (await res.json()) as { access_token: string };
    const second = buildIdp({ port: 0, keysFile, clients: identities, logger: silentLogger });
    const started = await second.start();
    try {
      // Verify against the restarted IdP's JWKS, accepting the first IdP's issuer value.
      const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(`${started.issuer}/jwks`)), {
        issuer,
        audience: 'phigate',
      });
      assert.deepEqual(payload.groups, ['auditors']);
    } finally {
      await second.stop();
    }
  });
});

describe('token CLI without an IdP', () => {
  it('says to run npm run stack:up and exits 1', async () => {
    // Port 9 (discard) on loopback: nothing listens there.
    const env = { ...process.env, DEV_IDP_ISSUER: 'http://127.0.0.1:9' };
    await assert.rejects(execFileAsync(process.execPath, [TOKEN_CLI, 'etl-pipeline'], { env }), (err: unknown) => {
      const e = err as { code: number; stdout: string; stderr: string };
      assert.equal(e.code, 1);
      assert.equal(e.stdout, '');
      assert.match(e.stderr, /npm run stack:up/);
      assert.equal(e.stderr.trim().split('\n').length, 1);
      return true;
    });
  });
});
