import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '@phigate/errors';
import { createLogger } from '@phigate/telemetry';
import type { UpstreamSession } from '../../domain/ports.js';
import { SessionControl } from './session-control.js';
import type { SfSession } from './store.js';
import { SfTransactions } from './transactions.js';

/** An upstream session that records what ran on it. */
function fakeSession(log: string[], name: string): UpstreamSession {
  return {
    connection: 'clinical-sf',
    role: 'clinical_reader',
    control: async (sql) => {
      log.push(`${name}: ${sql}`);
    },
    release: (discard) => {
      log.push(`${name}: ${discard ? 'discarded' : 'released'}`);
    },
  };
}

let clock = 0;

function setup(alive = true) {
  const log: string[] = [];
  let pinned = 0;
  const stored: Partial<SfSession> = {};
  const transactions = new SfTransactions({
    pin: async () => fakeSession(log, `s${++pinned}`),
    alive: async () => alive,
    log: createLogger({ service: 'test', level: 'silent' }),
    sweepMs: 60_000,
    idleMs: 1000,
    now: () => clock,
  });
  const control = new SessionControl({
    store: {
      putSettings: async (s, settings) => Object.assign(stored, { settings }, s, { settings }) as SfSession,
      putQuery: async () => undefined,
      putTransaction: async (s, replica) => {
        stored.transactionOn = replica;
        return { ...s, transactionOn: replica };
      },
    },
    transactions,
    replica: 'here',
    typeOf: (c) => (c === 'clinical-sf' ? 'snowflake' : 'postgresql'),
    log: createLogger({ service: 'test', level: 'silent' }),
  });
  const s = {
    id: 7,
    identity: { subject: 'etl-pipeline', issuer: 'i', clientId: 'etl-pipeline', groups: [] },
    connection: 'clinical-sf',
    role: 'CLINICAL_READER',
    database: 'CLINICAL',
    schema: 'PUBLIC',
    warehouse: 'PHIGATE',
  } as unknown as SfSession;
  return { log, control, transactions, s, stored };
}

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    assert.ok(isAppError(err));
    return err.code;
  }
  return undefined;
};

test('BEGIN pins one upstream session until COMMIT; statements in between run on it; COMMIT and ROLLBACK outside one change nothing', async () => {
  const { log, control, transactions, s, stored } = setup();
  assert.equal(await control.statementSession(s), undefined, 'no transaction: pooled');
  const begun = await control.answer(s, 'BEGIN');
  assert.deepEqual((begun!.data as { rowset: unknown }).rowset, [['Statement executed successfully.']]);
  assert.equal(stored.transactionOn, 'here');
  const pinned = await control.statementSession(s);
  assert.ok(pinned);
  assert.equal(await control.statementSession(s), pinned);
  await control.answer(s, 'begin transaction');
  await control.answer(s, 'COMMIT');
  assert.equal(transactions.current(s.id), undefined);
  assert.equal(stored.transactionOn, undefined);
  await control.answer(s, 'ROLLBACK');
  assert.deepEqual(log, ['s1: BEGIN', 's1: COMMIT', 's1: released']);
});

test('AUTOCOMMIT off opens a transaction with the next statement; turning it back on commits', async () => {
  const { log, control, s } = setup();
  await control.answer(s, 'ALTER SESSION SET AUTOCOMMIT = FALSE');
  assert.ok(await control.statementSession(s));
  await control.answer(s, 'ROLLBACK');
  assert.ok(await control.statementSession(s), 'the next statement opens the next transaction');
  await control.answer(s, 'alter session set autocommit=true');
  assert.equal(await control.statementSession(s), undefined);
  assert.deepEqual(log, ['s1: BEGIN', 's1: ROLLBACK', 's1: released', 's2: BEGIN', 's2: COMMIT', 's2: released']);
});

test('a transaction another replica holds (or one that stopped): statements and COMMIT refused, ROLLBACK forgets it', async () => {
  const { control, s, stored } = setup();
  s.transactionOn = 'elsewhere';
  assert.equal(await codeOf(control.statementSession(s)), 'GATEWAY_SF_TRANSACTION_ELSEWHERE');
  assert.equal(await codeOf(control.answer(s, 'COMMIT')), 'GATEWAY_SF_TRANSACTION_ELSEWHERE');
  assert.equal(await codeOf(control.answer(s, 'BEGIN')), 'GATEWAY_SF_TRANSACTION_ELSEWHERE');
  await control.answer(s, 'ROLLBACK');
  assert.equal(stored.transactionOn, undefined);
  assert.equal(s.transactionOn, undefined);
  assert.equal(await control.statementSession(s), undefined);
});

test('a door session that ended has its open transaction rolled back (logout, or the sweep)', async () => {
  const { log, control, transactions, s } = setup(false);
  await control.answer(s, 'BEGIN');
  await transactions.abandon(s.id, 'logout');
  // (A logged-out session is gone from the store, with its record of the transaction.)
  s.transactionOn = undefined;
  await control.answer(s, 'BEGIN');
  await transactions.sweep();
  assert.equal(transactions.current(s.id), undefined);
  assert.deepEqual(log, ['s1: BEGIN', 's1: ROLLBACK', 's1: released', 's2: BEGIN', 's2: ROLLBACK', 's2: released']);
});

test('USE: the session’s own warehouse, database, schema and role pass; others are refused with their codes', async () => {
  const { control, s } = setup();
  for (const sql of [
    'USE WAREHOUSE phigate',
    'USE DATABASE clinical',
    'USE SCHEMA public',
    'USE clinical.public',
    'USE ROLE clinical_reader',
    'USE SECONDARY ROLES NONE',
  ])
    assert.ok(await control.answer(s, sql), sql);
  assert.equal(await codeOf(control.answer(s, 'USE WAREHOUSE big')), 'GATEWAY_SF_USE_REFUSED');
  assert.equal(await codeOf(control.answer(s, 'USE SCHEMA scratch')), 'GATEWAY_SF_USE_REFUSED');
  assert.equal(await codeOf(control.answer(s, 'USE DATABASE other')), 'GATEWAY_SF_USE_REFUSED');
  assert.equal(await codeOf(control.answer(s, 'USE ROLE sysadmin')), 'GATEWAY_SF_ROLE_CHANGE_REFUSED');
  assert.equal(await codeOf(control.answer(s, 'USE SECONDARY ROLES ALL')), 'GATEWAY_SF_ROLE_CHANGE_REFUSED');
  assert.equal(await control.answer(s, 'SELECT 1'), undefined);
});

test('an open transaction idle past its limit is rolled back; one with a statement running is not', async () => {
  const { log, control, transactions, s } = setup();
  await control.answer(s, 'BEGIN');
  const running = await control.statementSession(s);
  clock += 5000;
  await transactions.sweep();
  assert.ok(transactions.current(s.id), 'a statement is running on it');
  control.statementDone(s, running!);
  clock += 500;
  await transactions.sweep();
  assert.ok(transactions.current(s.id), 'not idle long enough');
  clock += 1000;
  await transactions.sweep();
  assert.equal(transactions.current(s.id), undefined);
  assert.deepEqual(log, ['s1: BEGIN', 's1: ROLLBACK', 's1: released']);
  // The session's record still names this replica: its next statement learns the transaction is gone.
  assert.equal(await codeOf(control.statementSession(s)), 'GATEWAY_SF_TRANSACTION_ELSEWHERE');
});

test('ALTER SESSION parameters reach a Snowflake upstream only (a PostgreSQL connection behind the door keeps them in the door)', async () => {
  const { control, s } = setup();
  await control.answer(s, "ALTER SESSION SET QUERY_TAG = 'etl' TIMEZONE = 'Europe/Paris' AUTOCOMMIT = TRUE");
  assert.deepEqual(control.settings(s), { QUERY_TAG: "'etl'", TIMEZONE: "'Europe/Paris'" });
  assert.deepEqual(control.settings({ ...s, connection: 'clinical-pg' }), {});
});
