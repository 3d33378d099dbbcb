/**
 * Keeps the Snowflake drivers on loopback. snowflake-sdk (at import), the Python connector and the
 * JDBC driver (at login) otherwise probe cloud metadata endpoints (169.254.169.254,
 * metadata.google.internal) to report the platform they run on. Import this module before
 * `snowflake-sdk`: the Node driver reads the variable once, when it is loaded.
 */
export const DRIVER_ENV = { SNOWFLAKE_DISABLE_PLATFORM_DETECTION: 'true' } as const;

Object.assign(process.env, DRIVER_ENV);
