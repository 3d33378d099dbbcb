// What a function or operator does with the values it is given, for inference channels (see
// docs/policies.md, "Inference channels"). A masked column may reach a result only through its own
// masked projection: anything that lets its value shape the number, order or failure of rows, the
// time a statement takes, or a value that is not masked with it, is a flow policy refuses. The
// lists are deliberately small: a function not named here is assumed to be able to raise on some
// input value (an `error` flow), which is only ever refused for masked columns.

/**
 * Functions that never raise, whatever values they are given, and cost about the same for every
 * value. Their result carries their arguments' lineage (and is masked as a computed column).
 */
export const TOTAL_FUNCTIONS: ReadonlySet<string> = new Set([
  'upper',
  'lower',
  'initcap',
  'length',
  'len',
  'char_length',
  'character_length',
  'octet_length',
  'bit_length',
  'md5',
  'sha1',
  'sha2',
  'sha256',
  'hash',
  'concat',
  'concat_ws',
  'btrim',
  'ltrim',
  'rtrim',
  'trim',
  'replace',
  'reverse',
  'strpos',
  'position',
  'charindex',
  'starts_with',
  'startswith',
  'endswith',
  'contains',
  'count',
  'min',
  'max',
  'any_value',
  'string_agg',
  'listagg',
  'array_agg',
  'json_agg',
  'jsonb_agg',
  'object_construct',
  'object_construct_keep_null',
  'array_construct',
  'to_json',
  'to_jsonb',
  'row_to_json',
  'json_build_object',
  'json_build_array',
  'jsonb_build_object',
  'jsonb_build_array',
  'coalesce',
  'nvl',
  'ifnull',
  'greatest',
  'least',
  'row_number',
  'rank',
  'dense_rank',
  'percent_rank',
  'cume_dist',
  'lag',
  'lead',
  'first_value',
  'last_value',
  'nth_value',
  'now',
  'current_date',
  'current_time',
  'current_timestamp',
  'localtime',
  'localtimestamp',
  'current_user',
  'session_user',
  'current_role',
  'current_schema',
  'current_database',
  'quote_ident',
  'quote_literal',
  'quote_nullable',
  'format_type',
  'pg_typeof',
  'num_nonnulls',
  'num_nulls',
]);

/**
 * Functions total in their first argument only: the others are positions, lengths or offsets, and
 * a value there can make them raise (negative length) or cost more (a huge repeat count).
 */
export const FIRST_ARGUMENT_TOTAL: ReadonlySet<string> = new Set([
  'substr',
  'substring',
  'left',
  'right',
  'lpad',
  'rpad',
  'repeat',
  'split_part',
  'lag',
  'lead',
  'nth_value',
  'to_char',
  'to_varchar',
]);

/** Functions whose arguments decide how many rows come out (set-returning and table functions). */
export const ROW_FUNCTIONS: ReadonlySet<string> = new Set([
  'generate_series',
  'generate_subscripts',
  'unnest',
  'regexp_split_to_table',
  'regexp_matches',
  'string_to_table',
  'json_array_elements',
  'json_array_elements_text',
  'jsonb_array_elements',
  'jsonb_array_elements_text',
  'json_each',
  'json_each_text',
  'jsonb_each',
  'jsonb_each_text',
  'json_object_keys',
  'jsonb_object_keys',
  'jsonb_path_query',
  'json_to_recordset',
  'jsonb_to_recordset',
  'json_populate_recordset',
  'jsonb_populate_recordset',
  'flatten',
  'split_to_table',
  'strtok_split_to_table',
  'generator',
  'range',
]);

/** Functions whose arguments decide how long the statement takes. */
export const DELAY_FUNCTIONS: ReadonlySet<string> = new Set(['pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'system$wait', 'sleep']);

/** Functions with side effects: their arguments land where they are not masked (settings, notifications, sequences, locks). */
export const SIDE_EFFECT_FUNCTIONS: ReadonlySet<string> = new Set([
  'set_config',
  'pg_notify',
  'nextval',
  'setval',
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
  'pg_advisory_xact_lock',
  'pg_try_advisory_xact_lock',
  'pg_advisory_unlock',
  'pg_logical_emit_message',
  'system$set_return_value',
  'system$log',
  'system$log_info',
  'system$log_warn',
  'system$log_error',
]);

/** Types a cast to never fails on (every value has a text form). */
export const TEXT_TYPES: ReadonlySet<string> = new Set([
  'text',
  'varchar',
  'bpchar',
  'char',
  'character',
  'name',
  'string',
  'character varying',
  'nvarchar',
  'nchar',
]);

/** Operators that never raise and are strict (NULL in, NULL out), so their result tells no more than their operands' projection. */
export const TOTAL_OPERATORS: ReadonlySet<string> = new Set([
  '=',
  '<>',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '||',
  // JSON access and containment: a missing key or a non-object is NULL or false, never an error.
  '->',
  '->>',
  '#>',
  '#>>',
  '?',
  '?|',
  '?&',
  '@>',
  '<@',
]);

/** Pattern operators: total on the value side, able to raise on the pattern side (an invalid pattern or escape). */
export const PATTERN_OPERATORS: ReadonlySet<string> = new Set(['~', '~*', '!~', '!~*', '~~', '~~*', '!~~', '!~~*', 'rlike', 'regexp', 'like', 'ilike']);

/**
 * PostgreSQL functions that run SQL given as text, or read a whole table, schema or database by
 * name (`query_to_xml('select ssn …')`, `table_to_xml('patients', …)`, `ts_stat('select …')`): what
 * they read is invisible to analysis, so a statement calling one is not understood (fail closed).
 * (dblink and its kin reach other servers: the guardrail policy names them.)
 */
export const DYNAMIC_SQL_FUNCTIONS: ReadonlySet<string> = new Set([
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  'ts_rewrite',
]);

/** The channel and construct for a function's arguments, by argument position; undefined: total. */
export function functionFlow(name: string, position: number): { channel: 'rows' | 'delay' | 'value' | 'error'; via: string } | undefined {
  const short = name.toLowerCase().split('.').at(-1)!;
  if (ROW_FUNCTIONS.has(short)) return { channel: 'rows', via: short };
  if (DELAY_FUNCTIONS.has(short)) return { channel: 'delay', via: short };
  if (SIDE_EFFECT_FUNCTIONS.has(short)) return { channel: 'value', via: short };
  // TRY_CAST, TRY_TO_DATE …: NULL instead of an error, so whether the result is NULL depends on the
  // value, and masking leaves NULL visible. Their other arguments (a format) can still raise.
  if (short.startsWith('try_')) return position === 0 ? { channel: 'value', via: short } : { channel: 'error', via: short };
  if (FIRST_ARGUMENT_TOTAL.has(short)) return position === 0 ? undefined : { channel: 'error', via: short };
  if (TOTAL_FUNCTIONS.has(short)) return undefined;
  return { channel: 'error', via: short };
}
