// The Snowflake door's logins and sessions: a login-request carries the caller's IdP access token
// (AUTHENTICATOR=OAUTH) and names the phigate connection as its account; the door answers with
// opaque session and master tokens (store.ts keeps only their hashes, so any replica accepts them),
// renews the session token with the master token, and ends the session on logout. Opening and
// closing are on the audit trail. Every refusal is a registered AppError; errors.ts turns it into
// the 390xxx code the driver acts on.
import { createHash } from 'node:crypto';
import type { TokenVerifier } from '@phigate/auth';
import { AppError, toAppError } from '@phigate/errors';
import { loginData, renewData, type SessionInfo, sessionTokenOf } from '@phigate/snowflake-wire';
import type { Logger } from '@phigate/telemetry';
import type { ClientEndpoint, RequestContext } from '../../domain/ports.js';
import type { QueryService } from '../../domain/query-service.js';
import { loginResultFormat } from './result-format.js';
import { loginSettings, purposeOfQueryTag, withSessionParameters } from './session-statements.js';
import type { SfSession, SfStore } from './store.js';

export interface LoginDeps {
  verify: TokenVerifier;
  queries: Pick<QueryService, 'bind' | 'recordOrFail' | 'checkPurpose'>;
  store: SfStore;
  log: Logger;
  sessionValiditySec: number;
  masterValiditySec: number;
}

/** Where a session stands, as login and result responses report it. */
export function sessionInfo(s: Pick<SfSession, 'database' | 'schema' | 'warehouse' | 'role'>): SessionInfo {
  return { databaseName: s.database, schemaName: s.schema, warehouseName: s.warehouse, roleName: s.role };
}

/**
 * Session events form one timeline under a request id derived from the session id (request ids
 * are UUIDs in the event contract; Snowflake session ids are numbers, as the drivers expect).
 */
function sessionContext(s: SfSession): RequestContext {
  return {
    requestId: uuidOf(`snowflake-session\0${s.id}`),
    sessionId: String(s.id),
    frontDoor: 'snowflake',
    identity: s.identity,
    connection: s.connection,
    role: s.role,
    traceparent: '',
    ...(s.peer ? { client: s.peer } : {}),
    ...(purposeOfQueryTag(s.settings?.QUERY_TAG) ? { purpose: purposeOfQueryTag(s.settings?.QUERY_TAG) } : {}),
  };
}

const loginFields = (body: Record<string, unknown>) => (body.data && typeof body.data === 'object' ? body.data : {}) as Record<string, unknown>;

/** The authenticator a login-request names (upper case, at most 40 characters; Snowflake's default when absent). */
export function authenticatorOf(body: Record<string, unknown>): string {
  return String(loginFields(body).AUTHENTICATOR ?? 'SNOWFLAKE')
    .toUpperCase()
    .slice(0, 40);
}

/** Snowflake folds unquoted identifiers to upper case: compare names as it would. */
const sameName = (a: string, b: string) => a.replace(/^"|"$/g, '').toUpperCase() === b.replace(/^"|"$/g, '').toUpperCase();

/** The live session a request's `Authorization: Snowflake Token="…"` names. */
export async function sessionOf(store: SfStore, authorization: string | undefined): Promise<SfSession> {
  const token = sessionTokenOf(authorization);
  if (!token) throw new AppError('GATEWAY_SF_SESSION_MISSING');
  const s = await store.sessionByToken(token);
  if (!s) throw new AppError('GATEWAY_SF_SESSION_INVALID');
  if (Date.now() > s.tokenExpires) throw new AppError('GATEWAY_SF_SESSION_EXPIRED');
  return s;
}

/**
 * `POST /session/v1/login-request`: the token is verified like every token, the identity must be
 * bound to the account's connection, and a role, database or schema the driver names must be the
 * bound role, the connection's database and its default schema. The session exists only once its
 * opening is on the audit trail (fail closed).
 */
export async function login(d: LoginDeps, body: Record<string, unknown>, params: URLSearchParams, client: ClientEndpoint): Promise<Record<string, unknown>> {
  const data = loginFields(body);
  const authenticator = authenticatorOf(body);
  if (authenticator !== 'OAUTH') throw new AppError('GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED', { details: { authenticator } });
  const identity = await d.verify(typeof data.TOKEN === 'string' ? data.TOKEN : undefined);
  const account = String(data.ACCOUNT_NAME ?? '').toLowerCase();
  let bound: ReturnType<QueryService['bind']>;
  try {
    bound = d.queries.bind(identity, account);
  } catch {
    // Unknown and unbound connections get the same answer: never confirm which exist.
    throw new AppError('GATEWAY_SF_ACCOUNT_UNKNOWN', {
      message: `Account '${account.slice(0, 63)}' does not exist or this identity is not authorized to use it (the account names a phigate connection).`,
    });
  }
  const { conn, role } = bound;
  const shown = (v: string) => (conn.type === 'snowflake' ? v.toUpperCase() : v);
  const roleName = params.get('roleName');
  if (roleName && !sameName(roleName, role))
    throw new AppError('GATEWAY_SF_ROLE_NOT_AUTHORIZED', {
      message: `Role '${roleName.slice(0, 63)}' specified in the connect string does not exist or not authorized. This identity's role on '${conn.name}' is ${shown(role)}.`,
    });
  const database = params.get('databaseName');
  if (database && !sameName(database, conn.database))
    throw new AppError('GATEWAY_SF_DATABASE_NOT_AUTHORIZED', {
      message: `The requested database does not exist or not authorized. The database of '${conn.name}' is ${shown(conn.database)}.`,
    });
  const schema = params.get('schemaName');
  if (schema && !sameName(schema, conn.defaultSchema))
    throw new AppError('GATEWAY_SF_DATABASE_NOT_AUTHORIZED', {
      message: `The requested schema does not exist or not authorized. Statements on '${conn.name}' run in schema ${shown(conn.defaultSchema)} (name other schemas in full).`,
    });
  // A purpose of use stated at login (QUERY_TAG purpose=…) must be one the binding allows.
  const loginPurpose = purposeOfQueryTag(withLoginSettings(data.SESSION_PARAMETERS).settings?.QUERY_TAG);
  if (loginPurpose !== undefined) d.queries.checkPurpose(bound.binding, loginPurpose || undefined);
  const now = Date.now();
  const { session, token, masterToken } = await d.store.createSession({
    identity,
    connection: conn.name,
    role: shown(role),
    database: shown(conn.database),
    schema: shown(conn.defaultSchema),
    warehouse: params.get('warehouse')?.toUpperCase() ?? 'PHIGATE',
    ...loginResultFormat(data),
    // AUTOCOMMIT, QUERY_TAG, TIMEZONE … a driver sets at login (session-statements.ts).
    ...withLoginSettings(data.SESSION_PARAMETERS),
    tokenExpires: now + d.sessionValiditySec * 1000,
    masterExpires: now + d.masterValiditySec * 1000,
  });
  // The login is on the audit trail (OCSF Authentication) before the driver gets its tokens: no
  // session without its record (fail closed).
  try {
    await d.queries.recordOrFail(sessionContext({ ...session, peer: client }), [{ type: 'session.opened', clientAddress: client.ip }]);
  } catch (err) {
    await d.store.endSession(session).catch(() => undefined);
    throw new AppError('GATEWAY_AUDIT_UNAVAILABLE', {
      message: 'The login could not be recorded in the audit log, so it was refused.',
      cause: toAppError(err, 'GATEWAY_AUDIT_UNAVAILABLE'),
    });
  }
  d.log.info({ sessionId: session.id, subject: identity.subject, connection: conn.name, role }, 'snowflake session opened');
  const granted = loginData({
    token,
    masterToken,
    validityInSeconds: d.sessionValiditySec,
    masterValidityInSeconds: d.masterValiditySec,
    sessionId: session.id,
    displayUserName: identity.clientId,
    sessionInfo: sessionInfo(session),
  });
  if (session.settings) granted.parameters = withSessionParameters(granted.parameters, session.settings);
  return granted;
}

/** `POST /session/token-request` (RENEW): a new session token for the master token's session. */
export async function renew(d: LoginDeps, body: Record<string, unknown>, authorization: string | undefined): Promise<Record<string, unknown>> {
  const master = sessionTokenOf(authorization);
  const s = master ? await d.store.sessionByMaster(master) : undefined;
  if (!master || !s) throw new AppError('GATEWAY_SF_SESSION_INVALID');
  if (Date.now() > s.masterExpires) {
    await d.store.endSession(s);
    throw new AppError('GATEWAY_SF_MASTER_EXPIRED');
  }
  if (body.requestType !== undefined && body.requestType !== 'RENEW')
    throw new AppError('GATEWAY_SF_REQUEST_INVALID', { message: 'Unsupported token request type (phigate renews session tokens only).' });
  const renewed = await d.store.renew(s, d.sessionValiditySec * 1000);
  d.log.info({ sessionId: s.id }, 'snowflake session renewed');
  return renewData({
    sessionToken: renewed.token,
    validityInSecondsST: Math.floor((renewed.session.tokenExpires - Date.now()) / 1000),
    masterToken: master,
    validityInSecondsMT: Math.max(0, Math.floor((s.masterExpires - Date.now()) / 1000)),
    sessionId: s.id,
  });
}

/** `POST /session?delete=true`: the session's tokens are deleted and its closing recorded. */
export async function logout(d: LoginDeps, s: SfSession, params: URLSearchParams): Promise<null> {
  if (params.get('delete') !== 'true') throw new AppError('GATEWAY_SF_REQUEST_INVALID', { message: 'Unsupported session request (only delete=true).' });
  await d.store.endSession(s);
  const openedAt = s.masterExpires - d.masterValiditySec * 1000;
  await d.queries
    .recordOrFail(sessionContext(s), [{ type: 'session.closed', reason: 'logout', durationMs: Math.max(0, Date.now() - openedAt) }])
    .catch(() => d.log.warn({ sessionId: s.id }, 'session.closed not recorded (audit unavailable)'));
  d.log.info({ sessionId: s.id }, 'snowflake session closed');
  return null;
}

/** A stable UUID-shaped id for a name (SHA-256 based, version nibble 8: custom). */
function uuidOf(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function withLoginSettings(raw: unknown): Pick<SfSession, 'settings'> {
  const settings = loginSettings(raw);
  return settings ? { settings } : {};
}
