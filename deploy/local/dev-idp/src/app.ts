/**
 * The local dev OpenID Connect provider (oidc-provider v9) issuing RS256 JWT access tokens for the
 * `phigate` audience through the client_credentials grant. DEV ONLY.
 *
 * `buildIdp(opts)` returns an unstarted IdP; `start()` listens (port 0 allowed, e.g. in tests) and,
 * when no issuer was given, derives it from the bound address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientMetadata, Configuration, KoaContextWithOIDC, default as ProviderClass } from 'oidc-provider';
import { createMemoryAdapterFactory } from './adapter.js';
import { type DevIdentity, loadDevIdentities } from './clients.js';
import { DEFAULT_KEYS_FILE, loadOrCreateKeys } from './keys.js';
import { createLogger, type Logger } from './log.js';

export { DEFAULT_CLIENTS_FILE, type DevIdentity, findDevIdentity, loadDevIdentities } from './clients.js';
export { DEFAULT_KEYS_FILE } from './keys.js';
export { createLogger, type Logger, silentLogger } from './log.js';

export const DEFAULT_PORT = 9400;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_AUDIENCE = 'phigate';
/**
 * Resource indicator (RFC 8707) that maps to the phigate resource server. oidc-provider requires
 * resource indicators to be absolute URIs, so the bare word `phigate` cannot be one; clients need
 * not send `resource` at all because it is the default.
 */
export const DEFAULT_RESOURCE = 'urn:phigate';
/** Scopes the phigate resource server accepts (a client may request any subset; none is fine). */
export const DEFAULT_RESOURCE_SCOPE = 'phigate';
export const DEFAULT_ACCESS_TOKEN_TTL = 3600;

export interface IdpOptions {
  /** TCP port; 0 picks a free one. Default 9400. */
  port?: number;
  /** Bind address. Default 127.0.0.1. */
  host?: string;
  /** Issuer URL. Default `http://<host>:<bound port>`. */
  issuer?: string;
  /** Private JWKS file (created on first start). Default `<repo>/.phigate/dev-idp/jwks.json`. */
  keysFile?: string;
  /** Demo identities. Default: loaded from clients.json. */
  clients?: readonly DevIdentity[];
  /** Access token audience. Default `phigate`. */
  audience?: string;
  /** Resource indicator mapped to the audience. Default `urn:phigate`. */
  resource?: string;
  /** Access token lifetime in seconds. Default 3600. */
  accessTokenTTL?: number;
  logger?: Logger;
}

export interface StartedIdp {
  issuer: string;
  port: number;
  host: string;
}

export interface DevIdp {
  start(): Promise<StartedIdp>;
  /** Graceful stop: stops accepting, lets in-flight requests finish (forced after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** The issuer once started. */
  readonly issuer: string | undefined;
  readonly port: number | undefined;
  /** The oidc-provider instance once started. */
  readonly provider: ProviderClass | undefined;
}

/**
 * oidc-provider prints notices/warnings with console.info/console.warn (e.g. an "Unsupported
 * runtime" warning on import under a non-LTS Node such as 24.9.0). Route anything it prints while
 * we import/construct it into the JSON log instead of free text.
 */
async function capturingConsole<T>(logger: Logger, fn: () => Promise<T> | T): Promise<T> {
  const { info, warn } = console;
  const route =
    (level: 'info' | 'warn', orig: (...a: unknown[]) => void) =>
    (...args: unknown[]): void => {
      const msg = args.map(String).join(' ');
      if (msg.startsWith('oidc-provider')) logger(level, 'oidc_provider.notice', { message: msg });
      else orig.apply(console, args);
    };
  console.info = route('info', info);
  console.warn = route('warn', warn);
  try {
    return await fn();
  } finally {
    console.info = info;
    console.warn = warn;
  }
}

function toClientMetadata(identity: DevIdentity): ClientMetadata {
  return {
    client_id: identity.name,
    client_secret: identity.clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    // Registered as basic; oidc-provider accepts client_secret_post for such clients as well.
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

export function buildIdp(opts: IdpOptions = {}): DevIdp {
  const host = opts.host ?? DEFAULT_HOST;
  const requestedPort = opts.port ?? DEFAULT_PORT;
  const keysFile = opts.keysFile ?? DEFAULT_KEYS_FILE;
  const audience = opts.audience ?? DEFAULT_AUDIENCE;
  const resource = opts.resource ?? DEFAULT_RESOURCE;
  const accessTokenTTL = opts.accessTokenTTL ?? DEFAULT_ACCESS_TOKEN_TTL;
  const logger = opts.logger ?? createLogger('dev-idp');

  let server: Server | undefined;
  let provider: ProviderClass | undefined;
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let issuer: string | undefined;
  let port: number | undefined;

  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    res.on('finish', () => {
      if (path === '/healthz') return;
      logger('info', 'http.request', {
        method: req.method,
        path, // query strings are never logged
        status: res.statusCode,
        duration_ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
      });
    });
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, handler ? 200 : 503, handler ? { status: 'ok' } : { status: 'starting' });
      return;
    }
    if (!handler) {
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'the IdP is starting' });
      return;
    }
    handler(req, res);
  };

  async function createProvider(iss: string, identities: readonly DevIdentity[]): Promise<ProviderClass> {
    const byClientId = new Map(identities.map((i) => [i.name, i] as const));
    const { jwks, generated } = await loadOrCreateKeys(keysFile);
    logger('info', generated ? 'keys.generated' : 'keys.loaded', {
      file: keysFile,
      kids: jwks.keys.map((k) => k.kid),
    });

    const { default: Provider, errors } = await capturingConsole(logger, () => import('oidc-provider'));

    const resourceServerInfo = {
      audience,
      scope: DEFAULT_RESOURCE_SCOPE,
      accessTokenFormat: 'jwt' as const,
      accessTokenTTL,
      jwt: { sign: { alg: 'RS256' as const } },
    };

    const configuration: Configuration = {
      adapter: createMemoryAdapterFactory(),
      clients: identities.map(toClientMetadata),
      jwks: jwks as Configuration['jwks'],
      clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: false },
        revocation: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => resource,
          useGrantedResource: () => true,
          getResourceServerInfo: async (_ctx: KoaContextWithOIDC, indicator: string) => {
            if (indicator === resource) return resourceServerInfo;
            throw new errors.InvalidTarget(`unknown resource indicator; use ${resource} (or omit resource)`);
          },
        },
      },
      extraTokenClaims: async (_ctx, token) => {
        const identity = token.clientId ? byClientId.get(token.clientId) : undefined;
        return { groups: [...(identity?.groups ?? [])] };
      },
      ttl: {
        AccessToken: accessTokenTTL,
        ClientCredentials: accessTokenTTL,
      },
      // No browser-facing flows are configured; deny all CORS origins explicitly.
      clientBasedCORS: () => false,
      renderError: async (ctx, out) => {
        ctx.type = 'application/json';
        ctx.body = out;
      },
    };

    const p = await capturingConsole(logger, () => new Provider(iss, configuration));

    p.on('client_credentials.issued', (token) => {
      logger('info', 'token.issued', {
        client_id: token.clientId,
        aud: token.aud,
        scope: token.scope,
        ttl_s: token.expiration,
      });
    });
    p.on('grant.error', (ctx, err) => {
      logger('warn', 'grant.error', {
        client_id: ctx.oidc.client?.clientId,
        error: (err as { error?: string }).error ?? err.name,
        error_description: (err as { error_description?: string }).error_description,
      });
    });
    p.on('server_error', (_ctx, err) => {
      logger('error', 'server_error', { error: err.message });
    });
    return p;
  }

  return {
    get issuer() {
      return issuer;
    },
    get port() {
      return port;
    },
    get provider() {
      return provider;
    },

    async start() {
      if (server) throw new Error('dev IdP already started');
      const identities = opts.clients ?? loadDevIdentities();
      const srv = createServer(onRequest);
      server = srv;
      srv.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(requestedPort, host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      port = (srv.address() as AddressInfo).port;
      issuer = opts.issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      try {
        provider = await createProvider(issuer, identities);
      } catch (err) {
        await new Promise<void>((resolve) => srv.close(() => resolve()));
        server = undefined;
        throw err;
      }
      handler = provider.callback();
      logger('info', 'idp.started', {
        issuer,
        listen: `${host}:${port}`,
        audience,
        resource,
        clients: identities.map((i) => i.name),
      });
      return { issuer, port, host };
    },

    async stop(graceMs = 5_000) {
      const srv = server;
      if (!srv) return;
      server = undefined;
      handler = undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => srv.closeAllConnections(), graceMs);
        timer.unref();
        srv.close(() => {
          clearTimeout(timer);
          resolve();
        });
        srv.closeIdleConnections();
      });
      logger('info', 'idp.stopped', { issuer });
    },
  };
}
