// The session statements real PostgreSQL clients send on their own (on connect, on pool release,
// around transactions): SET, RESET, SHOW, DISCARD, DEALLOCATE, CLOSE ALL, UNLISTEN *, and
// pg_advisory_unlock_all(). The door answers them itself. Upstream sessions are pooled per role and
// shared between clients, so a client's settings are the door's to keep: those that shape what the
// upstream returns (time zone, date and interval styles, timeouts, bytea output) are applied to
// whichever upstream session runs the client's next statement; the rest only shape the wire.
//
// Only the settings below may change. Anything else (role, session_authorization, search_path to
// another schema, settings of the server) is not a session statement here: it goes to policy like
// any statement, and the guardrails refuse it; the door then says which setting and why.
import { UPSTREAM_SESSION_SETTINGS } from '../../domain/ports.js';

/** A setting a client may change: applied upstream when UPSTREAM_SESSION_SETTINGS names it, else kept for the wire only. */
interface SettingSpec {
  /** The name PostgreSQL reports (ParameterStatus, SHOW's column). */
  canonical: string;
  /** Values accepted, as PostgreSQL would spell them after SET (checked again upstream when applied there). */
  valid: (v: string) => boolean;
  /** Reported to the client in a ParameterStatus when it changes (PostgreSQL's GUC_REPORT). */
  report?: boolean;
}

const DURATION = /^\d{1,9}\s*(us|ms|s|min|h|d)?$/i;

const SETTINGS: Readonly<Record<string, SettingSpec>> = {
  timezone: { canonical: 'TimeZone', valid: (v) => /^[A-Za-z0-9_+\-/:. ]{1,64}$/.test(v), report: true },
  datestyle: { canonical: 'DateStyle', valid: (v) => /^[A-Za-z]+(, ?[A-Za-z]+)?$/.test(v), report: true },
  intervalstyle: { canonical: 'IntervalStyle', valid: (v) => /^(postgres|postgres_verbose|sql_standard|iso_8601)$/i.test(v), report: true },
  statement_timeout: { canonical: 'statement_timeout', valid: (v) => DURATION.test(v) },
  lock_timeout: { canonical: 'lock_timeout', valid: (v) => DURATION.test(v) },
  idle_in_transaction_session_timeout: { canonical: 'idle_in_transaction_session_timeout', valid: (v) => DURATION.test(v) },
  bytea_output: { canonical: 'bytea_output', valid: (v) => /^(hex|escape)$/i.test(v) },
  application_name: { canonical: 'application_name', valid: (v) => v.length <= 64 && !/[\0\n]/.test(v), report: true },
  // PostgreSQL 12+ prints floats exactly whatever this says; drivers still send it.
  extra_float_digits: { canonical: 'extra_float_digits', valid: (v) => /^-?\d+$/.test(v) && Number(v) >= -15 && Number(v) <= 3 },
  client_encoding: { canonical: 'client_encoding', valid: (v) => /^(utf-?8|unicode)$/i.test(v), report: true },
  standard_conforming_strings: { canonical: 'standard_conforming_strings', valid: (v) => /^on$/i.test(v), report: true },
  // The purpose of use (phigate's own, never sent upstream): the door checks it against the
  // identity's binding when it is set, and every statement carries it to policy and the audit trail.
  'phigate.purpose': { canonical: 'phigate.purpose', valid: (v) => v.length <= 64 && !/[\0\n]/.test(v) },
};

/** Read-only settings SHOW answers (from the upstream), besides the settable ones. */
export const SHOWABLE = new Set([
  ...Object.keys(SETTINGS),
  'search_path',
  'server_version',
  'server_version_num',
  'server_encoding',
  'integer_datetimes',
  'max_identifier_length',
  'transaction_isolation',
  'transaction_read_only',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'lc_collate',
  'lc_ctype',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'is_superuser',
]);

/** The canonical name PostgreSQL reports for a setting (as the client may spell it in any case). */
export function canonicalName(name: string): string {
  return SETTINGS[name.toLowerCase()]?.canonical ?? name.toLowerCase();
}

export type SessionCommand =
  | { kind: 'set'; name: string; value: string; local?: boolean }
  | { kind: 'reset'; name?: string; local?: boolean }
  | { kind: 'show'; name: string }
  | { kind: 'discard' }
  | { kind: 'deallocate'; name?: string }
  | { kind: 'close_all' }
  | { kind: 'unlisten' }
  | { kind: 'unlock_all' };

type Node = Record<string, unknown>;
const obj = (v: unknown): Node | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : undefined);

/** A constant argument of SET as PostgreSQL prints it: strings as they are, numbers as digits. */
function constant(arg: unknown): string | undefined {
  const c = obj(obj(arg)?.A_Const);
  if (!c) return undefined;
  const s = obj(c.sval)?.sval;
  if (typeof s === 'string') return s;
  if (obj(c.ival)) return String(obj(c.ival)?.ival ?? 0);
  return undefined;
}

/**
 * The session command a parsed statement is, if it is one the door answers itself. `search_path`
 * is accepted only as the connection's default schema (`defaultSchema`): the analyser resolves
 * unqualified names there, so another path would make it judge different tables than run.
 */
export function sessionCommand(type: string, body: Node, defaultSchema: string): SessionCommand | undefined {
  switch (type) {
    case 'VariableSetStmt': {
      // SET LOCAL: the same settings, until the transaction ends.
      const local = body.is_local ? { local: true } : {};
      const name = String(body.name ?? '').toLowerCase();
      if (body.kind === 'VAR_RESET_ALL') return { kind: 'reset' };
      if (body.kind === 'VAR_RESET' || body.kind === 'VAR_SET_DEFAULT')
        return SETTINGS[name] || name === 'search_path' ? { kind: 'reset', name: canonicalName(name), ...local } : undefined;
      if (body.kind !== 'VAR_SET_VALUE') return undefined;
      const args = Array.isArray(body.args) ? body.args.map(constant) : [];
      if (!args.length || args.some((a) => a === undefined)) return undefined;
      const value = (args as string[]).join(', ');
      if (name === 'search_path') {
        const schemas = (args as string[]).filter((a) => a !== '$user');
        return schemas.length === 1 && schemas[0] === defaultSchema ? { kind: 'set', name, value, ...local } : undefined;
      }
      const spec = SETTINGS[name];
      return spec?.valid(value) ? { kind: 'set', name: spec.canonical, value, ...local } : undefined;
    }
    case 'VariableShowStmt': {
      const name = String(body.name ?? '').toLowerCase();
      return SHOWABLE.has(name) ? { kind: 'show', name: canonicalName(name) } : undefined;
    }
    case 'DiscardStmt':
      return { kind: 'discard' };
    case 'DeallocateStmt':
      return body.isall ? { kind: 'deallocate' } : { kind: 'deallocate', name: String(body.name ?? '') };
    case 'ClosePortalStmt':
      // CLOSE ALL: no cursors outlive their transaction here. (CLOSE name is a cursor's.)
      return body.portalname === undefined ? { kind: 'close_all' } : undefined;
    case 'UnlistenStmt':
      return body.conditionname === undefined ? { kind: 'unlisten' } : undefined;
    case 'SelectStmt':
      return isUnlockAll(body) ? { kind: 'unlock_all' } : undefined;
    default:
      return undefined;
  }
}

/** `SELECT pg_advisory_unlock_all()` alone: no advisory lock can be taken through the door, so there is none to release. */
function isUnlockAll(body: Node): boolean {
  const targets = Array.isArray(body.targetList) ? body.targetList : [];
  if (targets.length !== 1 || body.fromClause || body.whereClause) return false;
  const fn = obj(obj(obj(obj(targets[0])?.ResTarget)?.val)?.FuncCall);
  const names = Array.isArray(fn?.funcname) ? fn.funcname.map((n) => String(obj(obj(n)?.String)?.sval ?? '')) : [];
  return !fn?.args && names.at(-1) === 'pg_advisory_unlock_all' && (names.length === 1 || names[0] === 'pg_catalog');
}

/**
 * A setting a client sent in its startup packet (pgjdbc sends TimeZone, DateStyle and
 * extra_float_digits): taken as a SET would be; anything not allowed is not taken.
 */
export function startupSetting(name: string, value: string, defaultSchema: string): { name: string; value: string } | undefined {
  const key = name.toLowerCase();
  if (key === 'search_path') {
    const schemas = value
      .split(',')
      .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
      .filter((s) => s !== '$user');
    return schemas.length === 1 && schemas[0] === defaultSchema ? { name: 'search_path', value } : undefined;
  }
  const spec = SETTINGS[key];
  return spec?.valid(value) ? { name: spec.canonical, value } : undefined;
}

/**
 * The settings in a startup packet's `options` (libpq's `options=-c name=value`, PGOPTIONS):
 * `-c name=value`, `-cname=value` and `--name=value`, with `\ ` for a space inside a value.
 * `undefined` when it holds anything else (a server command-line switch).
 */
export function startupOptions(options: string): Array<[string, string]> | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\' && i + 1 < options.length) {
      word += options[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const pair = w === '-c' ? words[++i] : w.startsWith('--') ? w.slice(2) : w.startsWith('-c') ? w.slice(2) : undefined;
    const eq = pair?.indexOf('=') ?? -1;
    if (!pair || eq <= 0) return undefined;
    out.push([pair.slice(0, eq).replace(/-/g, '_'), pair.slice(eq + 1)]);
  }
  return out;
}

/** Whether a setting is applied upstream (the rest only shape the wire). */
export const appliedUpstream = (canonical: string): boolean => UPSTREAM_SESSION_SETTINGS.includes(canonical);
/** Whether a change of the setting is reported to the client (ParameterStatus). */
export const reported = (canonical: string): boolean => SETTINGS[canonical.toLowerCase()]?.report === true;

/** The settings the door accepts, for messages. */
export const SETTABLE = Object.values(SETTINGS)
  .map((s) => s.canonical)
  .concat('search_path (the default schema only)');

/** The settings of `all` that are applied upstream. */
export function upstreamSettings(all: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of all) if (appliedUpstream(k)) out[k] = v;
  return out;
}

/**
 * A client's session settings as the door keeps them (canonical name → value), with PostgreSQL's
 * transaction semantics: a rollback undoes the transaction's SETs, a commit its SET LOCALs. Pure
 * state: applying them upstream and announcing them is the connection's.
 */
export class ClientSettings {
  private current = new Map<string, string>();
  /** The settings when the transaction began: a rollback returns to them. */
  private atBegin: Map<string, string> | undefined;
  /** Settings changed by SET LOCAL in this transaction, and the value each has once it commits. */
  private locals = new Map<string, string | undefined>();

  get values(): ReadonlyMap<string, string> {
    return this.current;
  }

  /** The settings after a SET or RESET (not yet adopted: the upstream may still refuse them). */
  after(cmd: Extract<SessionCommand, { kind: 'set' | 'reset' }>): Map<string, string> {
    const next = new Map(this.current);
    if (cmd.kind === 'set') next.set(cmd.name, cmd.value);
    else if (cmd.name) next.delete(cmd.name);
    else next.clear();
    return next;
  }

  /**
   * Makes `next` current. `cmd`: the SET or RESET that produced it, in a transaction; what each of
   * its settings becomes at commit is noted (a SET LOCAL keeps the value from before it, a later
   * plain SET replaces that).
   */
  adopt(next: Map<string, string>, cmd?: Extract<SessionCommand, { kind: 'set' | 'reset' }>): void {
    if (cmd && this.atBegin) {
      for (const name of cmd.name ? [cmd.name] : [...this.current.keys()]) {
        if (cmd.local) {
          if (!this.locals.has(name)) this.locals.set(name, this.current.get(name));
        } else if (this.locals.has(name)) this.locals.set(name, cmd.kind === 'set' ? cmd.value : undefined);
      }
    }
    this.current = next;
  }

  beginTransaction(): void {
    this.atBegin = new Map(this.current);
    this.locals = new Map();
  }

  /** The settings once the transaction ends (adopt them); `undefined` when nothing changes. */
  endTransaction(how: 'COMMIT' | 'ROLLBACK'): Map<string, string> | undefined {
    const atBegin = this.atBegin;
    const locals = this.locals;
    this.atBegin = undefined;
    this.locals = new Map();
    if (how === 'ROLLBACK') return atBegin;
    if (!locals.size) return undefined;
    const next = new Map(this.current);
    for (const [name, value] of locals) value === undefined ? next.delete(name) : next.set(name, value);
    return next;
  }
}
