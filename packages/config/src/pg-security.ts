import { accessSync, constants } from 'node:fs';
import { isLoopbackAddress } from './index.js';

// PostgreSQL links given as connection URLs (the gateway's control database, the audit store).
// node-postgres reads `sslmode` and `sslrootcert` from the URL itself (pg-connection-string), so TLS
// is configured per URL; this file only checks that a URL asks for what phigate requires.
//
// What pg-connection-string 2.x (node-postgres 8) makes of sslmode, unless the URL also says
// uselibpqcompat=true: `disable` is plaintext; `prefer`, `require`, `verify-ca` and `verify-full`
// all verify the certificate chain against `sslrootcert` (or Node's public roots) *and* the host
// name, the first three with a deprecation warning; `no-verify` encrypts without verifying. With
// uselibpqcompat=true they follow libpq: `require` verifies nothing (the chain only, when
// sslrootcert is given), `verify-ca` checks the chain (sslrootcert required) but not the host name.
// pg 9 makes libpq's semantics the default
// (https://github.com/brianc/node-postgres/tree/master/packages/pg-connection-string#tcp-connections),
// so only verify-full and verify-ca count as verified here, whatever the installed version does.

/** The sslmode values node-postgres understands. */
export const PG_SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

/** The parts of a PostgreSQL URL that decide its transport security. */
export interface PgUrlTls {
  /** `host:port`, or the socket directory for a unix socket. */
  address: string;
  /** A unix socket (never leaves the machine). */
  socket: boolean;
  sslmode: string | undefined;
  sslrootcert: string | undefined;
  /** The server's certificate chain and host name are both checked. */
  verified: boolean;
}

/** Reads the transport-security settings of a `postgres://` URL, or undefined when it is not one. */
export function pgUrlTls(url: string): PgUrlTls | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return undefined;
  // A `host` query parameter wins over the authority, as in pg-connection-string.
  const host = u.searchParams.get('host') ?? decodeURIComponent(u.hostname);
  const socket = host.startsWith('/') || /^%2f/i.test(u.hostname);
  const sslmode = u.searchParams.get('sslmode') ?? undefined;
  const libpq = u.searchParams.get('uselibpqcompat') === 'true';
  return {
    address: socket ? host : `${host}:${u.searchParams.get('port') ?? (u.port || '5432')}`,
    socket,
    sslmode,
    sslrootcert: u.searchParams.get('sslrootcert') ?? undefined,
    // verify-ca counts: without uselibpqcompat node-postgres checks it as verify-full, with it the
    // chain is checked against sslrootcert (which libpq mode then requires).
    verified: sslmode === 'verify-full' || (sslmode === 'verify-ca' && (!libpq || u.searchParams.has('sslrootcert'))),
  };
}

/**
 * What is wrong with a PostgreSQL link URL (`name` is its variable, e.g. AUDIT_DATABASE_URL): it must
 * be a postgres:// URL; a known sslmode; a readable sslrootcert, and none with sslmode=disable; and,
 * to a host that is not loopback, sslmode=verify-full (or verify-ca) unless `plaintext` (the link's
 * `*_PLAINTEXT=true`) allows a link that is unencrypted or does not verify the server.
 */
export function pgUrlProblems(name: string, url: string, plaintext: boolean, plaintextVar: string): string[] {
  const t = pgUrlTls(url);
  if (!t) return [`${name}: must be a postgres:// or postgresql:// URL`];
  const problems: string[] = [];
  if (t.sslmode !== undefined && !(PG_SSL_MODES as readonly string[]).includes(t.sslmode))
    problems.push(`${name}: sslmode must be one of ${PG_SSL_MODES.join(', ')}`);
  if (t.sslrootcert !== undefined) {
    if (t.sslmode === 'disable') problems.push(`${name}: sslrootcert given with sslmode=disable; choose one`);
    try {
      accessSync(t.sslrootcert, constants.R_OK);
    } catch (err) {
      problems.push(`${name}: cannot read sslrootcert ${t.sslrootcert} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (t.verified && plaintext) problems.push(`${plaintextVar}: set together with sslmode=${t.sslmode} in ${name}; choose one`);
  if (!t.verified && !plaintext && !t.socket && !isLoopbackAddress(t.address)) {
    const what = t.sslmode === undefined || t.sslmode === 'disable' ? 'plaintext' : `sslmode=${t.sslmode}`;
    problems.push(
      `${name}: ${what} refused, ${t.address} is not a loopback address (statements, credentials and PHI would cross the network ${what === 'plaintext' ? 'in clear' : 'to an unverified server'}); add sslmode=verify-full&sslrootcert=<CA file>, or set ${plaintextVar}=true`,
    );
  }
  return problems;
}
