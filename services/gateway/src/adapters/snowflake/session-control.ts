// The Snowflake door's answers to session statements (session-statements.ts classifies them):
// transaction control on the session's pinned upstream session (transactions.ts), ALTER SESSION
// parameters kept with the door session in Redis (so every replica applies them), and USE checked
// against what the connection's binding gives the session. None of these reads data, so none goes
// to policy; each is answered as Snowflake answers it ("Statement executed successfully.").
import { randomUUID } from 'node:crypto';
import { AppError } from '@phigate/errors';
import { type ColumnType, type Envelope, ok, resultData, statementTypeId, textColumn } from '@phigate/snowflake-wire';
import type { Logger } from '@phigate/telemetry';
import type { UpstreamSession } from '../../domain/ports.js';
import { sessionInfo } from './login.js';
import { autocommitOff, classifySession, parameterRows, type SessionStatement, upstreamSettings, withSessionParameters } from './session-statements.js';
import type { SfSession, SfStore } from './store.js';
import type { SfTransactions } from './transactions.js';

export interface SessionControlDeps {
  store: Pick<SfStore, 'putSettings' | 'putTransaction' | 'putQuery'>;
  transactions: SfTransactions;
  /** This gateway replica (a session's open transaction is recorded as held here). */
  replica: string;
  /** The warehouse a connection's upstream runs on, when the connection names one. */
  warehouseOf?: (connection: string) => string | undefined;
  /** The connection's upstream type: only a Snowflake upstream takes the client's ALTER SESSION parameters. */
  typeOf?: (connection: string) => string | undefined;
  log: Logger;
}

export class SessionControl {
  constructor(private readonly d: SessionControlDeps) {}

  /**
   * The answer to a session statement, or undefined when `sql` is any other statement. The answer is
   * kept as the statement's result too, so a client that asks for it by query id (Python's
   * get_results_from_sfqid after execute_async, monitoring) finds it.
   */
  async answer(s: SfSession, sql: string): Promise<Envelope | undefined> {
    const st = classifySession(sql);
    if (!st) return undefined;
    const answer = await this.answerOf(s, st);
    const data = answer.data as Record<string, unknown> & { queryId: string };
    const now = Date.now();
    await this.d.store.putQuery({
      queryId: data.queryId,
      sessionId: s.id,
      subject: s.identity.subject,
      issuer: s.identity.issuer,
      asyncExec: false,
      status: 'done',
      startTime: now,
      endTime: now,
      data,
      chunks: [],
    });
    return answer;
  }

  private async answerOf(s: SfSession, st: SessionStatement): Promise<Envelope> {
    switch (st.kind) {
      case 'begin':
        await this.begin(s);
        return done(s, 'BEGIN');
      case 'commit':
        await this.end(s, 'COMMIT');
        return done(s, 'COMMIT');
      case 'rollback':
        await this.end(s, 'ROLLBACK');
        return done(s, 'ROLLBACK');
      case 'set':
      case 'unset':
        await this.alter(s, st);
        return done(s, ALTER_SESSION);
      case 'use':
        this.use(s, st);
        return done(s, 'USE');
      case 'show-parameters':
        return reply(s, 'SHOW', PARAMETER_COLUMNS, parameterRows(s.settings, st.like));
    }
  }

  /**
   * The upstream session a statement of `s` runs on: its open transaction's, a new implicit one
   * when AUTOCOMMIT is off (Snowflake opens one with the first statement), else none (pooled).
   */
  async statementSession(s: SfSession): Promise<UpstreamSession | undefined> {
    const open = this.d.transactions.use(s.id);
    if (open) return open;
    this.assertNotElsewhere(s);
    if (!autocommitOff(s.settings)) return undefined;
    await this.begin(s);
    return this.d.transactions.use(s.id);
  }

  /** The statement that statementSession gave `session` to has ended. */
  statementDone(s: SfSession, session: UpstreamSession): void {
    this.d.transactions.done(s.id, session);
  }

  /**
   * A transaction recorded as open but not held by this replica: held by another (the session's
   * requests are not routed to one replica) or lost with a replica that stopped. Its statements must
   * not run outside it; ROLLBACK forgets it (end).
   */
  private assertNotElsewhere(s: SfSession): void {
    if (s.transactionOn && !this.d.transactions.current(s.id))
      throw new AppError('GATEWAY_SF_TRANSACTION_ELSEWHERE', {
        message:
          s.transactionOn === this.d.replica
            ? "This session's open transaction is gone (rolled back after GATEWAY_SF_TRANSACTION_IDLE_SEC without a statement, or lost); ROLLBACK to end it."
            : "This session's open transaction is held by another phigate replica (route a session's requests to one replica), or was lost when that replica stopped; ROLLBACK to end it here.",
      });
  }

  /** Opens the session's transaction here and records where it is held. */
  private async begin(s: SfSession): Promise<UpstreamSession> {
    const open = this.d.transactions.current(s.id);
    if (open) return open;
    this.assertNotElsewhere(s);
    const session = await this.d.transactions.begin(s);
    try {
      s.transactionOn = (await this.d.store.putTransaction(s, this.d.replica)).transactionOn;
    } catch (err) {
      await this.d.transactions.end(s.id, 'ROLLBACK').catch(() => undefined);
      throw err;
    }
    return session;
  }

  /** COMMIT or ROLLBACK; a ROLLBACK of a transaction this replica does not hold forgets it, a COMMIT of one is refused. */
  private async end(s: SfSession, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (!this.d.transactions.current(s.id)) {
      if (!s.transactionOn) return;
      if (how === 'COMMIT') this.assertNotElsewhere(s);
      s.transactionOn = (await this.d.store.putTransaction(s, undefined)).transactionOn;
      return;
    }
    try {
      await this.d.transactions.end(s.id, how);
    } finally {
      await this.d.store.putTransaction(s, undefined).then(
        (next) => {
          s.transactionOn = next.transactionOn;
        },
        () => this.d.log.warn({ sessionId: s.id }, 'snowflake transaction end not recorded (session store unavailable)'),
      );
    }
  }

  /**
   * The client's settings the upstream applies (name → SQL literal). A PostgreSQL connection behind
   * the Snowflake door gets none: Snowflake's parameters are not its settings (they stay in the door,
   * and in the responses' parameters the driver reads).
   */
  settings(s: SfSession): Record<string, string> {
    return this.d.typeOf?.(s.connection) === 'snowflake' ? upstreamSettings(s.settings) : {};
  }

  private async alter(s: SfSession, st: Extract<SessionStatement, { kind: 'set' | 'unset' }>): Promise<void> {
    const next: Record<string, string> = { ...s.settings };
    if (st.kind === 'set') Object.assign(next, st.values);
    else for (const n of st.names) delete next[n];
    // Turning AUTOCOMMIT back on ends the open transaction with a commit.
    if (autocommitOff(s.settings) && !autocommitOff(next)) await this.end(s, 'COMMIT');
    s.settings = (await this.d.store.putSettings(s, next)).settings;
    this.d.log.info(
      { sessionId: s.id, parameters: Object.keys(st.kind === 'set' ? st.values : Object.fromEntries(st.names.map((n) => [n, '']))) },
      'snowflake session parameters changed',
    );
  }

  private use(s: SfSession, st: Extract<SessionStatement, { kind: 'use' }>): void {
    const same = (a: string, b: string) => a.toUpperCase() === b.toUpperCase();
    switch (st.object) {
      case 'ROLE':
        if (same(st.name, s.role)) return;
        throw new AppError('GATEWAY_SF_ROLE_CHANGE_REFUSED', {
          message: `Requested role '${st.name.slice(0, 64)}' cannot be used: phigate runs this session as ${s.role}, the role the binding of ${s.identity.clientId} gives it on '${s.connection}'.`,
        });
      case 'SECONDARY ROLES':
        if (same(st.name, 'NONE')) return;
        throw new AppError('GATEWAY_SF_ROLE_CHANGE_REFUSED', {
          message: `Secondary roles cannot be used: phigate runs this session as ${s.role} alone, the role the binding of ${s.identity.clientId} gives it on '${s.connection}'.`,
        });
      case 'WAREHOUSE': {
        // The connection's warehouse when it names one, else the one the session reports (from its login).
        const warehouse = this.d.warehouseOf?.(s.connection) || s.warehouse || 'PHIGATE';
        if (same(st.name, warehouse)) return;
        throw new AppError('GATEWAY_SF_USE_REFUSED', {
          message: `Warehouse '${st.name.slice(0, 64)}' cannot be used: statements on '${s.connection}' run on ${warehouse.toUpperCase()}, the connection's warehouse.`,
        });
      }
      case 'DATABASE':
        if (same(st.name, s.database)) return;
        throw new AppError('GATEWAY_SF_USE_REFUSED', {
          message: `Database '${st.name.slice(0, 64)}' cannot be used: phigate resolves names on '${s.connection}' in its database ${s.database}.`,
        });
      case 'SCHEMA':
        if (same(st.database ?? s.database, s.database) && same(st.name, s.schema)) return;
        throw new AppError('GATEWAY_SF_USE_REFUSED', {
          message: `Schema '${[st.database, st.name].filter(Boolean).join('.').slice(0, 130)}' cannot be used: phigate resolves unqualified names on '${s.connection}' in ${s.database}.${s.schema}; name tables of other schemas in full (schema.table).`,
        });
    }
  }
}

/** ALTER SESSION's statement type (Snowflake's SCL family, 0x4000, class 0x4100). */
const ALTER_SESSION = 0x4100;

/** SHOW PARAMETERS' columns, in Snowflake's order. */
const PARAMETER_COLUMNS = ['key', 'value', 'default', 'level', 'description', 'type'].map((n) => textColumn(n, false));

/** Snowflake's answer to a statement that changes the session: one `status` row. */
function done(s: SfSession, command: string | number): Envelope {
  return reply(s, command, [textColumn('status', false)], [['Statement executed successfully.']]);
}

function reply(s: SfSession, command: string | number, columns: ColumnType[], rowset: string[][]): Envelope {
  const data = resultData({
    queryId: randomUUID(),
    columns,
    rowset,
    total: rowset.length,
    statementTypeId: typeof command === 'number' ? command : statementTypeId(command),
    session: sessionInfo(s),
    arrayBindSupported: false,
  });
  data.parameters = withSessionParameters(data.parameters, s.settings);
  return ok(data);
}
