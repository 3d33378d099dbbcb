// phigate-test: stack
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { TOPICS } from '@phigate/bus';
import { kcatArgs, need } from '@phigate/testkit';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import pg from 'pg';
import { committedSchemaFiles } from '../src/tools/event-schemas-files.js';

// The SIEM contract, end to end: everything on the audit topic, as a SIEM's kcat sees it, validates
// against the published schemas (the envelope, and the schema of the event's own type).

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: unknown) => void;

function validators(): { envelope: Validate; byType: Map<string, Validate> } {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  addFormats(ajv);
  const files = committedSchemaFiles();
  assert.ok(files.size > 1, 'docs/schemas/events holds the published schemas');
  const byType = new Map<string, Validate>();
  let envelope: Validate | undefined;
  for (const [name, text] of files) {
    const v = ajv.compile(JSON.parse(text)) as Validate;
    if (name === 'envelope.schema.json') envelope = v;
    else byType.set(name.replace(/\.schema\.json$/, ''), v);
  }
  assert.ok(envelope);
  return { envelope, byType };
}

test('kcat: every event on phigate.audit.v1 validates against the published schemas; anything else is kept quarantined (or, before migration 003, in audit_rejects)', async () => {
  const { envelope, byType } = validators();
  // Streamed line by line: a long-lived topic is far larger than one string may be.
  type Message = { partition: number; offset: number; key: string | null; payload: string | null };
  const messages: Message[] = [];
  const failures: string[] = [];
  const notEvents: Message[] = [];
  const types = new Map<string, number>();
  const check = (m: Message) => {
    messages.push({ partition: m.partition, offset: m.offset, key: null, payload: null });
    const where = `partition ${m.partition} offset ${m.offset}`;
    let event: { type?: string; requestId?: string; id?: string } | undefined;
    try {
      event = JSON.parse(m.payload ?? '');
    } catch {
      event = undefined;
    }
    // Not an event at all (a broker smoke test, a foreign producer): the store must have kept it as a reject.
    if (!event || typeof event !== 'object' || !event.id) {
      notEvents.push(m);
      return;
    }
    types.set(String(event.type), (types.get(String(event.type)) ?? 0) + 1);
    if (!envelope(event)) failures.push(`${where}: envelope: ${JSON.stringify(envelope.errors)}`);
    const v = byType.get(String(event.type));
    if (!v) failures.push(`${where}: no published schema for type ${event.type}`);
    else if (!v(event)) failures.push(`${where}: ${event.type}: ${JSON.stringify(v.errors)}`);
    if (m.key !== event.requestId) failures.push(`${where}: key is not the requestId`);
  };
  const kcat = spawn('kcat', ['-C', ...kcatArgs(), '-t', TOPICS.AUDIT, '-o', 'beginning', '-e', '-q', '-J'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  kcat.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number>((resolve) => {
    kcat.on('error', () => resolve(-1));
    kcat.on('close', (code) => resolve(code ?? -1));
  });
  for await (const line of createInterface({ input: kcat.stdout, crlfDelay: Number.POSITIVE_INFINITY })) if (line) check(JSON.parse(line) as Message);
  const code = await exited;
  if (code !== 0)
    throw new Error(
      `kcat could not consume ${TOPICS.AUDIT} (exit ${code}: ${stderr.split('\n')[0]}): install it (deploy/local/bin/infra) and start the stack with \`npm run stack:up\``,
    );
  assert.ok(messages.length > 0, `${TOPICS.AUDIT} is empty: run the suite (npm test) or the demo first`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${messages.length} messages do not match the published schemas`);
  assert.ok((types.get('query.received') ?? 0) > 0, 'the topic holds query events');
  if (notEvents.length) {
    const pool = new pg.Pool({ connectionString: need('AUDIT_DATABASE_URL'), max: 1 });
    try {
      for (const m of notEvents) {
        // Kept in audit_rejects before the partition chains (migration 003), quarantined in its chain since.
        const r = await pool.query(
          `SELECT 1 FROM audit_rejects WHERE kafka_partition = $1 AND kafka_offset = $2
           UNION ALL SELECT 1 FROM audit_events WHERE kafka_topic = $3 AND kafka_partition = $1 AND kafka_offset = $2 AND status = 'quarantined'`,
          [m.partition, m.offset, TOPICS.AUDIT],
        );
        assert.ok(r.rowCount, `partition ${m.partition} offset ${m.offset} is not an event and is neither quarantined nor in audit_rejects`);
      }
    } finally {
      await pool.end();
    }
  }
});

test('the schemas reject what the contract forbids', () => {
  const { envelope, byType } = validators();
  const ok = {
    id: '61e57086-9253-4c10-ba9a-3184d8a9e1ae',
    type: 'query.completed',
    time: '2026-11-29T01:05:44.776Z',
    requestId: '5fbe633f-ccc7-46b3-aef9-ebffeb4c80e4',
    ocsf: { classUid: 6005, className: 'Datastore Activity', categoryUid: 6, activityId: 4, severityId: 1, version: '1.4.0' },
    schemaVersion: 1,
    queryCompleted: { rows: 1, bytes: 2, durationMs: 3 },
  };
  const v = byType.get('query.completed')!;
  assert.equal(v(ok), true, JSON.stringify(v.errors));
  assert.equal(envelope(ok), true);
  assert.equal(v({ ...ok, queryCompleted: { rows: -1 } }), false, 'uint64 is never negative');
  assert.equal(v({ ...ok, ocsf: { ...ok.ocsf, classUid: 2004 } }), false, 'the OCSF class is fixed per type');
  assert.equal(v({ ...ok, time: 'yesterday' }), false);
  assert.equal(envelope({ ...ok, queryFailed: { code: 'X' } }), false, 'exactly one detail');
  assert.equal(envelope({ ...ok, type: 'query.failed' }), false, 'the detail agrees with the type');
  const { queryCompleted: _, ...envelopeOnly } = ok;
  const leak = {
    ...envelopeOnly,
    type: 'phi.leak_suspected',
    phiLeakSuspected: { column: 'notes', detector: 'ssn', count: 2 },
    ocsf: { ...ok.ocsf, classUid: 2006, className: 'Data Security Finding', categoryUid: 2, activityId: 1 },
  };
  assert.equal(byType.get('phi.leak_suspected')!(leak), true, JSON.stringify(byType.get('phi.leak_suspected')!.errors));
});
