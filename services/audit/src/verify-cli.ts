// `npm run audit:verify`: verifies the audit store offline, straight from PostgreSQL, with the
// checkpoint public key pinned locally (never fetched from the service it checks). An entry point
// like main.ts: the only other file that reads process.env.
//   exit 0: verifies; 1: AUDIT_CHAIN_BROKEN (where and why on stdout); 2: cannot run (config, database)
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createKafka } from '@phigate/bus';
import { fields, kafkaSecurity, kafkaSecurityFields, kafkaSecurityProblems, loadConfig, pgUrlProblems, z } from '@phigate/config';
import { AppError } from '@phigate/errors';
import { createLogger } from '@phigate/telemetry';
import pg from 'pg';
import { topicPositions } from './adapters/kafka/positions.js';
import { PgAuditStore } from './adapters/store/pg-store.js';
import { parseTrustedKeys } from './adapters/trusted-keys.js';
import { PROBLEMS } from './domain/chain.js';
import { crossCheck } from './domain/chains.js';

const schema = z
  .object({
    /** As the audit service's: TLS in the URL (sslmode=verify-full&sslrootcert=…), required off loopback. */
    AUDIT_DATABASE_URL: z.string().min(1),
    AUDIT_DATABASE_PLAINTEXT: fields.bool(false),
    /** The pinned public key (PEM), usually AUDIT_CHECKPOINT_PUBLIC_KEY_FILE. */
    AUDIT_CHECKPOINT_PUBLIC_KEY: z.string().optional(),
    /** Alternatively the private key file, from which the public key is derived (operators only). */
    AUDIT_CHECKPOINT_KEY: z.string().optional(),
    AUDIT_CHECKPOINT_ORIGIN: z.string().default('phigate-audit'),
    /** The published set of checkpoint keys with validity periods (JSON), usually AUDIT_CHECKPOINT_TRUSTED_KEYS_FILE. */
    AUDIT_CHECKPOINT_TRUSTED_KEYS: z.string().optional(),
    /** With brokers, the store is cross-checked against the topic: no committed offset may be missing. */
    KAFKA_BROKERS: fields.list().optional(),
    /** TLS and SASL to Kafka, as the audit service's own (it reads the group's committed offsets). */
    ...kafkaSecurityFields(),
    AUDIT_TOPIC: z.string().default('phigate.audit.v1'),
    AUDIT_CONSUMER_GROUP: z.string().default('phigate-audit'),
  })
  .superRefine((c, ctx) => {
    for (const message of kafkaSecurityProblems(c, c.KAFKA_BROKERS ?? [])) ctx.addIssue({ code: 'custom', message });
    for (const message of pgUrlProblems('AUDIT_DATABASE_URL', c.AUDIT_DATABASE_URL, c.AUDIT_DATABASE_PLAINTEXT, 'AUDIT_DATABASE_PLAINTEXT'))
      ctx.addIssue({ code: 'custom', message });
  });

const json = process.argv.includes('--json');
const out = (o: unknown, human: string) => process.stdout.write(json ? `${JSON.stringify(o)}\n` : `${human}\n`);

let code = 2;
try {
  const config = loadConfig(schema, process.env);
  const keys: { publicKey: KeyObject; notBefore?: Date; notAfter?: Date }[] = [];
  try {
    const pem = config.AUDIT_CHECKPOINT_PUBLIC_KEY ?? config.AUDIT_CHECKPOINT_KEY;
    if (pem) keys.push({ publicKey: createPublicKey(pem) });
    if (config.AUDIT_CHECKPOINT_TRUSTED_KEYS) keys.push(...parseTrustedKeys(JSON.parse(config.AUDIT_CHECKPOINT_TRUSTED_KEYS)));
    if (!keys.length || keys.some((k) => k.publicKey.asymmetricKeyType !== 'ed25519')) throw new Error('missing');
  } catch {
    throw new AppError('COMMON_CONFIG_INVALID', {
      message:
        'set AUDIT_CHECKPOINT_PUBLIC_KEY_FILE to the pinned Ed25519 public key (PEM) of the audit service, or AUDIT_CHECKPOINT_TRUSTED_KEYS_FILE to its published key set',
      details: { problems: ['AUDIT_CHECKPOINT_PUBLIC_KEY or AUDIT_CHECKPOINT_TRUSTED_KEYS: required, Ed25519 public keys in PEM'] },
    });
  }
  const pool = new pg.Pool({ connectionString: config.AUDIT_DATABASE_URL, max: 1, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    const store = new PgAuditStore(pool);
    // The committed positions are read before the store's snapshot: the service stores a batch
    // before it commits its offsets, so every offset committed by then is in the snapshot.
    const kafka =
      config.KAFKA_BROKERS?.length &&
      createKafka({
        brokers: config.KAFKA_BROKERS,
        security: kafkaSecurity(config),
        clientId: 'phigate-audit-verify',
        log: createLogger({ service: 'audit-verify', level: 'error' }),
      });
    const positions = kafka ? await topicPositions(kafka, config.AUDIT_TOPIC, config.AUDIT_CONSUMER_GROUP) : undefined;
    const report = await store.verify({ keys, origin: config.AUDIT_CHECKPOINT_ORIGIN });
    if (report.ok && positions) {
      const bad = crossCheck(config.AUDIT_TOPIC, report.chains, positions, await store.legacyMaxOffsets());
      if (bad) Object.assign(report, { ok: false, firstBad: bad });
    }
    code = report.ok ? 0 : 1;
    const bad = report.firstBad;
    out(
      report.ok ? report : { ...report, code: 'AUDIT_CHAIN_BROKEN' },
      report.ok
        ? `audit store verifies: ${report.checked} records (${report.chains.length} partition chains), ${report.checkpoints.checked} signed checkpoints, ${report.uncheckpointed} records after the latest checkpoint${config.KAFKA_BROKERS?.length ? `, every committed offset of ${config.AUDIT_TOPIC} stored` : ''}`
        : `AUDIT_CHAIN_BROKEN: ${bad?.reason} at${bad?.topic !== undefined ? ` ${bad.topic}/${bad.partition}` : ''}${bad?.offset !== undefined ? ` offset ${bad.offset}` : ''}${bad?.seq !== undefined ? ` seq ${bad.seq}` : ''}${bad?.id ? ` (event ${bad.id})` : ''}${bad?.column ? ` column ${bad.column}` : ''}${bad?.offsets ? ` offsets ${bad.offsets.from}..${bad.offsets.to} lost` : ''}${bad?.checkpoint !== undefined ? ` checkpoint ${bad.checkpoint}` : ''}${bad?.after ? `, after seq ${bad.after.seq}` : ''}: ${bad?.message ?? (bad ? PROBLEMS[bad.reason] : '')}; ${report.checked} records verified`,
    );
  } finally {
    await pool.end();
  }
} catch (err) {
  const e = err as { code?: string; message?: string; details?: { problems?: string[] } };
  const problems = e.details?.problems ?? [];
  out(
    { ok: false, code: e.code ?? 'COMMON_INTERNAL', problems },
    `${e.code ?? 'COMMON_INTERNAL'}: ${e.message ?? 'failed'}${problems.length ? `\n  - ${problems.join('\n  - ')}` : ''}`,
  );
  code = 2;
}
process.exit(code);
