// Which result format a Snowflake session is answered in. Snowflake decides per session, from the
// driver the login names (`CLIENT_APP_ID`) and that driver's session parameter
// (PYTHON_CONNECTOR_QUERY_RESULT_FORMAT, JDBC_QUERY_RESULT_FORMAT, GO_QUERY_RESULT_FORMAT: ARROW or
// JSON, defaulting to ARROW), which a driver sends in the login's SESSION_PARAMETERS when its user
// sets it (or the user sets later with ALTER SESSION); the drivers then read `queryResultFormat` in
// each answer. The door does the same except for one default: the Python connector and gosnowflake
// default to Arrow, as on Snowflake; JDBC gets Arrow when it asks for it, JSON otherwise (its Arrow
// reader needs a JVM flag on Java 17+ that a JDBC user who never met Arrow has not set), and every
// other client (snowflake-sdk for Node has no Arrow reader) gets JSON.
import type { SfSession } from './store.js';

export type ResultFormat = 'arrow' | 'json';

/** Per CLIENT_APP_ID: the session parameter that names its format, and the default. */
const DRIVERS: Readonly<Record<string, { parameter: string; fallback: ResultFormat }>> = {
  PythonConnector: { parameter: 'PYTHON_CONNECTOR_QUERY_RESULT_FORMAT', fallback: 'arrow' },
  JDBC: { parameter: 'JDBC_QUERY_RESULT_FORMAT', fallback: 'json' },
  Go: { parameter: 'GO_QUERY_RESULT_FORMAT', fallback: 'arrow' },
};

const asFormat = (v: unknown): ResultFormat | undefined => {
  const f = typeof v === 'string' ? v.toUpperCase() : undefined;
  return f === 'ARROW' ? 'arrow' : f === 'JSON' ? 'json' : undefined;
};

/** The driver and result format of a session opened by a login-request's `data`. */
export function loginResultFormat(login: Record<string, unknown>): Pick<SfSession, 'client' | 'resultFormat'> {
  const client = typeof login.CLIENT_APP_ID === 'string' ? login.CLIENT_APP_ID.slice(0, 40) : undefined;
  const driver = client ? DRIVERS[client] : undefined;
  if (!driver) return { client, resultFormat: 'json' };
  const params = login.SESSION_PARAMETERS && typeof login.SESSION_PARAMETERS === 'object' ? (login.SESSION_PARAMETERS as Record<string, unknown>) : {};
  // Drivers send parameter names as their users wrote them: match without case.
  const asked = Object.entries(params).find(([k]) => k.toUpperCase() === driver.parameter)?.[1];
  return { client, resultFormat: asFormat(asked) ?? driver.fallback };
}

/** What a session's format is read from (`settings`: its ALTER SESSION parameters, when it has any). */
export type FormatOf = Pick<SfSession, 'client' | 'resultFormat'> & { settings?: Record<string, string> };

/** The format of a session's next result: its driver's parameter as ALTER SESSION left it, else as the login chose. */
export function resultFormat(s: FormatOf): ResultFormat {
  const driver = s.client ? DRIVERS[s.client] : undefined;
  const set = driver && s.settings ? Object.entries(s.settings).find(([k]) => k.toUpperCase() === driver.parameter)?.[1] : undefined;
  return asFormat(set) ?? s.resultFormat ?? 'json';
}
