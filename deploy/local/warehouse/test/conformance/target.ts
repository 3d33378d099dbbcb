/**
 * The driver conformance suite's target: any endpoint that speaks the Snowflake driver protocol
 * (the local warehouse, or the phigate gateway's Snowflake door). The same target is handed to the
 * Node suite, the Python script and the JDBC program.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Target {
  /** `warehouse`: the local warehouse directly; `gateway`: phigate's Snowflake door (enables the gateway-only cases). */
  kind: 'warehouse' | 'gateway';
  host: string;
  port: number;
  protocol: 'http' | 'https';
  account: string;
  /** OAuth access token (a fresh one per connection), or user + password. */
  auth: { kind: 'oauth'; token: () => Promise<string> } | { kind: 'password'; user: string; password: string };
  role?: string;
  database: string;
  schema: string;
  /** The gateway-only cases (a target of kind `gateway` without them skips them). */
  gateway?: GatewayCases;
}

/**
 * What the gateway-only cases run. The clients execute these statements and compare the rows; the
 * caller does what only it can: approve the held statement while the client waits on it.
 */
export interface GatewayCases {
  /** A statement policy masks a column of, run on the main connection, and its expected rows. */
  masked?: { sql: string; rows: unknown[][] };
  /**
   * A statement policy holds for approval, run on a second connection with `token` (the identity
   * whose statements need approval). `approve()` is called once the client has started; it finds
   * the pending approval and approves it, while the client just waits on its normal execute call.
   * `queryTag`: the QUERY_TAG that connection sets (ALTER SESSION), e.g. a purpose of use
   * (`purpose=…`) the identity's binding requires.
   */
  held?: { token: () => Promise<string>; queryTag?: string; sql: string; rows: unknown[][]; approve: () => Promise<void> };
}

/** The cases every driver runs (conformance/cases.json). */
export interface Cases {
  typedSelect: { sql: string; types: Record<string, string>; expected: Record<string, unknown> };
  scratchTable: string;
  deniedSql: string;
  ungrantedSql: string;
  largeSql: string;
  largeMinRows: number;
}

export const CASES_FILE = fileURLToPath(new URL('../../../conformance/cases.json', import.meta.url));

export function loadCases(): Cases {
  return JSON.parse(readFileSync(CASES_FILE, 'utf8')) as Cases;
}

/** A plain description of the target for the Python and JDBC clients (with a token already fetched). */
export async function describeTarget(t: Target): Promise<Record<string, unknown>> {
  return {
    kind: t.kind,
    host: t.host,
    port: t.port,
    protocol: t.protocol,
    account: t.account,
    database: t.database,
    schema: t.schema,
    ...(t.role ? { role: t.role } : {}),
    ...(t.auth.kind === 'oauth'
      ? { authenticator: 'oauth', token: await t.auth.token() }
      : { authenticator: 'snowflake', user: t.auth.user, password: t.auth.password }),
    casesFile: CASES_FILE,
    ...(t.gateway
      ? {
          gateway: {
            ...(t.gateway.masked ? { masked: t.gateway.masked } : {}),
            ...(t.gateway.held
              ? {
                  held: {
                    sql: t.gateway.held.sql,
                    rows: t.gateway.held.rows,
                    token: await t.gateway.held.token(),
                    ...(t.gateway.held.queryTag ? { queryTag: t.gateway.held.queryTag } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

/** Reasons the gateway-only cases are skipped against the warehouse. */
export const GATEWAY_ONLY = {
  heldQuery: 'held query completes after approval: only the phigate gateway holds queries for approval',
  maskedColumn: 'masked column: only the phigate gateway masks result columns',
} as const;
