/**
 * The conformance suite for the official Node driver (snowflake-sdk). Registers node:test cases
 * for a target; call it inside a test file after the target is known.
 */
import './driver-env.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import snowflake, { type Connection, type RowStatement } from 'snowflake-sdk';
import { GATEWAY_ONLY, loadCases, type Target } from './target.js';

// The driver's log goes to ./snowflake.log in whatever folder the tests run from; its errors reach the tests anyway.
snowflake.configure({ logLevel: 'OFF', disableOCSPChecks: true });

export type Exec = (sqlText: string, binds?: unknown[], opts?: Record<string, unknown>) => Promise<{ stmt: RowStatement; rows: Record<string, unknown>[] }>;

export async function connect(t: Target): Promise<Connection> {
  const common = {
    account: t.account,
    host: t.host,
    port: t.port,
    protocol: t.protocol,
    database: t.database,
    schema: t.schema,
    ...(t.role ? { role: t.role } : {}),
  };
  const conn =
    t.auth.kind === 'oauth'
      ? snowflake.createConnection({ ...common, authenticator: 'OAUTH', token: await t.auth.token() })
      : snowflake.createConnection({ ...common, username: t.auth.user, password: t.auth.password });
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  return conn;
}

export function execOn(conn: Connection): Exec {
  return (sqlText, binds, opts = {}) =>
    new Promise((resolve, reject) =>
      conn.execute({
        sqlText,
        ...(binds ? { binds: binds as snowflake.Binds } : {}),
        ...opts,
        complete: (err, stmt, rows) => (err ? reject(err) : resolve({ stmt, rows: (rows ?? []) as Record<string, unknown>[] })),
      }),
    );
}

export function destroy(conn: Connection): Promise<void> {
  return new Promise((resolve) => conn.destroy(() => resolve()));
}

/** A driver value in the canonical form of cases.json. */
function canonical(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return null;
  const ts = v as { getEpochSeconds?: () => number; getNanoSeconds?: () => number; getTime?: () => number; toJSON?: () => string };
  switch (type) {
    case 'fixed':
      return typeof v === 'number' && !Number.isInteger(v) ? String(v) : v;
    case 'date':
      return (v as Date).toJSON().slice(0, 10);
    case 'timestamp_ntz':
      return ts.toJSON?.();
    case 'timestamp_ltz':
    case 'timestamp_tz':
      return (ts.getTime as () => number).call(v);
    case 'binary':
      return Buffer.from(v as Uint8Array).toString('hex');
    default:
      return v;
  }
}

export function nodeConformance(target: () => Target): void {
  const cases = loadCases();
  describe(`Snowflake conformance (Node snowflake-sdk) against the ${'target'}`, () => {
    let conn: Connection;
    let exec: Exec;
    const runId = `node-${randomUUID()}`;

    before(async () => {
      conn = await connect(target());
      exec = execOn(conn);
    });
    after(async () => {
      if (exec) await exec(`DELETE FROM ${cases.scratchTable} WHERE RUN_ID = ?`, [runId]).catch(() => undefined);
      if (conn) await destroy(conn);
    });

    it('connects with an OAuth access token (or the configured login) and reports the session', async () => {
      const { rows } = await exec('SELECT CURRENT_DATABASE() AS DB, CURRENT_SCHEMA() AS SCH');
      assert.equal(rows[0]?.DB, target().database);
      assert.equal(rows[0]?.SCH, target().schema);
    });

    it('returns every common type with its Snowflake metadata', async () => {
      const { stmt, rows } = await exec(cases.typedSelect.sql);
      const cols = stmt.getColumns() ?? [];
      assert.deepEqual(Object.fromEntries(cols.map((c) => [c.getName(), c.getType()])), cases.typedSelect.types);
      const d = cols.find((c) => c.getName() === 'D');
      assert.equal(d?.getScale(), 2);
      const row = rows[0]!;
      const { TZ_OFFSET_MINUTES, ...expected } = cases.typedSelect.expected;
      const got = Object.fromEntries(Object.keys(expected).map((k) => [k, canonical(row[k], cases.typedSelect.types[k]!)]));
      assert.deepEqual(got, expected);
      assert.equal((row.TZ as { getTimezone: () => number }).getTimezone(), TZ_OFFSET_MINUTES);
    });

    it('runs DML with row counts and bind parameters (positional ? and numbered :1)', async () => {
      const ins = await exec(`INSERT INTO ${cases.scratchTable} (RUN_ID, ID, LABEL, AMOUNT, FLAG) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`, [
        runId,
        1,
        'one',
        1.25,
        true,
        runId,
        2,
        'two',
        2.5,
        false,
      ]);
      assert.equal(ins.stmt.getNumUpdatedRows(), 2);
      const upd = await exec(`UPDATE ${cases.scratchTable} SET LABEL = :1 WHERE RUN_ID = :2 AND ID = :3`, ['uno', runId, 1]);
      assert.equal(upd.stmt.getNumUpdatedRows(), 1);
      const sel = await exec(`SELECT ID, LABEL, AMOUNT, FLAG FROM ${cases.scratchTable} WHERE RUN_ID = ? ORDER BY ID`, [runId]);
      assert.deepEqual(sel.rows, [
        { ID: 1, LABEL: 'uno', AMOUNT: 1.25, FLAG: true },
        { ID: 2, LABEL: 'two', AMOUNT: 2.5, FLAG: false },
      ]);
      const del = await exec(`DELETE FROM ${cases.scratchTable} WHERE RUN_ID = ?`, [runId]);
      assert.equal(del.stmt.getNumUpdatedRows(), 2);
    });

    it('surfaces a refused statement as the driver’s SQL error with code 003001 and SQLSTATE 42501', async () => {
      for (const sql of [cases.deniedSql, ...(target().kind === 'warehouse' ? [cases.ungrantedSql] : [])]) {
        await assert.rejects(exec(sql), (err: { name?: string; code?: unknown; sqlState?: unknown; message?: string }) => {
          assert.equal(err.name, 'OperationFailedError');
          assert.equal(err.code, '003001');
          assert.equal(err.sqlState, '42501');
          assert.match(err.message ?? '', /access control|privilege|denied|blocked/i);
          return true;
        });
      }
      // The session is still usable after a refusal.
      assert.equal((await exec('SELECT 1 AS ONE')).rows[0]?.ONE, 1);
    });

    it('delivers a large result that arrives in chunks, in order', async () => {
      const { rows } = await exec(cases.largeSql);
      assert.ok(rows.length >= cases.largeMinRows, `expected at least ${cases.largeMinRows} rows, got ${rows.length}`);
      for (let i = 1; i < rows.length; i++) assert.ok((rows[i]!.ID as number) > (rows[i - 1]!.ID as number), `rows out of order at ${i}`);
      // Streaming delivers the same rows.
      const { stmt } = await exec(cases.largeSql, undefined, { streamResult: true });
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        stmt
          .streamRows()
          .on('data', () => n++)
          .on('error', reject)
          .on('end', () => resolve());
      });
      assert.equal(n, rows.length);
    });

    it('held query completes after approval', async (t) => {
      const held = target().gateway?.held;
      if (target().kind !== 'gateway') return t.skip(GATEWAY_ONLY.heldQuery);
      if (!held) return t.skip('the target names no held statement');
      const other = await connect({ ...target(), auth: { kind: 'oauth', token: held.token } });
      try {
        if (held.queryTag) await execOn(other)(`ALTER SESSION SET QUERY_TAG = '${held.queryTag}'`);
        // The driver just waits on its statement (polling) while the approver approves it.
        const [result] = await Promise.all([execOn(other)(held.sql, undefined, { rowMode: 'array' }), held.approve()]);
        assert.deepEqual(result.rows, held.rows);
      } finally {
        await destroy(other);
      }
    });

    it('masked column', async (t) => {
      const masked = target().gateway?.masked;
      if (target().kind !== 'gateway') return t.skip(GATEWAY_ONLY.maskedColumn);
      if (!masked) return t.skip('the target names no masked statement');
      const { rows } = await exec(masked.sql, undefined, { rowMode: 'array' });
      assert.deepEqual(rows, masked.rows);
    });
  });
}
