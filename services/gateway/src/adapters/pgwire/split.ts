// Splits a simple-query string into its statements with PostgreSQL's own grammar (libpg-query), and
// says which ones the door itself handles (transaction control, session statements) or refuses (COPY).
import { parseSync } from 'libpg-query';
import { Lru } from '../../domain/lru.js';
import { type CopyOut, copyOutCommand } from './copy.js';
import { type CursorCommand, cursorCommand } from './cursors.js';
import { type SessionCommand, sessionCommand } from './session.js';

export type TxControl = 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback_to' | 'two_phase';

export interface SplitStatement {
  sql: string;
  /** What kind of statement the door must handle itself; absent: decided by policy and run upstream. */
  control?: TxControl;
  copy?: boolean;
  /** A session statement the door answers itself (session.ts): drivers send these on their own. */
  session?: SessionCommand;
  /** DECLARE … CURSOR, FETCH, MOVE, CLOSE name (cursors.ts). */
  cursor?: CursorCommand;
  /** COPY … TO STDOUT, served as a masked read (copy.ts); `copyError`: one it cannot serve, and why. */
  copyOut?: CopyOut;
  copyError?: string;
}

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

function classify(stmt: RawStmt['stmt'], defaultSchema: string, sql: string): Omit<SplitStatement, 'sql'> {
  const [type, body] = Object.entries(stmt)[0] ?? [];
  if (type === 'TransactionStmt') {
    // COMMIT AND CHAIN / ROLLBACK AND CHAIN open a new transaction at once: not supported here.
    if (body?.chain) return { control: 'two_phase' };
    return { control: TX_KINDS[body?.kind ?? ''] ?? 'two_phase' };
  }
  if (type === 'CopyStmt') {
    try {
      const out = copyOutCommand(body as Record<string, unknown>, sql);
      return out ? { copyOut: out } : { copy: true };
    } catch (err) {
      return { copyError: (err as Error).message };
    }
  }
  const session = type && body ? sessionCommand(type, body as Record<string, unknown>, defaultSchema) : undefined;
  if (session) return { session };
  const cursor = type && body ? cursorCommand(type, body as Record<string, unknown>, sql) : undefined;
  return cursor ? { cursor } : {};
}

/**
 * The statements of one query string, each with its own text (offsets from the parser are in
 * bytes). An input the grammar does not accept comes back whole, as one statement: policy then
 * refuses it as not understood, exactly as it would through any other door.
 */
export function splitStatements(sql: string, defaultSchema = 'public'): SplitStatement[] {
  let stmts: RawStmt[];
  try {
    stmts = (parseSync(sql) as unknown as { stmts: RawStmt[] }).stmts;
  } catch {
    return sql.trim() ? [{ sql }] : [];
  }
  if (stmts.length <= 1) return stmts.map((s) => ({ sql: sql.trim(), ...classify(s.stmt, defaultSchema, sql.trim()) }));
  const bytes = Buffer.from(sql, 'utf8');
  return stmts.map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    const text = bytes.toString('utf8', start, end).trim();
    return { sql: text, ...classify(s.stmt, defaultSchema, text) };
  });
}

type Classified = Omit<SplitStatement, 'sql'> & { empty: boolean; multiple: boolean };

// Drivers send the same statement text again and again (one Parse per execution for unnamed
// statements): classify each text once. The answer is a pure function of the text.
const classified = new Lru<string, Readonly<Classified>>(2000);

/** What one statement (an extended-protocol Parse) is, for the door. */
export function classifyStatement(sql: string, defaultSchema = 'public'): Readonly<Classified> {
  if (sql.length > 8192) return classifyUncached(sql, defaultSchema);
  const key = `${defaultSchema}\0${sql}`;
  let c = classified.get(key);
  if (!c) {
    c = Object.freeze(classifyUncached(sql, defaultSchema));
    classified.set(key, c);
  }
  return c;
}

function classifyUncached(sql: string, defaultSchema: string): Classified {
  if (!sql.trim()) return { empty: true, multiple: false };
  try {
    const stmts = (parseSync(sql) as unknown as { stmts: RawStmt[] }).stmts;
    return { empty: stmts.length === 0, multiple: stmts.length > 1, ...(stmts[0] ? classify(stmts[0].stmt, defaultSchema, sql.trim()) : {}) };
  } catch {
    return { empty: false, multiple: false };
  }
}
