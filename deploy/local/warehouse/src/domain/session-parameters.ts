// The session parameters the local warehouse applies itself. Snowflake keeps many per session; the
// stand-in follows only those that change what a statement means to it: QUOTED_IDENTIFIERS_IGNORE_CASE
// (how quoted names resolve). The others (QUERY_TAG, TIMEZONE, output formats …) are accepted and
// have no effect here: the gateway renders results with them.

/**
 * What an `ALTER SESSION SET|UNSET …` statement does to QUOTED_IDENTIFIERS_IGNORE_CASE: its new
 * value, `null` when it is unset (back to the default, FALSE), undefined when it is not named.
 * String literals are blanked first, so a QUERY_TAG naming the parameter does not count.
 */
export function quotedIgnoreCaseChange(sql: string): boolean | null | undefined {
  const text = sql.replace(/'(?:[^'\\]|\\.|'')*'/g, "''");
  const m = /^\s*ALTER\s+SESSION\s+(SET|UNSET)\b([\s\S]*)$/i.exec(text);
  if (!m) return undefined;
  if (m[1]!.toUpperCase() === 'UNSET') return /\bQUOTED_IDENTIFIERS_IGNORE_CASE\b/i.test(m[2]!) ? null : undefined;
  const set = /\bQUOTED_IDENTIFIERS_IGNORE_CASE\s*=\s*(TRUE|FALSE)\b/i.exec(m[2]!);
  return set ? set[1]!.toUpperCase() === 'TRUE' : undefined;
}
