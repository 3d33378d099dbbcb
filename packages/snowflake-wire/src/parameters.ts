/** One session parameter as login and query responses carry it. */
export interface Parameter {
  name: string;
  value: unknown;
}

/** Parameters every query response carries: Node builds its value converters only from these. */
export function formatParameters(timezone = 'Etc/UTC'): Parameter[] {
  return [
    { name: 'TIMEZONE', value: timezone },
    { name: 'DATE_OUTPUT_FORMAT', value: 'YYYY-MM-DD' },
    { name: 'TIME_OUTPUT_FORMAT', value: 'HH24:MI:SS' },
    { name: 'TIMESTAMP_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM' },
    { name: 'TIMESTAMP_NTZ_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3' },
    { name: 'TIMESTAMP_LTZ_OUTPUT_FORMAT', value: '' },
    { name: 'TIMESTAMP_TZ_OUTPUT_FORMAT', value: '' },
    { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
    { name: 'CLIENT_RESULT_CHUNK_SIZE', value: 16 },
  ];
}

/**
 * Login parameters. The *_QUERY_RESULT_FORMAT entries tell Python, JDBC and Go that results are
 * JSON (they would otherwise expect Arrow); an array-binding threshold of 0 keeps Python and JDBC
 * from uploading binds to a stage; telemetry off keeps the drivers from calling Snowflake.
 */
export function loginParameters(timezone = 'Etc/UTC'): Parameter[] {
  return [
    { name: 'AUTOCOMMIT', value: true },
    { name: 'CLIENT_SESSION_KEEP_ALIVE', value: false },
    { name: 'CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY', value: 3600 },
    { name: 'CLIENT_STAGE_ARRAY_BINDING_THRESHOLD', value: 0 },
    { name: 'CLIENT_PREFETCH_THREADS', value: 4 },
    { name: 'QUERY_CONTEXT_CACHE_SIZE', value: 5 },
    { name: 'JDBC_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'PYTHON_CONNECTOR_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'GO_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'ODBC_QUERY_RESULT_FORMAT', value: 'JSON' },
    { name: 'CLIENT_TELEMETRY_ENABLED', value: false },
    { name: 'CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED', value: false },
    ...formatParameters(timezone),
  ];
}
