// `npm run audit:verify`: verifies the audit store offline, straight from PostgreSQL, with the
// checkpoint public key pinned locally (never fetched from the service it checks). An entry point
// like main.ts: the only other file that reads process.env.
//   exit 0: verifies; 1: AUDIT_CHAIN_BROKEN (where and why on stdout); 2: cannot run (config, database)
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadConfig, z } from '@phigate/config';
import { AppError } from '@phigate/errors';
import pg from 'pg';
import { PgAuditStore } from './adapters/store/pg-store.js';

const schema = z.object({
  AUDIT_DATABASE_URL: z.string().min(1),
  /** The pinned public key (PEM), usually AUDIT_CHECKPOINT_PUBLIC_KEY_FILE. */
  AUDIT_CHECKPOINT_PUBLIC_KEY: z.string().optional(),
  /** Alternatively the private key file, from which the public key is derived (operators only). */
  AUDIT_CHECKPOINT_KEY: z.string().optional(),
  AUDIT_CHECKPOINT_ORIGIN: z.string().default('phigate-audit'),
});

const json = process.argv.includes('--json');
const out = (o: unknown, human: string) => process.stdout.write(json ? `${JSON.stringify(o)}\n` : `${human}\n`);

let code = 2;
try {
  const config = loadConfig(schema, process.env);
  let publicKey: KeyObject;
  try {
    const pem = config.AUDIT_CHECKPOINT_PUBLIC_KEY ?? config.AUDIT_CHECKPOINT_KEY;
    if (!pem) throw new Error('missing');
    publicKey = createPublicKey(pem);
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
  } catch {
    throw new AppError('COMMON_CONFIG_INVALID', {
      message: 'set AUDIT_CHECKPOINT_PUBLIC_KEY_FILE to the pinned Ed25519 public key (PEM) of the audit service',
      details: { problems: ['AUDIT_CHECKPOINT_PUBLIC_KEY: required, an Ed25519 public key in PEM'] },
    });
  }
  const pool = new pg.Pool({ connectionString: config.AUDIT_DATABASE_URL, max: 1, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    const report = await new PgAuditStore(pool).verify({ publicKey, origin: config.AUDIT_CHECKPOINT_ORIGIN });
    code = report.ok ? 0 : 1;
    const bad = report.firstBad;
    out(
      report.ok ? report : { ...report, code: 'AUDIT_CHAIN_BROKEN' },
      report.ok
        ? `audit store verifies: ${report.checked} records from seq ${report.first?.seq ?? '-'} to ${report.head?.seq ?? '-'}, ${report.checkpoints.checked} signed checkpoints, ${report.uncheckpointed} records after the latest checkpoint`
        : `AUDIT_CHAIN_BROKEN: ${bad?.reason} at${bad?.seq !== undefined ? ` seq ${bad.seq}` : ''}${bad?.id ? ` (event ${bad.id})` : ''}${bad?.checkpoint !== undefined ? ` checkpoint ${bad.checkpoint}` : ''}${bad?.after ? `, after seq ${bad.after.seq}` : ''}: ${bad?.message}; ${report.checked} records verified before it`,
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
