import { AppError } from '@phigate/errors';

export type { Identity };

import type { Identity } from '@phigate/model';
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';

/** One trusted identity provider. */
export interface IssuerConfig {
  issuer: string;
  audience: string;
  /** Defaults to discovery's `jwks_uri` convention `<issuer>/jwks` when not given; set it explicitly in production. */
  jwksUri: string;
  /** Claim holding group names. */
  groupsClaim?: string;
}

/** Options for {@link createTokenVerifier}. */
export interface VerifierOptions {
  issuers: IssuerConfig[];
  clockToleranceSec?: number;
  /** Asymmetric algorithms only: `none` and HMAC are never accepted. */
  algorithms?: string[];
  maxTokenBytes?: number;
}

/** Verifies an access token and returns the identity, or throws an AUTH_* AppError. */
export type TokenVerifier = (token: string | undefined) => Promise<Identity>;

const DEFAULT_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/**
 * Builds a verifier that checks signature (via each issuer's JWKS, cached by jose and refetched
 * on an unknown `kid` with a cooldown), issuer, audience, `exp`/`nbf` with a small skew, and
 * required claims.
 */
export function createTokenVerifier(opts: VerifierOptions): TokenVerifier {
  const algorithms = (opts.algorithms ?? DEFAULT_ALGS).filter((a) => a !== 'none' && !a.startsWith('HS'));
  const maxBytes = opts.maxTokenBytes ?? 8192;
  const byIssuer = new Map(
    opts.issuers.map((i) => [i.issuer, { cfg: i, jwks: createRemoteJWKSet(new URL(i.jwksUri), { cooldownDuration: 30_000, timeoutDuration: 3000 }) }]),
  );
  return async (token) => {
    if (!token) throw new AppError('AUTH_TOKEN_MISSING');
    if (token.length > maxBytes || token.split('.').length !== 3) throw new AppError('AUTH_TOKEN_INVALID');
    const iss = unverifiedIssuer(token);
    const entry = iss ? byIssuer.get(iss) : undefined;
    if (!entry) throw new AppError('AUTH_TOKEN_INVALID', { details: { reason: 'untrusted issuer' } });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.jwks, {
        issuer: entry.cfg.issuer,
        audience: entry.cfg.audience,
        algorithms,
        clockTolerance: opts.clockToleranceSec ?? 30,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new AppError('AUTH_TOKEN_EXPIRED');
      // Anything that is not a JOSE verdict on the token (fetch failure, timeout) means we could not
      // ask the IdP: fail closed, but say so, because retrying may help.
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw new AppError('AUTH_ISSUER_UNAVAILABLE', { cause: err });
      }
      throw new AppError('AUTH_TOKEN_INVALID', { details: { reason: err instanceof joseErrors.JOSEError ? err.code : 'invalid' } });
    }
    const groupsRaw = payload[entry.cfg.groupsClaim ?? 'groups'];
    const groups = Array.isArray(groupsRaw) ? groupsRaw.filter((g): g is string => typeof g === 'string') : [];
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : typeof payload.azp === 'string' ? payload.azp : (payload.sub as string);
    return { subject: payload.sub as string, clientId, groups, issuer: entry.cfg.issuer };
  };
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    const body = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown };
    return typeof body.iss === 'string' ? body.iss : undefined;
  } catch {
    return undefined;
  }
}

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Throws AUTH_GROUP_REQUIRED unless the identity is in one of `groups`. */
export function requireGroup(identity: Identity, groups: readonly string[]): void {
  if (!identity.groups.some((g) => groups.includes(g))) throw new AppError('AUTH_GROUP_REQUIRED');
}
