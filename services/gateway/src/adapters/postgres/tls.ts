import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { isLoopbackAddress } from '@phigate/config';
import { z } from 'zod';

/**
 * How the gateway secures one PostgreSQL upstream, with libpq's meanings (not node-postgres 8's,
 * which treats require and verify-ca as verify-full): `verify-full` (default) checks the chain
 * against `sslRootCertFile` (Node's public roots when absent) and the host name; `verify-ca` the
 * chain only (so it needs `sslRootCertFile`: with public roots anyone's certificate would do);
 * `require` encrypts without checking who answers; `disable` is plaintext.
 */
export const PG_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type PgSslMode = (typeof PG_SSL_MODES)[number];

/** The per-connection TLS settings, as the connections file and the admin API take them. */
export const pgTlsShape = {
  sslMode: z.enum(PG_SSL_MODES).default('verify-full'),
  /** PEM CA bundle that signs the server's certificate (e.g. AWS's RDS bundle); relative to GATEWAY_SECRETS_DIR. */
  sslRootCertFile: z.string().min(1).max(1024).optional(),
  /** Allows `disable` or `require` to a host that is not loopback (rows would cross in clear, or to an unverified server). */
  plaintext: z.boolean().optional(),
};

export interface PgTlsSettings {
  host: string;
  port: number;
  sslMode?: PgSslMode | undefined;
  sslRootCertFile?: string | undefined;
  plaintext?: boolean | undefined;
}

const verified = (mode: PgSslMode) => mode === 'verify-full' || mode === 'verify-ca';

/** What is wrong with a connection's TLS settings (`secretsDir` given: the CA file must be readable). */
export function pgTlsProblems(c: PgTlsSettings, secretsDir?: string): string[] {
  const mode = c.sslMode ?? 'verify-full';
  const problems: string[] = [];
  if (c.sslRootCertFile && !verified(mode)) problems.push(`sslRootCertFile: only with sslMode verify-full or verify-ca (sslMode is ${mode})`);
  if (mode === 'verify-ca' && !c.sslRootCertFile)
    problems.push('sslMode verify-ca: needs sslRootCertFile (against public roots, any certificate a public CA issued would pass)');
  if (c.plaintext && verified(mode)) problems.push(`plaintext: set together with sslMode ${mode}; choose one`);
  if (!verified(mode) && !c.plaintext && !isLoopbackAddress(`${c.host}:${c.port}`))
    problems.push(
      `sslMode ${mode}: refused, ${c.host}:${c.port} is not a loopback address (rows and credentials would cross the network ${mode === 'disable' ? 'in clear' : 'to an unverified server'}); use verify-full with sslRootCertFile, or set plaintext: true`,
    );
  if (c.sslRootCertFile && secretsDir !== undefined) {
    try {
      readFileSync(caPath(c.sslRootCertFile, secretsDir));
    } catch (err) {
      problems.push(`sslRootCertFile: cannot read ${c.sslRootCertFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return problems;
}

function caPath(file: string, secretsDir: string): string {
  return isAbsolute(file) ? file : join(secretsDir, file);
}

/** node-postgres's `ssl` option for a connection (its CA file read now). */
export function pgTlsOptions(c: PgTlsSettings, secretsDir: string): false | ConnectionOptions {
  const mode = c.sslMode ?? 'verify-full';
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  const ca = c.sslRootCertFile ? { ca: readFileSync(caPath(c.sslRootCertFile, secretsDir), 'utf8') } : {};
  // node-postgres sets servername (SNI and the name checked) to the host when it is a name, and
  // Node checks an IP address against the certificate's IP SANs.
  return mode === 'verify-ca' ? { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined } : { ...ca, rejectUnauthorized: true };
}

/** Node's codes for a server certificate it refused (chain or name), and pg's for a server without TLS. */
const TLS_REFUSALS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Why a connection attempt failed at TLS, when it did: the certificate's problem (Node's code), or
 * `server-without-tls` when the server refused the SSLRequest. Undefined for other failures.
 */
export function tlsFailure(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && TLS_REFUSALS.has(e.code)) return e.code;
  if (e?.message === 'The server does not support SSL connections') return 'server-without-tls';
  return undefined;
}
