/**
 * Dev IdP entry point: reads env, starts the provider, stops gracefully on SIGTERM/SIGINT.
 *
 * Env: DEV_IDP_PORT (9400), DEV_IDP_HOST (127.0.0.1), DEV_IDP_ISSUER (http://127.0.0.1:<port>),
 *      DEV_IDP_KEYS_FILE (<repo>/.phigate/dev-idp/jwks.json), DEV_IDP_AUDIENCE (phigate),
 *      DEV_IDP_RESOURCE (urn:phigate), DEV_IDP_ACCESS_TOKEN_TTL (3600), DEV_IDP_CLIENTS_FILE (clients.json).
 */
import { buildIdp, createLogger, loadDevIdentities } from './app.js';

const logger = createLogger('dev-idp');

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    logger('error', 'config.invalid', { variable: name, value: raw, reason: 'expected a non-negative integer' });
    process.exit(2);
  }
  return n;
}

// Anything oidc-provider prints later (console.info/warn notices) goes to the JSON log too.
for (const level of ['info', 'warn'] as const) {
  const orig = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    const msg = args.map(String).join(' ');
    if (msg.startsWith('oidc-provider')) logger(level, 'oidc_provider.notice', { message: msg });
    else orig(...args);
  };
}

const port = intEnv('DEV_IDP_PORT', 9400);
const host = process.env.DEV_IDP_HOST || '127.0.0.1';
const idp = buildIdp({
  port,
  host,
  issuer: process.env.DEV_IDP_ISSUER || (port === 0 ? undefined : `http://${host}:${port}`),
  ...(process.env.DEV_IDP_KEYS_FILE ? { keysFile: process.env.DEV_IDP_KEYS_FILE } : {}),
  ...(process.env.DEV_IDP_AUDIENCE ? { audience: process.env.DEV_IDP_AUDIENCE } : {}),
  ...(process.env.DEV_IDP_RESOURCE ? { resource: process.env.DEV_IDP_RESOURCE } : {}),
  accessTokenTTL: intEnv('DEV_IDP_ACCESS_TOKEN_TTL', 3600),
  clients: loadDevIdentities(),
  logger,
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger('info', 'idp.stopping', { signal });
  try {
    await idp.stop();
    process.exit(0);
  } catch (err) {
    logger('error', 'idp.stop_failed', { error: (err as Error).message });
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await idp.start();
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  logger('error', 'idp.start_failed', {
    error: e.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : e.message,
  });
  process.exit(1);
}
