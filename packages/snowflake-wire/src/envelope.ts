// Snowflake's REST envelope. Every application outcome is HTTP 200 with {success, code, message,
// data}: Node collapses any other status into a generic "Request to Snowflake failed" and Python
// retries 403s. Codes are six-digit numeric strings (Python, JDBC and Go parse them as integers).

/** A response body as Snowflake sends it. */
export interface Envelope {
  success: boolean;
  code: string | null;
  message: string | null;
  data: unknown;
  headers?: null;
}

/** "Query execution in progress": the driver polls `getResultUrl`. */
export const IN_PROGRESS = '333333';
/** "Asynchronous execution in progress": answered at once to `asyncExec` requests. */
export const IN_PROGRESS_ASYNC = '333334';

/** A successful answer. */
export function ok(data: unknown): Envelope {
  return { success: true, code: null, message: null, data };
}

/** A statement still running (or held): the driver polls its result URL again. */
export function inProgress(queryId: string, async: boolean): Envelope {
  return {
    success: true,
    code: async ? IN_PROGRESS_ASYNC : IN_PROGRESS,
    message: async
      ? 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.'
      : 'Query execution in progress. Query will be processed asynchronously',
    data: { queryId, getResultUrl: `/queries/${queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
  };
}

/** A login or session refusal: no SQLSTATE; `nextAction` tells the driver to log in again. */
export function loginRefusal(code: string, message: string, data: Record<string, unknown> = {}): Envelope {
  return { success: false, code, message, data: { nextAction: 'RETRY_LOGIN', ...data }, headers: null };
}

/** An expired session token (`390112`): drivers renew it with the master token and retry, so no data. */
export function sessionExpired(code: string, message: string): Envelope {
  return { success: false, code, message, data: null, headers: null };
}

/** A statement error, as drivers raise it: ProgrammingError / SnowflakeSQLException / OperationFailedError. */
export function sqlError(code: string, sqlState: string, message: string, data: Record<string, unknown> = {}): Envelope {
  return {
    success: false,
    code,
    message,
    data: { errorCode: code, sqlState, internalError: false, age: 0, line: -1, pos: -1, ...data },
    headers: null,
  };
}

/** The session or master token in `Authorization: Snowflake Token="…"` (undefined when absent or malformed). */
export function sessionTokenOf(authorization: string | undefined): string | undefined {
  const m = /^Snowflake Token="([A-Za-z0-9_-]{16,256})"$/.exec(authorization ?? '');
  return m?.[1];
}
