import type { ErrorKind } from './kinds.js';

interface CodeSpec {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly retriable?: boolean;
}

/**
 * The one registry of error codes. Codes are `<SERVICE>_<AREA>_<DETAIL>`, stable, documented in
 * docs/errors.md (a test fails when they drift) and never reused for another meaning.
 */
export const CODES = {
  // Shared
  COMMON_CONFIG_INVALID: { kind: 'FAILED_PRECONDITION', message: 'configuration is invalid' },
  COMMON_INTERNAL: { kind: 'INTERNAL', message: 'internal error' },
  COMMON_NOT_FOUND: { kind: 'NOT_FOUND', message: 'not found' },
  COMMON_BAD_REQUEST: { kind: 'INVALID_ARGUMENT', message: 'the request is malformed' },
  COMMON_SHUTTING_DOWN: { kind: 'UNAVAILABLE', message: 'the service is shutting down', retriable: true },
  // Authentication (any service that validates access tokens)
  AUTH_TOKEN_MISSING: { kind: 'UNAUTHENTICATED', message: 'an access token is required (Authorization: Bearer <token>)' },
  AUTH_TOKEN_INVALID: { kind: 'UNAUTHENTICATED', message: 'the access token is invalid' },
  AUTH_TOKEN_EXPIRED: { kind: 'UNAUTHENTICATED', message: 'the access token has expired' },
  AUTH_ISSUER_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the identity provider cannot be reached to verify the token', retriable: true },
  AUTH_GROUP_REQUIRED: { kind: 'PERMISSION_DENIED', message: 'the caller is not in a group allowed to use this endpoint' },
  // Gateway
  GATEWAY_CONNECTION_UNKNOWN: { kind: 'PERMISSION_DENIED', message: 'no binding gives this identity access to the requested connection' },
  GATEWAY_SQL_TOO_LARGE: { kind: 'INVALID_ARGUMENT', message: 'the statement exceeds the maximum size' },
  GATEWAY_SQL_EMPTY: { kind: 'INVALID_ARGUMENT', message: 'the statement is empty' },
  GATEWAY_SQL_INVALID_TEXT: {
    kind: 'INVALID_ARGUMENT',
    message: 'the statement or a parameter contains a NUL character or text that is not valid Unicode (a lone surrogate)',
  },
  GATEWAY_SQL_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the database would reject the statement (a syntax error or an unknown relation); it was not run' },
  GATEWAY_POLICY_DENIED: { kind: 'PERMISSION_DENIED', message: 'the statement was denied by policy' },
  GATEWAY_APPROVAL_DENIED: { kind: 'PERMISSION_DENIED', message: 'an approver denied the held statement; it was not run' },
  GATEWAY_APPROVAL_EXPIRED: { kind: 'PERMISSION_DENIED', message: 'no approver answered before the approval expired; the statement was not run' },
  GATEWAY_APPROVAL_UNAVAILABLE: {
    kind: 'UNAVAILABLE',
    message: 'the statement requires approval, and the approval path (Redis or the approval service) is unavailable; it was not run',
    retriable: true,
  },
  GATEWAY_APPROVAL_CANCELLED: { kind: 'FAILED_PRECONDITION', message: 'the client cancelled the held statement; it will not run' },
  GATEWAY_APPROVAL_OUTCOME_UNKNOWN: {
    kind: 'INTERNAL',
    message: 'the gateway replica running the approved statement stopped before recording its outcome; it is not run again',
  },
  GATEWAY_POLICY_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the policy service is unavailable; the statement was not run', retriable: true },
  GATEWAY_MASKING_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the masking service is unavailable; no rows were released', retriable: true },
  GATEWAY_MASKING_FAILED: { kind: 'INTERNAL', message: 'masking failed; no rows were released' },
  GATEWAY_AUDIT_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the audit log cannot record this request; no rows were released', retriable: true },
  GATEWAY_UPSTREAM_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the upstream database is unavailable', retriable: true },
  GATEWAY_UPSTREAM_ERROR: { kind: 'FAILED_PRECONDITION', message: 'the upstream database rejected the statement' },
  GATEWAY_UPSTREAM_PERMISSION: { kind: 'PERMISSION_DENIED', message: 'the upstream role lacks the privilege for this statement' },
  GATEWAY_RESULT_TOO_LARGE: { kind: 'RESOURCE_EXHAUSTED', message: 'the result exceeds the maximum rows for this door' },
  GATEWAY_SEALING_KEY_MISSING: { kind: 'FAILED_PRECONDITION', message: 'the key that sealed this credential is not in the keyring' },
  GATEWAY_SEALED_CREDENTIAL_INVALID: { kind: 'INTERNAL', message: 'a sealed credential failed authentication and was not used' },
  GATEWAY_ADMIN_CONNECTION_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the connection definition is invalid' },
  GATEWAY_ADMIN_CONNECTION_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no such connection' },
  GATEWAY_REGISTRY_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the connection registry is unavailable', retriable: true },
  GATEWAY_RATE_LIMITED: {
    kind: 'RESOURCE_EXHAUSTED',
    message: "this identity's statement rate limit (its binding's, else the gateway default) is reached until the minute ends; the statement was not run",
    retriable: true,
  },
  GATEWAY_PURPOSE_REQUIRED: {
    kind: 'PERMISSION_DENIED',
    message: "this identity's binding requires a purpose of use; the statement was not run",
  },
  GATEWAY_PURPOSE_NOT_ALLOWED: {
    kind: 'PERMISSION_DENIED',
    message: "the stated purpose of use is not one this identity's binding allows; the statement was not run",
  },
  GATEWAY_RATE_LIMIT_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the rate limiter (Redis) is unavailable; the statement was not run', retriable: true },
  GATEWAY_BUDGET_EXCEEDED: {
    kind: 'RESOURCE_EXHAUSTED',
    message: "the result would exceed a PHI budget of this identity's binding; no rows were released",
    retriable: true,
  },
  GATEWAY_BUDGET_UNAVAILABLE: {
    kind: 'UNAVAILABLE',
    message: 'the PHI budget store (Redis) is unavailable; no rows were released',
    retriable: true,
  },
  GATEWAY_REQUEST_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no such request for this identity' },
  // Gateway: the Snowflake door (each also has the Snowflake error code a driver expects; see services/gateway/README.md)
  GATEWAY_SF_AUTHENTICATOR_UNSUPPORTED: {
    kind: 'UNAUTHENTICATED',
    message: 'the Snowflake door accepts only AUTHENTICATOR=OAUTH with an access token from the identity provider',
  },
  GATEWAY_SF_ACCOUNT_UNKNOWN: { kind: 'PERMISSION_DENIED', message: 'no such connection, or no binding gives this identity access to it' },
  GATEWAY_SF_ROLE_NOT_AUTHORIZED: { kind: 'PERMISSION_DENIED', message: 'the requested role is not the role this identity is bound to on this connection' },
  GATEWAY_SF_DATABASE_NOT_AUTHORIZED: {
    kind: 'PERMISSION_DENIED',
    message: "the database or schema named at login is not this connection's database or default schema",
  },
  GATEWAY_SF_SESSION_MISSING: { kind: 'UNAUTHENTICATED', message: 'the request carries no Snowflake session token' },
  GATEWAY_SF_SESSION_INVALID: { kind: 'UNAUTHENTICATED', message: 'the Snowflake session token is unknown or was closed; log in again' },
  GATEWAY_SF_SESSION_EXPIRED: { kind: 'UNAUTHENTICATED', message: 'the Snowflake session token has expired; renew it with the master token' },
  GATEWAY_SF_MASTER_EXPIRED: { kind: 'UNAUTHENTICATED', message: 'the Snowflake master token has expired; log in again' },
  GATEWAY_SF_SESSION_STORE_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the session store (Redis) is unavailable', retriable: true },
  GATEWAY_SF_REQUEST_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the Snowflake request is malformed' },
  GATEWAY_SF_BIND_UNSUPPORTED: { kind: 'INVALID_ARGUMENT', message: 'only positional bind values are supported (no array or stage binds)' },
  GATEWAY_SF_QUERY_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no such query in this session' },
  GATEWAY_SF_QUERY_CANCELED: { kind: 'FAILED_PRECONDITION', message: 'the statement was canceled by the client' },
  GATEWAY_SF_NOT_EXECUTING: { kind: 'FAILED_PRECONDITION', message: 'the identified statement is not currently executing' },
  GATEWAY_SF_CHUNK_FORBIDDEN: { kind: 'PERMISSION_DENIED', message: 'the result chunk URL or key is invalid or expired' },
  GATEWAY_SF_UPSTREAM_LOGIN_FAILED: { kind: 'UNAVAILABLE', message: 'the gateway could not log in to the Snowflake upstream', retriable: true },
  GATEWAY_SF_OBJECT_NOT_VISIBLE: { kind: 'NOT_FOUND', message: 'DESCRIBE of a table that does not exist or that policy does not let this identity read' },
  GATEWAY_SF_SESSION_PARAMETER_REFUSED: {
    kind: 'INVALID_ARGUMENT',
    message: 'ALTER SESSION of a parameter or value the Snowflake door does not allow (the message names those it does)',
  },
  GATEWAY_SF_USE_REFUSED: {
    kind: 'PERMISSION_DENIED',
    message: "USE of a warehouse, database or schema other than the connection's (names resolve in the connection's)",
  },
  GATEWAY_SF_TRANSACTION_ELSEWHERE: {
    kind: 'FAILED_PRECONDITION',
    message: "the session's open transaction is held by another gateway replica, or was lost when it stopped",
  },
  GATEWAY_SF_ROLE_CHANGE_REFUSED: {
    kind: 'PERMISSION_DENIED',
    message: "USE ROLE or USE SECONDARY ROLES: a session's role is the one its binding gives it on the connection",
  },
  // Gateway: the PostgreSQL wire door (each also has a SQLSTATE; see services/gateway/README.md)
  GATEWAY_PG_PROTOCOL_VIOLATION: { kind: 'INVALID_ARGUMENT', message: 'the client broke the PostgreSQL protocol; the connection is closed' },
  GATEWAY_PG_AUTH_FAILED: {
    kind: 'UNAUTHENTICATED',
    message: 'password authentication failed: the password must be a valid access token issued to the startup user',
  },
  GATEWAY_PG_TLS_REQUIRED: { kind: 'UNAUTHENTICATED', message: 'TLS is required to send a password from a non-loopback address (sslmode=require)' },
  GATEWAY_PG_TOO_MANY_CONNECTIONS: { kind: 'RESOURCE_EXHAUSTED', message: 'too many PostgreSQL connections to this gateway', retriable: true },
  GATEWAY_PG_UNSUPPORTED: { kind: 'FAILED_PRECONDITION', message: 'not supported by the PostgreSQL door' },
  GATEWAY_PG_SETTING_REFUSED: { kind: 'PERMISSION_DENIED', message: 'a startup option asks for a setting a client may not change through phigate' },
  GATEWAY_PG_NAME_UNKNOWN: { kind: 'NOT_FOUND', message: 'no such prepared statement or portal' },
  GATEWAY_PG_NAME_IN_USE: { kind: 'INVALID_ARGUMENT', message: 'a prepared statement or portal of that name already exists' },
  GATEWAY_PG_CURSOR_UNKNOWN: { kind: 'NOT_FOUND', message: 'the cursor does not exist' },
  GATEWAY_PG_TRANSACTION_BLOCK: { kind: 'FAILED_PRECONDITION', message: 'this statement cannot run inside a transaction block' },
  GATEWAY_PG_TRANSACTION_ABORTED: { kind: 'FAILED_PRECONDITION', message: 'current transaction is aborted, commands ignored until end of transaction block' },
  GATEWAY_PG_NO_TRANSACTION: { kind: 'FAILED_PRECONDITION', message: 'savepoints can only be used in transaction blocks' },
  GATEWAY_PG_APPROVAL_IN_TRANSACTION: {
    kind: 'FAILED_PRECONDITION',
    message: 'the statement needs approval, which cannot wait inside a transaction block; run it outside one',
  },
  GATEWAY_PG_RESULT_CHANGED: {
    kind: 'FAILED_PRECONDITION',
    message: 'the result no longer matches its earlier description (policy or schema changed); prepare the statement again',
  },
  GATEWAY_PG_QUERY_CANCELED: { kind: 'FAILED_PRECONDITION', message: 'canceling statement due to user request' },
  // Policy
  POLICY_REQUEST_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the evaluation request is malformed' },
  POLICY_FILE_INVALID: { kind: 'FAILED_PRECONDITION', message: 'the policy file is invalid' },
  // Masking
  MASKING_STREAM_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the mask stream is malformed' },
  MASKING_LEAK_BLOCKED: { kind: 'PERMISSION_DENIED', message: 'the leak canary found identifiers in a column policy left unmasked; no rows were released' },
  MASKING_KEY_MISSING: { kind: 'FAILED_PRECONDITION', message: 'no tokenisation key is configured' },
  MASKING_SHUTTING_DOWN: { kind: 'UNAVAILABLE', message: 'the masking service is shutting down; open a new stream', retriable: true },
  // Approval
  APPROVAL_SLACK_SIGNATURE_INVALID: { kind: 'UNAUTHENTICATED', message: 'the Slack request signature is invalid' },
  APPROVAL_INTERNAL_TOKEN_INVALID: { kind: 'UNAUTHENTICATED', message: 'the internal token is missing or wrong' },
  APPROVAL_REQUEST_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the approval request is malformed' },
  APPROVAL_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no such approval' },
  APPROVAL_VOTE_REFUSED: { kind: 'PERMISSION_DENIED', message: 'the vote was not counted (not an eligible approver, own request, or already decided)' },
  APPROVAL_STORE_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the approval store (Redis) is unavailable', retriable: true },
  APPROVAL_SLACK_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'Slack cannot be reached', retriable: true },
  // Audit
  AUDIT_STORE_UNAVAILABLE: { kind: 'UNAVAILABLE', message: 'the audit store is unavailable', retriable: true },
  AUDIT_REQUEST_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no events recorded for this request' },
  AUDIT_SESSION_NOT_FOUND: { kind: 'NOT_FOUND', message: 'no events recorded for this session' },
  AUDIT_QUERY_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the search, export or report parameters are invalid' },
  AUDIT_PURGE_REFUSED: {
    kind: 'FAILED_PRECONDITION',
    message: 'the audit store refused the purge (younger than its minimum retention, or no signed purge anchor)',
  },
  AUDIT_CHAIN_BROKEN: {
    kind: 'FAILED_PRECONDITION',
    message: 'the audit store does not verify: a record or checkpoint was changed, deleted, inserted or reordered',
  },
  // Bus
  BUS_PUBLISH_FAILED: { kind: 'UNAVAILABLE', message: 'events could not be published to Kafka', retriable: true },
  BUS_EVENT_INVALID: { kind: 'INVALID_ARGUMENT', message: 'the event does not match the schema' },
  // Local warehouse (deploy/local/warehouse, DEV ONLY)
  WAREHOUSE_SEED_FAILED: { kind: 'UNAVAILABLE', message: 'the local warehouse cannot copy the demo tables from PostgreSQL', retriable: true },
  WAREHOUSE_USERS_INVALID: { kind: 'FAILED_PRECONDITION', message: 'the local warehouse users file or its secret files are invalid' },
  WAREHOUSE_GRANTS_INVALID: { kind: 'FAILED_PRECONDITION', message: 'the local warehouse grants file is invalid' },
  BUS_OUTBOX_FULL: { kind: 'UNAVAILABLE', message: 'the local audit outbox is full while Kafka is unavailable; new events are refused', retriable: true },
  BUS_OUTBOX_IO: { kind: 'UNAVAILABLE', message: 'the local audit outbox cannot be written or synced to disk', retriable: true },
  BUS_OUTBOX_CORRUPT: { kind: 'INTERNAL', message: 'the local audit outbox holds a damaged record; nothing was dropped' },
} as const satisfies Record<string, CodeSpec>;

/** A registered error code. */
export type ErrorCode = keyof typeof CODES;
