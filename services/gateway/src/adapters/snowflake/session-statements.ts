// The statements of a Snowflake session that are not data access, which the door answers itself
// (never sent to policy): transaction control (BEGIN / START TRANSACTION / COMMIT / ROLLBACK),
// `ALTER SESSION SET|UNSET` of an allow-list of parameters, and `USE …`. Pure: a statement's text in,
// what it asks for out (or undefined: any other statement, which goes through the query lifecycle).
// A session statement the door does not allow is a registered refusal naming what it does allow.
import { AppError } from '@phigate/errors';
import type { AnalysisOptions } from '@phigate/sql';

/** How a parameter's value is read from the statement and written to the upstream's ALTER SESSION. */
type ValueKind = 'bool' | 'int' | 'string' | 'timezone' | 'enum';

interface ParameterSpec {
  kind: ValueKind;
  /** Applied to the upstream session that runs the client's statements (else the door's alone). */
  upstream: boolean;
  /** Values the door accepts, when narrower than the kind's (upper-case text). */
  only?: readonly string[];
  /** Snowflake's default (what SHOW PARAMETERS and UNSET come back to). */
  default: string;
}

/**
 * The ALTER SESSION allow-list. AUTOCOMMIT is the door's (it opens and ends the client's transaction
 * on a pinned upstream session); QUOTED_IDENTIFIERS_IGNORE_CASE changes how names resolve, so it is
 * applied upstream and the gateway's analyser resolves the session's statements the same way; the
 * rest shape results and are applied to the upstream session.
 */
export const SESSION_PARAMETERS: Readonly<Record<string, ParameterSpec>> = {
  AUTOCOMMIT: { kind: 'bool', upstream: false, default: 'true' },
  QUOTED_IDENTIFIERS_IGNORE_CASE: { kind: 'bool', upstream: true, default: 'false' },
  QUERY_TAG: { kind: 'string', upstream: true, default: '' },
  TIMEZONE: { kind: 'timezone', upstream: true, default: 'Etc/UTC' },
  STATEMENT_TIMEOUT_IN_SECONDS: { kind: 'int', upstream: true, default: '172800' },
  DATE_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: 'YYYY-MM-DD' },
  DATE_INPUT_FORMAT: { kind: 'string', upstream: true, default: 'AUTO' },
  TIME_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: 'HH24:MI:SS' },
  TIME_INPUT_FORMAT: { kind: 'string', upstream: true, default: 'AUTO' },
  TIMESTAMP_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM' },
  TIMESTAMP_NTZ_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: 'YYYY-MM-DD HH24:MI:SS.FF3' },
  TIMESTAMP_LTZ_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: '' },
  TIMESTAMP_TZ_OUTPUT_FORMAT: { kind: 'string', upstream: true, default: '' },
  TIMESTAMP_INPUT_FORMAT: { kind: 'string', upstream: true, default: 'AUTO' },
  BINARY_OUTPUT_FORMAT: { kind: 'enum', upstream: true, only: ['HEX', 'BASE64'], default: 'HEX' },
  BINARY_INPUT_FORMAT: { kind: 'enum', upstream: true, only: ['HEX', 'BASE64', 'UTF-8', 'UTF8'], default: 'HEX' },
  // The Python connector's own setting (its chunk downloader), sent as ALTER SESSION: kept, not applied upstream.
  CLIENT_PREFETCH_THREADS: { kind: 'int', upstream: false, default: '4' },
  // The result format the door answers a driver in (result-format.ts reads them from the session's settings).
  PYTHON_CONNECTOR_QUERY_RESULT_FORMAT: { kind: 'enum', upstream: false, only: ['ARROW', 'JSON'], default: 'ARROW' },
  JDBC_QUERY_RESULT_FORMAT: { kind: 'enum', upstream: false, only: ['ARROW', 'JSON'], default: 'ARROW' },
  GO_QUERY_RESULT_FORMAT: { kind: 'enum', upstream: false, only: ['ARROW', 'JSON'], default: 'ARROW' },
};

const ALLOWED = Object.keys(SESSION_PARAMETERS).join(', ');

/** What a session statement asks for. Parameter values are normalised text (booleans `true`/`false`). */
export type SessionStatement =
  | { kind: 'begin' }
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'set'; values: Readonly<Record<string, string>> }
  | { kind: 'unset'; names: readonly string[] }
  | { kind: 'use'; object: 'ROLE' | 'SECONDARY ROLES' | 'WAREHOUSE' | 'DATABASE' | 'SCHEMA'; name: string; database?: string }
  | { kind: 'show-parameters'; like?: string };

/** The statement without comments and its trailing semicolon; string literals kept as written. */
function stripped(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\' && c === "'") j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (sql.startsWith('--', i) || sql.startsWith('//', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
      out += ' ';
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i++;
    }
  }
  return out.trim().replace(/;\s*$/, '').trim();
}

const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';

/** A name as Snowflake resolves it: unquoted folded to upper case, quoted as written. */
export function foldName(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name.toUpperCase();
}

/**
 * The session statement `sql` is, or undefined for any other statement. Throws
 * GATEWAY_SF_SESSION_PARAMETER_REFUSED for an ALTER SESSION the door does not allow.
 */
export function classifySession(sql: string): SessionStatement | undefined {
  const s = stripped(sql);
  if (/^(BEGIN(\s+(WORK|TRANSACTION))?|START\s+TRANSACTION)(\s+NAME\s+\S+)?$/i.test(s)) return { kind: 'begin' };
  if (/^COMMIT(\s+WORK)?$/i.test(s)) return { kind: 'commit' };
  if (/^ROLLBACK(\s+WORK)?$/i.test(s)) return { kind: 'rollback' };
  // SHOW PARAMETERS of the session (other levels: account, user, warehouse, … are not the door's).
  const show = /^SHOW\s+PARAMETERS(?:\s+LIKE\s+'((?:[^'\\]|\\.|'')*)')?(?:\s+IN\s+SESSION)?$/i.exec(s);
  if (show) return show[1] === undefined ? { kind: 'show-parameters' } : { kind: 'show-parameters', like: show[1].replace(/''/g, "'") };
  const alter = /^ALTER\s+SESSION(?:\s+(SET|UNSET)\b([\s\S]*))?$/i.exec(s);
  if (alter) return alterSession(alter[1]?.toUpperCase(), alter[2] ?? '');
  const use = new RegExp(`^USE(?:\\s+(ROLE|SECONDARY\\s+ROLES|WAREHOUSE|DATABASE|SCHEMA))?\\s+(${IDENT})(?:\\s*\\.\\s*(${IDENT}))?$`, 'i').exec(s);
  if (use) {
    const object = (use[1]?.toUpperCase().replace(/\s+/, ' ') ?? (use[3] ? 'SCHEMA' : 'DATABASE')) as Extract<SessionStatement, { kind: 'use' }>['object'];
    return use[3] ? { kind: 'use', object, database: foldName(use[2]!), name: foldName(use[3]) } : { kind: 'use', object, name: foldName(use[2]!) };
  }
  return undefined;
}

function refused(message: string, parameter?: string): AppError {
  return new AppError('GATEWAY_SF_SESSION_PARAMETER_REFUSED', { message, details: parameter ? { parameter } : {} });
}

/** Tokens of a SET/UNSET list: names, `=`, `,`, quoted strings and bare words or numbers. */
function tokens(text: string): string[] {
  const out: string[] = [];
  const re = /\s*('(?:[^'\\]|\\.|'')*'|=|,|[^\s=,']+)/y;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(m[1]!);
    at = re.lastIndex;
  }
  if (text.slice(at).trim()) throw refused('ALTER SESSION could not be read (an unterminated string?).');
  return out;
}

function alterSession(verb: string | undefined, rest: string): SessionStatement {
  if (!verb) throw refused(`ALTER SESSION needs SET or UNSET. The Snowflake door allows: ${ALLOWED}.`);
  const t = tokens(rest);
  if (verb === 'UNSET') {
    const names = t.filter((x) => x !== ',').map((x) => known(x.toUpperCase()));
    if (!names.length) throw refused(`ALTER SESSION UNSET names no parameter. The Snowflake door allows: ${ALLOWED}.`);
    return { kind: 'unset', names };
  }
  const values: Record<string, string> = {};
  for (let i = 0; i < t.length; ) {
    if (t[i] === ',') {
      i++;
      continue;
    }
    const name = known(t[i]!.toUpperCase());
    if (t[i + 1] !== '=' || t[i + 2] === undefined || t[i + 2] === ',' || t[i + 2] === '=')
      throw refused(`ALTER SESSION SET ${name} needs a value (${name} = <value>).`, name);
    values[name] = parameterValue(name, t[i + 2]!);
    i += 3;
  }
  if (!Object.keys(values).length) throw refused(`ALTER SESSION SET names no parameter. The Snowflake door allows: ${ALLOWED}.`);
  return { kind: 'set', values };
}

function known(name: string): string {
  if (!SESSION_PARAMETERS[name])
    throw refused(
      `Session parameter '${name.slice(0, 64)}' cannot be changed through phigate's Snowflake door. The parameters it allows: ${ALLOWED}.`,
      name.slice(0, 64),
    );
  return name;
}

/** A parameter's value, checked and normalised. */
function parameterValue(name: string, raw: string): string {
  const spec = SESSION_PARAMETERS[name]!;
  const quoted = raw.startsWith("'");
  const text = quoted ? raw.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1') : raw;
  const bad = (what: string) => refused(`Invalid value [${text.slice(0, 64)}] for parameter '${name}': ${what}.`, name);
  let value: string;
  switch (spec.kind) {
    case 'bool': {
      const b = text.toUpperCase();
      if (!['TRUE', 'FALSE', 'ON', 'OFF', '1', '0', 'YES', 'NO'].includes(b)) throw bad('a boolean (TRUE or FALSE) is expected');
      value = ['TRUE', 'ON', '1', 'YES'].includes(b) ? 'true' : 'false';
      break;
    }
    case 'int':
      if (!/^\d{1,9}$/.test(text)) throw bad('a whole number is expected');
      value = String(Number(text));
      break;
    case 'timezone':
      try {
        new Intl.DateTimeFormat('en', { timeZone: text });
      } catch {
        throw bad('an IANA time zone (such as America/New_York) is expected');
      }
      value = text;
      break;
    case 'enum':
      value = text.toUpperCase();
      break;
    default:
      if (text.length > 2000) throw bad('at most 2000 characters');
      value = text;
  }
  if (spec.only && !spec.only.includes(value.toUpperCase())) throw bad(`phigate's Snowflake door accepts only ${spec.only.join(' or ')}`);
  return value;
}

/**
 * The allow-listed parameters a login-request's SESSION_PARAMETERS sets (Python's
 * `connect(autocommit=False, session_parameters={…})`), checked as ALTER SESSION checks them; a
 * refused value refuses the login. Others are the drivers' own (CLIENT_…) or not the door's: ignored,
 * as they would be after login. Undefined when none is set.
 */
export function loginSettings(raw: unknown): Record<string, string> | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const name = k.toUpperCase();
    if (!SESSION_PARAMETERS[name] || v === null || v === undefined || typeof v === 'object') continue;
    out[name] = parameterValue(name, typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v));
  }
  return Object.keys(out).length ? out : undefined;
}

/** A parameter's value as a SQL literal for the upstream's ALTER SESSION. */
function literal(name: string, value: string): string {
  const kind = SESSION_PARAMETERS[name]?.kind;
  if (kind === 'bool' || kind === 'int') return value;
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The client's settings the upstream session must carry, as `name → SQL literal` (the Snowflake
 * upstream reconciles its pooled session to exactly these before each statement).
 */
export function upstreamSettings(settings: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings ?? {})) if (SESSION_PARAMETERS[k]?.upstream) out[k] = literal(k, v);
  return out;
}

/** SHOW PARAMETERS' rows for the allow-list (Snowflake's columns: key, value, default, level, description, type). */
export function parameterRows(settings: Readonly<Record<string, string>> | undefined, like?: string): string[][] {
  const pattern = like === undefined ? undefined : likePattern(like);
  return Object.entries(SESSION_PARAMETERS)
    .filter(([name]) => !pattern || pattern.test(name))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, spec]) => {
      const set = settings?.[name];
      const type = spec.kind === 'bool' ? 'BOOLEAN' : spec.kind === 'int' ? 'NUMBER' : 'STRING';
      return [
        name,
        set ?? spec.default,
        spec.default,
        set === undefined ? '' : 'SESSION',
        spec.upstream ? 'applied to the warehouse session' : "phigate's Snowflake door",
        type,
      ];
    });
}

/** Snowflake's LIKE in SHOW: case-insensitive, `%` any run, `_` one character. */
function likePattern(like: string): RegExp {
  const body = [...like].map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'i');
}

/** Whether the session runs each statement in an implicit transaction (AUTOCOMMIT off). */
export function autocommitOff(settings: Readonly<Record<string, string>> | undefined): boolean {
  return settings?.AUTOCOMMIT === 'false';
}

/** How the session's statements resolve names: what the analyser needs to read them as the upstream does. */
export function analysisOptions(settings: Readonly<Record<string, string>> | undefined): AnalysisOptions | undefined {
  return settings?.QUOTED_IDENTIFIERS_IGNORE_CASE === 'true' ? { quotedIdentifiersIgnoreCase: true } : undefined;
}

/**
 * A result's `parameters` with the session's values in place of the defaults (drivers read them
 * from every response: Python and JDBC update their AUTOCOMMIT, Node its time zone and formats).
 */
export function withSessionParameters(parameters: unknown, settings: Readonly<Record<string, string>> | undefined): Array<{ name: string; value: unknown }> {
  const list = Array.isArray(parameters) ? (parameters as Array<{ name: string; value: unknown }>).map((p) => ({ ...p })) : [];
  const put = (name: string, value: unknown) => {
    const at = list.find((p) => p.name === name);
    if (at) at.value = value;
    else list.push({ name, value });
  };
  put('AUTOCOMMIT', settings?.AUTOCOMMIT !== 'false');
  for (const [k, v] of Object.entries(settings ?? {})) {
    const spec = SESSION_PARAMETERS[k];
    if (!spec || k === 'AUTOCOMMIT') continue;
    put(k, spec.kind === 'bool' ? v === 'true' : spec.kind === 'int' ? Number(v) : v);
  }
  return list;
}

/**
 * The purpose of use in a QUERY_TAG: its `purpose=<purpose>` item (items separated by `,`, `;` or
 * spaces), so a tag can carry other labels too (`job=nightly,purpose=care-quality`). A tag
 * without one states no purpose.
 */
export function purposeOfQueryTag(tag: string | undefined): string | undefined {
  const m = tag ? /(?:^|[;,\s])purpose=([^;,\s]*)/i.exec(tag) : null;
  return m ? m[1] : undefined;
}
