import { createHash } from 'node:crypto';
import { AppError } from '@phigate/errors';

export type { Identity };

import type { Identity } from '@phigate/model';
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { decodeJsonObjectSegment } from './strict-json.js';

/** One trusted identity provider. */
export interface IssuerConfig {
  /** Exact `iss` value; a token naming any other issuer is refused before any network call. */
  issuer: string;
  /** This issuer's tokens must name it in `aud` (a string, or an array that contains it). */
  audience: string;
  /** The issuer's JWKS (`jwks_uri` from its discovery document); http(s) only. */
  jwksUri: string;
  /** Claim holding group names. Default `groups`. */
  groupsClaim?: string;
  /** Narrows the verifier-wide algorithms for this issuer (e.g. `['RS256']`), pinning what its keys may sign with. */
  algorithms?: string[];
}

/** Options for {@link createTokenVerifier}. */
export interface VerifierOptions {
  issuers: IssuerConfig[];
  /** Allowed clock skew for `exp`, `nbf` and `iat`, 0–300 s. Default 30. */
  clockToleranceSec?: number;
  /** Asymmetric JWS algorithms only; `none`, HMAC and unknown names are a configuration error. */
  algorithms?: string[];
  /** Longest accepted token, 1 KiB–64 KiB. Default 8192. */
  maxTokenBytes?: number;
  /** Longest accepted `exp - iat`. Default 86400 (24 h). */
  maxTokenLifetimeSec?: number;
  /** Minimum time between two JWKS fetches triggered by an unknown `kid`. Default 30 000 ms. */
  jwksCooldownMs?: number;
  /** A JWKS older than this is fetched again before use. Default 600 000 ms. */
  jwksCacheMaxAgeMs?: number;
  /** JWKS fetch timeout. Default 3000 ms. */
  jwksTimeoutMs?: number;
  /**
   * Tokens already verified, remembered (by SHA-256) so a client presenting the same token again
   * skips the signature work. An entry lives until the token expires, at most 300 s. Default 1000;
   * 0 disables.
   */
  verifiedCacheSize?: number;
}

/** Verifies an access token and returns the identity, or throws an AUTH_* AppError. */
export type TokenVerifier = (token: string | undefined) => Promise<Identity>;

/** Every asymmetric JWS algorithm jose verifies; the only ones that may be configured. */
const ASYMMETRIC_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);
const DEFAULT_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/**
 * `typ` values accepted in the JOSE header, lower-cased and without `application/`: RFC 9068 access
 * tokens (`at+jwt`) and the generic `JWT` that most IdPs still use (absent is accepted as well).
 * Anything else (`logout+jwt`, `secevent+jwt`, `dpop+jwt`, …) is another kind of token.
 */
const ACCEPTED_TYP = new Set(['at+jwt', 'jwt']);
/** Header parameters that carry or point at a key, or change how the token is processed: never from an access token. */
const FORBIDDEN_HEADER_PARAMS = ['crit', 'b64', 'jku', 'jwk', 'x5u', 'x5c', 'cty', 'enc', 'zip'];
/** Claims only an OpenID Connect ID token carries: such a token is not an access token, whatever its `aud`. */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'];
/** Three base64url segments; the signature must not be empty (no `header.payload.`). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_ID_LENGTH = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Why a token was refused, returned as `details.reason` with AUTH_TOKEN_INVALID. A closed set of
 * words, never token content, so clients can fix their configuration (wrong audience, say).
 */
type Reason =
  | 'malformed'
  | 'too_large'
  | 'header'
  | 'algorithm'
  | 'token_type'
  | 'untrusted_issuer'
  | 'unknown_key'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'not_yet_valid'
  | 'lifetime'
  | 'subject'
  | 'claims'
  | 'groups';

const invalid = (reason: Reason): AppError => new AppError('AUTH_TOKEN_INVALID', { details: { reason } });

/** The key source for one issuer could not answer (fetch failed, timed out, non-200, malformed JWKS). */
class IssuerUnavailable extends Error {
  constructor(cause?: unknown) {
    super('issuer unavailable', cause === undefined ? undefined : { cause });
  }
}

interface IssuerEntry {
  cfg: Readonly<IssuerConfig>;
  algorithms: readonly string[];
  keys: JWTVerifyGetKey;
}

/**
 * Builds a verifier that checks, in this order and before any signature work or network call: size,
 * compact-JWS shape, strict JSON (objects, no duplicate names), header (`alg` allow-list, `kid`,
 * `typ`, no key-carrying or critical parameters), a configured issuer; then the signature with that
 * issuer's own JWKS (cached; refetched on an unknown `kid` at most once per cooldown; after a failed
 * fetch the IdP is not asked again for a short backoff), `iss`, `aud`, `exp`/`nbf`/`iat` within the
 * skew, a bounded lifetime, and the shape of `sub`, `client_id`/`azp` and the groups claim.
 * Throws COMMON_CONFIG_INVALID listing every problem in `opts`. Never logs; errors never carry the token.
 */
export function createTokenVerifier(opts: VerifierOptions): TokenVerifier {
  const cfg = validateOptions(opts);
  const byIssuer = new Map<string, IssuerEntry>(
    cfg.issuers.map((i) => [
      i.issuer,
      {
        cfg: Object.freeze({ ...i }),
        algorithms: i.algorithms ? cfg.algorithms.filter((a) => i.algorithms?.includes(a)) : cfg.algorithms,
        keys: keySource(new URL(i.jwksUri), cfg),
      },
    ]),
  );

  const verified = new Map<string, { identity: Identity; untilMs: number }>();
  const cacheSize = opts.verifiedCacheSize ?? 1000;

  const verifyFully = async (token: string | undefined): Promise<Identity & { expSec?: number }> => {
    if (token === undefined || token === '') throw new AppError('AUTH_TOKEN_MISSING');
    if (typeof token !== 'string') throw invalid('malformed');
    if (token.length > cfg.maxTokenBytes) throw invalid('too_large');
    if (!COMPACT_JWS.test(token)) throw invalid('malformed');
    const [h = '', p = ''] = token.split('.');
    const header = decodeJsonObjectSegment(h);
    const claims = decodeJsonObjectSegment(p);
    if (!header || !claims) throw invalid('malformed');

    const headerProblem = checkHeader(header, cfg.algorithms);
    if (headerProblem) throw invalid(headerProblem);
    // The issuer is read before the signature is checked only to pick whose keys to check it with;
    // an unconfigured issuer never causes a fetch (no SSRF through `iss`).
    const entry = typeof claims.iss === 'string' ? byIssuer.get(claims.iss) : undefined;
    if (!entry) throw invalid('untrusted_issuer');
    if (!entry.algorithms.includes(header.alg as string)) throw invalid('algorithm');
    if (ID_TOKEN_CLAIMS.some((c) => Object.hasOwn(claims, c))) throw invalid('token_type');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.keys, {
        issuer: entry.cfg.issuer,
        audience: entry.cfg.audience,
        algorithms: [...entry.algorithms],
        clockTolerance: cfg.clockToleranceSec,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      throw fromVerifyError(err);
    }
    return { ...identityFrom(payload, entry, cfg), expSec: payload.exp as number };
  };

  return async (token) => {
    if (cacheSize <= 0 || typeof token !== 'string' || token.length > cfg.maxTokenBytes) return strip(await verifyFully(token));
    const key = createHash('sha256').update(token).digest('base64');
    const now = Date.now();
    const hit = verified.get(key);
    if (hit && now < hit.untilMs) return hit.identity;
    if (hit) verified.delete(key);
    const full = await verifyFully(token);
    const identity = strip(full);
    Object.freeze(identity.groups);
    Object.freeze(identity);
    const untilMs = Math.min(((full.expSec ?? 0) + cfg.clockToleranceSec) * 1000, now + 300_000);
    if (untilMs > now) {
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
      verified.set(key, { identity, untilMs });
    }
    return identity;
  };
}

function strip(i: Identity & { expSec?: number }): Identity {
  return { subject: i.subject, clientId: i.clientId, groups: i.groups, issuer: i.issuer };
}

interface ResolvedOptions {
  issuers: IssuerConfig[];
  algorithms: string[];
  clockToleranceSec: number;
  maxTokenBytes: number;
  maxTokenLifetimeSec: number;
  jwksCooldownMs: number;
  jwksCacheMaxAgeMs: number;
  jwksTimeoutMs: number;
}

/** Validates every option at once (all problems reported together), in the spirit of loadConfig. */
function validateOptions(opts: VerifierOptions): ResolvedOptions {
  const problems: string[] = [];
  const int = (name: string, v: number | undefined, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const algs = (where: string, list: string[] | undefined): void => {
    if (list === undefined) return;
    if (!Array.isArray(list) || list.length === 0) problems.push(`${where} must be a non-empty list`);
    else for (const a of list) if (!ASYMMETRIC_ALGS.has(a)) problems.push(`${where}: ${String(a)} is not an allowed asymmetric JWS algorithm`);
  };
  algs('algorithms', opts.algorithms);
  const issuers = Array.isArray(opts.issuers) ? opts.issuers : [];
  if (issuers.length === 0) problems.push('issuers must list at least one issuer');
  const seen = new Set<string>();
  issuers.forEach((i, n) => {
    const at = `issuers[${n}]`;
    if (typeof i.issuer !== 'string' || i.issuer === '') problems.push(`${at}.issuer is required`);
    else if (seen.has(i.issuer)) problems.push(`${at}.issuer ${i.issuer} is configured twice`);
    else seen.add(i.issuer);
    if (typeof i.audience !== 'string' || i.audience === '') problems.push(`${at}.audience is required`);
    let url: URL | undefined;
    try {
      url = new URL(i.jwksUri);
    } catch {
      problems.push(`${at}.jwksUri is not a URL`);
    }
    if (url && url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${at}.jwksUri must be http(s)`);
    if (i.groupsClaim !== undefined && (typeof i.groupsClaim !== 'string' || i.groupsClaim === '')) problems.push(`${at}.groupsClaim must be a claim name`);
    algs(`${at}.algorithms`, i.algorithms);
  });
  const algorithms = opts.algorithms ?? DEFAULT_ALGS;
  for (const [n, i] of issuers.entries()) {
    if (i.algorithms?.length && !i.algorithms.some((a) => algorithms.includes(a)))
      problems.push(`issuers[${n}].algorithms allows none of the verifier's algorithms`);
  }
  const resolved: ResolvedOptions = {
    issuers,
    algorithms: [...algorithms],
    clockToleranceSec: int('clockToleranceSec', opts.clockToleranceSec, 30, 0, 300),
    maxTokenBytes: int('maxTokenBytes', opts.maxTokenBytes, 8192, 1024, 65536),
    maxTokenLifetimeSec: int('maxTokenLifetimeSec', opts.maxTokenLifetimeSec, 86_400, 60, 31 * 86_400),
    jwksCooldownMs: int('jwksCooldownMs', opts.jwksCooldownMs, 30_000, 0, 3_600_000),
    jwksCacheMaxAgeMs: int('jwksCacheMaxAgeMs', opts.jwksCacheMaxAgeMs, 600_000, 1000, 86_400_000),
    jwksTimeoutMs: int('jwksTimeoutMs', opts.jwksTimeoutMs, 3000, 100, 60_000),
  };
  if (problems.length > 0) throw new AppError('COMMON_CONFIG_INVALID', { message: `token verifier: ${problems.join('; ')}`, details: { problems } });
  return resolved;
}

function checkHeader(header: Record<string, unknown>, algorithms: readonly string[]): Reason | undefined {
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) return 'algorithm';
  // Every IdP we trust names its key; without a kid jose would try each key of the set in turn.
  if (typeof header.kid !== 'string' || header.kid === '' || header.kid.length > MAX_ID_LENGTH) return 'header';
  if (FORBIDDEN_HEADER_PARAMS.some((k) => Object.hasOwn(header, k))) return 'header';
  if (header.typ !== undefined) {
    if (typeof header.typ !== 'string') return 'token_type';
    const typ = header.typ.toLowerCase().replace(/^application\//, '');
    if (!ACCEPTED_TYP.has(typ)) return 'token_type';
  }
  return undefined;
}

/**
 * One issuer's keys: jose's remote JWKS (cached for `jwksCacheMaxAgeMs`, refetched on an unknown
 * `kid` at most once per `jwksCooldownMs`, concurrent fetches shared), plus what jose does not do:
 * after a failed fetch, do not ask the IdP again for a short backoff (a flood of tokens during an
 * outage must not become a flood of fetches), and report fetch failures as such rather than as a
 * bad token.
 */
function keySource(url: URL, cfg: ResolvedOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { cooldownDuration: cfg.jwksCooldownMs, cacheMaxAge: cfg.jwksCacheMaxAgeMs, timeoutDuration: cfg.jwksTimeoutMs });
  const backoffMs = Math.min(cfg.jwksCooldownMs, 5000);
  let failedAt = Number.NEGATIVE_INFINITY;
  return async (header, token) => {
    if (Date.now() - failedAt < backoffMs) {
      const known = remote.fresh && (remote.jwks()?.keys ?? []).some((k) => k.kid === header.kid);
      if (!known) throw new IssuerUnavailable();
    }
    try {
      return await remote(header, token);
    } catch (err) {
      // Verdicts on the token (no key for this kid/alg, several candidates) pass through unchanged.
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys || err instanceof joseErrors.JOSENotSupported)
        throw err;
      failedAt = Date.now();
      throw new IssuerUnavailable(err);
    }
  };
}

/**
 * Maps what jwtVerify threw to one AppError. jose's claim errors carry the whole claims set in
 * `payload`, so they are never attached as `cause`: only the IdP-side failure (no token in it) is.
 */
function fromVerifyError(err: unknown): AppError {
  if (err instanceof IssuerUnavailable) return new AppError('AUTH_ISSUER_UNAVAILABLE', { cause: err.cause });
  if (err instanceof joseErrors.JWTExpired) return new AppError('AUTH_TOKEN_EXPIRED');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const byClaim: Record<string, Reason> = { iss: 'issuer', aud: 'audience', nbf: 'not_yet_valid' };
    // An `nbf` that is not a number is a malformed claims set, not an early token.
    return invalid(err.claim === 'nbf' && err.reason !== 'check_failed' ? 'claims' : (byClaim[err.claim] ?? 'claims'));
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('unknown_key');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSMultipleMatchingKeys) return invalid('signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return invalid('algorithm');
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return invalid('malformed');
  // Anything else came from attacker-controlled input reaching jose or WebCrypto: refuse, fail closed.
  return invalid('malformed');
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH && !CONTROL_CHARS.test(v);
}

function identityFrom(payload: JWTPayload, entry: IssuerEntry, cfg: ResolvedOptions): Identity {
  // jose checks presence and that the dates are numbers, not their meaning or the other claims' types.
  const now = Math.floor(Date.now() / 1000);
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  if (iat > now + cfg.clockToleranceSec) throw invalid('not_yet_valid');
  if (exp - iat > cfg.maxTokenLifetimeSec) throw invalid('lifetime');
  const aud = payload.aud;
  if (!(typeof aud === 'string' || (Array.isArray(aud) && aud.every((a) => typeof a === 'string')))) throw invalid('audience');
  if (!isId(payload.sub)) throw invalid('subject');
  for (const c of ['client_id', 'azp'] as const) if (payload[c] !== undefined && !isId(payload[c])) throw invalid('claims');

  const groupsRaw = payload[entry.cfg.groupsClaim ?? 'groups'];
  let groups: string[] = [];
  if (groupsRaw !== undefined) {
    // A string, an object or a mixed array is refused rather than guessed at: a group can also be
    // what a policy denies on, so silently dropping one could widen access.
    if (!Array.isArray(groupsRaw) || !groupsRaw.every(isId)) throw invalid('groups');
    groups = [...new Set(groupsRaw)];
  }
  const clientId = (payload.client_id as string | undefined) ?? (payload.azp as string | undefined) ?? payload.sub;
  return { subject: payload.sub, clientId, groups, issuer: entry.cfg.issuer };
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
