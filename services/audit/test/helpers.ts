import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AuditEvent, buildEvent, type ConsumedMessage, createKafka, type EventContext, type EventType, encodeEvent } from '@phigate/bus';
import { createLogger } from '@phigate/telemetry';
import { kafkaConnection, kafkaEnv, need, REPO_ROOT, uniqueName } from '@phigate/testkit';
import pg from 'pg';
import { GENESIS, link } from '../src/domain/chain.js';

export const log = createLogger({ service: 'audit-test', level: 'silent' });

/** The local stack's checkpoint key (the stack creates it): instances on the shared store must sign with it. */
export function stackCheckpointKey(): { file: string; key: KeyObject } {
  const file = join(need('PHIGATE_HOME'), 'secrets/audit_checkpoint_key.pem');
  if (!existsSync(file))
    throw new Error(`${file} is missing: the local stack creates the audit checkpoint key; run \`npm run stack:up\` (or see services/audit/README.md)`);
  return { file, key: createPrivateKey(readFileSync(file)) };
}

/** Environment for an audit service process of our own (its own topic and group, the shared store). */
export function auditEnv(over: Record<string, string>): Record<string, string> {
  const issuer = need('DEV_IDP_ISSUER');
  return {
    PATH: process.env.PATH ?? '',
    LOG_LEVEL: 'warn',
    AUDIT_HTTP_PORT: '0',
    ...kafkaEnv(),
    AUDIT_DATABASE_URL: need('AUDIT_DATABASE_URL'),
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: need('DEV_IDP_AUDIENCE'),
    OIDC_JWKS_URI: `${issuer}/jwks`,
    AUDIT_CHECKPOINT_KEY_FILE: stackCheckpointKey().file,
    AUDIT_PURGE_INTERVAL_MS: '0',
    AUDIT_PHI_CATALOG_FILE: join(REPO_ROOT, 'deploy/local/policies/05-phi-catalog.yaml'),
    ...over,
  };
}

/** Creates topics for one test (phigate never auto-creates topics). */
export async function createTopics(...topics: string[]): Promise<void> {
  const admin = createKafka({ ...kafkaConnection(), clientId: 'audit-test', log }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })) });
  } finally {
    await admin.disconnect();
  }
}

/** A database of its own with the audit migrations applied, and its own app role; dropped by `drop()`. */
export async function scratchStore(): Promise<{ appUrl: string; adminUrl: string; admin: pg.Pool; app: pg.Pool; drop: () => Promise<void> }> {
  const rootAdmin = need('PG_ADMIN_URL');
  const name = uniqueName('audit_t').replace(/-/g, '_');
  const password = randomUUID();
  execFileSync('psql', [rootAdmin, '-qc', `create database ${name} template template0 encoding 'UTF8'`]);
  const adminUrl = `${rootAdmin.slice(0, rootAdmin.lastIndexOf('/'))}/${name}`;
  for (const f of [
    '001-audit-store.sql',
    '002-evidence.sql',
    '003-partition-chains.sql',
    '004-search-table.sql',
    '005-append-chain.sql',
    '006-served-search.sql',
    '007-purpose-search.sql',
    '008-append-indexes.sql',
  ])
    execFileSync(
      'psql',
      [
        adminUrl,
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-v',
        `app_role=${name}`,
        '-v',
        `app_password=${password}`,
        '-f',
        join(REPO_ROOT, 'services/audit/migrations', f),
      ],
      {
        env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
      },
    );
  const u = new URL(adminUrl);
  u.username = name;
  u.password = password;
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  const app = new pg.Pool({ connectionString: u.toString(), max: 3 });
  return {
    appUrl: u.toString(),
    adminUrl,
    admin,
    app,
    drop: async () => {
      await app.end();
      await admin.end();
      execFileSync('psql', [rootAdmin, '-qc', `drop database if exists ${name} with (force)`]);
      execFileSync('psql', [rootAdmin, '-qc', `drop role if exists ${name}`]);
    },
  };
}

/** A request context with a unique identity, so searches find exactly this test's events. */
export function context(subject: string, requestId = randomUUID(), sessionId = requestId): EventContext {
  return {
    requestId,
    sessionId,
    frontDoor: 'http',
    identity: { subject, clientId: subject, groups: ['etl'], issuer: 'http://127.0.0.1:9400' },
    connection: 'clinical-pg',
    role: 'clinical_reader',
    producer: 'gateway',
  };
}

const table = { database: 'clinical', schema: 'public', name: 'patients' };

/** The events of one allowed, masked SELECT of patients (id, ssn, phone), as the gateway emits them. */
export function allowedQuery(ctx: EventContext, statement = "SELECT id, ssn, phone FROM patients WHERE ssn = '123-45-6789'"): AuditEvent[] {
  const ev = <T extends EventType>(t: T, d: Parameters<typeof buildEvent<T>>[2]) => buildEvent(t, ctx, d);
  return [
    ev('query.received', {
      statement,
      fingerprint: 'f'.repeat(32),
      dialect: 'postgresql',
      analysis: {
        dialect: 'postgresql',
        fingerprint: 'f'.repeat(32),
        understood: true,
        error: '',
        statements: [
          {
            kind: 'select',
            tablesRead: [table],
            tablesWritten: [],
            columnsRead: ['id', 'ssn', 'phone'].map((column) => ({ table, column })),
            columnsWritten: [],
            functions: [],
            hasWhere: true,
            whereTriviallyTrue: false,
            hasLimit: false,
            columnsResolved: true,
            columnsFiltered: [],
            flows: [],
          },
        ],
      },
    } as never),
    ev('policy.decided', {
      decisionId: randomUUID(),
      action: 'ACTION_ALLOW',
      ruleIds: ['etl-read-clinical'],
      reasons: ['ETL reads clinical tables'],
      policyRevision: 'abcdef0123456789',
      maskingPlan: {
        columns: [
          { schema: '*', table: 'patients', column: 'ssn', strategy: 'STRATEGY_REDACT', keepLast: 4 },
          { schema: '*', table: 'patients', column: 'email', strategy: 'STRATEGY_REDACT', keepLast: 4 },
        ],
        unknownSourceStrategy: 'STRATEGY_REDACT',
        canary: 'CANARY_MODE_OFF',
      },
      rowLimit: 0,
    } as never),
    ev('query.executed', { upstreamMs: 3, columns: ['id', 'ssn', 'phone'] }),
    ev('masking.applied', {
      columns: [
        { index: 0, name: 'id', strategy: 'STRATEGY_NONE', valuesMasked: 0 },
        { index: 1, name: 'ssn', strategy: 'STRATEGY_REDACT', valuesMasked: 1 },
        { index: 2, name: 'phone', strategy: 'STRATEGY_NONE', valuesMasked: 0 },
      ],
    } as never),
    ev('query.completed', { rows: 1, bytes: 40, durationMs: 12 }),
  ];
}

/** Events as the consumer hands them to the store. */
export function consumed(events: AuditEvent[], partition = 0, offset = 0): ConsumedMessage[] {
  return events.map((e, i) => ({ topic: 't', partition, offset: String(offset + i), key: e.requestId, raw: encodeEvent(e), event: e }));
}

/**
 * Writes events as the store did before the partition chains (format 1: one global chain in seq
 * order, hash over the payload only), so the format 1 verification and purge stay tested.
 */
export async function legacyAppend(pool: pg.Pool, messages: ConsumedMessage[]): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const last = await c.query<{ hash: Buffer }>('SELECT hash FROM audit_events WHERE kafka_topic IS NULL ORDER BY seq DESC LIMIT 1');
    let prev: Buffer = last.rows[0]?.hash ?? GENESIS;
    for (const m of messages) {
      const e = m.event!;
      const payload = m.raw.toString('utf8');
      const hash = link(prev, payload);
      await c.query(
        `INSERT INTO audit_events (id, request_id, type, event_time, identity_subject, connection, kafka_partition, kafka_offset, payload, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [e.id, e.requestId, e.type, e.time!.toISOString(), e.identity?.subject ?? null, e.connection || null, m.partition, m.offset, payload, prev, hash],
      );
      prev = hash;
    }
    await c.query('COMMIT');
  } finally {
    c.release();
  }
}
