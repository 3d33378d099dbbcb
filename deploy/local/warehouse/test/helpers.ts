import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { loadConfig } from '@phigate/config';
import { demoToken, need } from '@phigate/testkit';
import { exportJWK, SignJWT } from 'jose';
import { buildWarehouse, configSchema, type Log, silentLogger, type WarehouseServer } from '../src/app.js';
import type { Target } from './conformance/target.js';

/** A second, test-only OIDC issuer (a JWKS on port 0), so tests can mint expired tokens that are otherwise valid. */
export interface TestIssuer {
  issuer: string;
  sign(claims: Record<string, unknown>, opts?: { expSecondsFromNow?: number; key?: KeyObject }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : {}));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    async sign(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + (opts.expSecondsFromNow ?? 600);
      return new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-1', typ: 'at+jwt' })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
        .setAudience('phigate')
        .setIssuedAt(exp - 900)
        .setExpirationTime(exp)
        .sign(opts.key ?? privateKey);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface TestWarehouse {
  server: WarehouseServer;
  url: string;
  port: number;
  secretsDir: string;
  gatewayPassword: string;
  gatewayPrivateKeyPem: string;
  issuer: TestIssuer;
  stop(): Promise<void>;
}

/** An in-process warehouse on port 0, seeded from the running stack's PostgreSQL, with its own secrets. */
export async function startWarehouse(env: Record<string, string> = {}, log: Log = silentLogger): Promise<TestWarehouse> {
  const admin = need('PG_ADMIN_URL');
  const issuerUrl = need('DEV_IDP_ISSUER');
  const issuer = await startTestIssuer();
  const secretsDir = mkdtempSync(join(tmpdir(), 'warehouse-secrets-'));
  const gatewayPassword = randomBytes(18).toString('base64url');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(secretsDir, 'warehouse_gateway_password'), gatewayPassword, { mode: 0o600 });
  writeFileSync(join(secretsDir, 'warehouse_gateway_rsa.pub'), publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const config = loadConfig(configSchema, {
    WAREHOUSE_PORT: '0',
    WAREHOUSE_SEED_DATABASE_URL: `${admin.slice(0, admin.lastIndexOf('/'))}/clinical`,
    WAREHOUSE_SECRETS_DIR: secretsDir,
    OIDC_ISSUER: issuerUrl,
    OIDC_AUDIENCE: 'phigate',
    OIDC_JWKS_URI: `${issuerUrl}/jwks`,
    OIDC_EXTRA_ISSUERS: JSON.stringify([{ issuer: issuer.issuer, audience: 'phigate', jwksUri: `${issuer.issuer}/jwks` }]),
    ...env,
  });
  const server = buildWarehouse(config, { log });
  const { url, port } = await server.start();
  return {
    server,
    url,
    port,
    secretsDir,
    gatewayPassword,
    gatewayPrivateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    issuer,
    async stop() {
      await server.stop();
      await issuer.close();
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}

/** The conformance target for a test warehouse: the `etl-pipeline` demo identity over OAuth, as CLINICAL_READER. */
export function warehouseTarget(wh: TestWarehouse): Target {
  return {
    kind: 'warehouse',
    host: '127.0.0.1',
    port: wh.port,
    protocol: 'http',
    account: 'clinical-sf',
    auth: { kind: 'oauth', token: () => demoToken('etl-pipeline') },
    role: 'CLINICAL_READER',
    database: 'CLINICAL',
    schema: 'PUBLIC',
  };
}

/** Registers before/after hooks that start and stop a test warehouse; call the result inside tests. */
export function useWarehouse(env: Record<string, string> = {}, log?: Log): () => TestWarehouse {
  let wh: TestWarehouse | undefined;
  before(async () => {
    wh = await startWarehouse(env, log);
  });
  after(async () => {
    await wh?.stop();
  });
  return () => {
    if (!wh) throw new Error('the test warehouse did not start (see the before hook error)');
    return wh;
  };
}
