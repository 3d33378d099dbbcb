import { loginParameters } from './parameters.js';

/** Where a session stands: database, schema, warehouse and role, as Snowflake names them. */
export interface SessionInfo {
  databaseName: string;
  schemaName: string;
  warehouseName: string;
  roleName: string;
}

export interface LoginGrant {
  token: string;
  masterToken: string;
  validityInSeconds: number;
  masterValidityInSeconds: number;
  sessionId: number;
  displayUserName: string;
  sessionInfo: SessionInfo;
  timezone?: string;
}

/** The `data` of an accepted login: every key the drivers read, MFA / SSO / remember-me empty. */
export function loginData(g: LoginGrant): Record<string, unknown> {
  return {
    token: g.token,
    masterToken: g.masterToken,
    validityInSeconds: g.validityInSeconds,
    masterValidityInSeconds: g.masterValidityInSeconds,
    sessionId: g.sessionId,
    displayUserName: g.displayUserName,
    serverVersion: '9.0.0',
    firstLogin: false,
    remMeToken: null,
    remMeValidityInSeconds: 0,
    healthCheckInterval: 45,
    newClientForUpgrade: null,
    idToken: null,
    idTokenValidityInSeconds: 0,
    mfaToken: null,
    mfaTokenValidityInSeconds: 0,
    responseData: null,
    parameters: loginParameters(g.timezone),
    sessionInfo: g.sessionInfo,
  };
}

/** The `data` of a renewed session token (`/session/token-request`, requestType RENEW). */
export function renewData(r: { sessionToken: string; validityInSecondsST: number; masterToken: string; validityInSecondsMT: number; sessionId: number }) {
  return {
    sessionToken: r.sessionToken,
    validityInSecondsST: r.validityInSecondsST,
    masterToken: r.masterToken,
    validityInSecondsMT: r.validityInSecondsMT,
    sessionId: r.sessionId,
  };
}

/** A statement's status as `/monitoring/queries/<id>` reports it. */
export type MonitoringStatus = 'RUNNING' | 'QUEUED' | 'SUCCESS' | 'FAILED_WITH_ERROR' | 'ABORTED';

/** The `data` of `/monitoring/queries/<id>`: one entry, or none for a statement the caller may not see. */
export function monitoringData(
  q:
    | {
        id: string;
        status: MonitoringStatus;
        startTime: number;
        endTime: number;
        sessionId: number;
        error?: { code: string | null; message: string | null } | undefined;
      }
    | undefined,
  now: number,
): { queries: Array<Record<string, unknown>> } {
  if (!q) return { queries: [] };
  const state = q.status === 'SUCCESS' ? 'SUCCEEDED' : q.status === 'RUNNING' || q.status === 'QUEUED' ? 'RUNNING' : 'FAILED';
  return {
    queries: [
      {
        id: q.id,
        status: q.status,
        state,
        startTime: q.startTime,
        endTime: q.endTime,
        totalDuration: (q.endTime || now) - q.startTime,
        errorCode: q.error?.code ?? null,
        errorMessage: q.error?.message ?? null,
        sessionId: q.sessionId,
        // A string, never null: the Python connector 5 refuses the whole answer otherwise. Neither
        // endpoint keeps a statement's text with its record, so it is empty.
        sqlText: '',
      },
    ],
  };
}
