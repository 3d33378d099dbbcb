// Splits a simple-query string into its statements with PostgreSQL's own grammar (libpg-query), and
// says which ones the door itself handles (transaction control) or refuses (COPY).
import { parseSync } from 'libpg-query';
import { Lru } from '../../domain/lru.js';

export type TxControl = 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback_to' | 'two_phase';

export interface SplitStatement {
  sql: string;
  /** What kind of statement the door must handle itself; absent: decided by policy and run upstream. */
  control?: TxControl;
  copy?: boolean;
  /** A client-side session setting the door answers itself (drivers send these on connect). */
  setting?: { name: string; value: string };
}

/**
 * Settings that only shape what the client sees, answered by the door without reaching the
 * upstream (pooled upstream sessions are shared): anything else is a statement like any other,
 * which policy decides (and the guardrails deny).
 */
const LOCAL_SETTINGS: Readonly<Record<string, (v: string) => boolean>> = {
  application_name: (v) => v.length <= 64,
  // PostgreSQL 12+ prints floats exactly whatever this says; drivers still send it.
  extra_float_digits: (v) => /^-?\d+$/.test(v) && Number(v) >= -15 && Number(v) <= 3,
  client_encoding: (v) => /^(utf-?8|unicode)$/i.test(v),
};

const TX_KINDS: Readonly<Record<string, TxControl>> = {
  TRANS_STMT_BEGIN: 'begin',
  TRANS_STMT_START: 'begin',
  TRANS_STMT_COMMIT: 'commit',
  TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_SAVEPOINT: 'savepoint',
  TRANS_STMT_RELEASE: 'release',
  TRANS_STMT_ROLLBACK_TO: 'rollback_to',
  TRANS_STMT_PREPARE: 'two_phase',
  TRANS_STMT_COMMIT_PREPARED: 'two_phase',
  TRANS_STMT_ROLLBACK_PREPARED: 'two_phase',
};

interface RawStmt {
  stmt: Record<string, { kind?: string; chain?: boolean; name?: string; is_local?: boolean; args?: unknown[] }>;
  stmt_location?: number;
  stmt_len?: number;
}

function classify(stmt: RawStmt['stmt']): Omit<SplitStatement, 'sql'> {
  const [type, body] = Object.entries(stmt)[0] ?? [];
  if (type === 'TransactionStmt') {
    // COMMIT AND CHAIN / ROLLBACK AND CHAIN open a new transaction at once: not supported here.
    if (body?.chain) return { control: 'two_phase' };
    return { control: TX_KINDS[body?.kind ?? ''] ?? 'two_phase' };
  }
  if (type === 'CopyStmt') return { copy: true };
  if (type === 'VariableSetStmt' && body?.kind === 'VAR_SET_VALUE' && !body.is_local && body.name && body.args?.length === 1) {
    const c = (body.args[0] as { A_Const?: { sval?: { sval?: string }; ival?: { ival?: number } } }).A_Const;
    const value = c?.sval?.sval ?? (c?.ival ? String(c.ival.ival ?? 0) : undefined);
    const ok = LOCAL_SETTINGS[body.name];
    if (value !== undefined && ok?.(value)) return { setting: { name: body.name, value } };
  }
  return {};
}

/**
 * The statements of one query string, each with its own text (offsets from the parser are in
 * bytes). An input the grammar does not accept comes back whole, as one statement: policy then
 * refuses it as not understood, exactly as it would through any other door.
 */
export function splitStatements(sql: string): SplitStatement[] {
  let stmts: RawStmt[];
  try {
    stmts = (parseSync(sql) as unknown as { stmts: RawStmt[] }).stmts;
  } catch {
    return sql.trim() ? [{ sql }] : [];
  }
  if (stmts.length <= 1) return stmts.map((s) => ({ sql: sql.trim(), ...classify(s.stmt) }));
  const bytes = Buffer.from(sql, 'utf8');
  return stmts.map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    return { sql: bytes.toString('utf8', start, end).trim(), ...classify(s.stmt) };
  });
}

type Classified = Omit<SplitStatement, 'sql'> & { empty: boolean; multiple: boolean };

// Drivers send the same statement text again and again (one Parse per execution for unnamed
// statements): classify each text once. The answer is a pure function of the text.
const classified = new Lru<string, Readonly<Classified>>(2000);

/** What one statement (an extended-protocol Parse) is, for the door. */
export function classifyStatement(sql: string): Readonly<Classified> {
  if (sql.length > 8192) return classifyUncached(sql);
  let c = classified.get(sql);
  if (!c) {
    c = Object.freeze(classifyUncached(sql));
    classified.set(sql, c);
  }
  return c;
}

function classifyUncached(sql: string): Classified {
  if (!sql.trim()) return { empty: true, multiple: false };
  try {
    const stmts = (parseSync(sql) as unknown as { stmts: RawStmt[] }).stmts;
    return { empty: stmts.length === 0, multiple: stmts.length > 1, ...(stmts[0] ? classify(stmts[0].stmt) : {}) };
  } catch {
    return { empty: false, multiple: false };
  }
}
