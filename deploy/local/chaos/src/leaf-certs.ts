// Certificates for a drill's own service replicas: a directory of its own holding a copy of the
// stack's dev CA (so the stack's certificates are never touched), leaf certificates issued from it
// as deploy/local/infra/dev-ca.sh issues them, and swaps of a service's files in place, as
// cert-manager renews a Secret. Also a CA of another's, whose certificates must be refused.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';

const ossl = (...args: string[]) => {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed (openssl comes with the base system): ${String((err as { stderr?: unknown }).stderr ?? err)}`);
  }
};
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in a directory: `ca.pem` and `ca.key`. */
export interface Ca {
  dir: string;
  pem: string;
  key: string;
}

/** A copy of the stack's dev CA (INTERNAL_TLS_CA_FILE and the key beside it) in a new directory. */
export function copyOfDevCa(caFile: string): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-certs-'));
  copyFileSync(caFile, join(dir, 'ca.pem'));
  copyFileSync(join(caFile, '..', 'ca.key'), join(dir, 'ca.key'));
  return { dir, pem: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
}

/** A new CA no phigate service trusts. */
export function otherCa(): Ca {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-other-ca-'));
  ossl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=another CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'));
  return { dir, pem: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
}

/**
 * Issues a leaf for `name` (localhost, 127.0.0.1 and the name; server and client use) from `ca` and
 * puts it at `<dir>/<name>.pem` and `.key`: each file written beside and renamed over the old one,
 * the certificate first. Returns the new certificate's serial (upper-case hex).
 */
export function issueLeaf(ca: Ca, dir: string, name: string): string {
  const work = mkdtempSync(join(tmpdir(), 'chaos-leaf-'));
  try {
    ossl('req', ...ec, '-subj', `/CN=${name}`, '-keyout', join(work, 'key'), '-out', join(work, 'csr'));
    writeFileSync(
      join(work, 'ext'),
      `subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n`,
    );
    ossl(
      'x509',
      '-req',
      '-in',
      join(work, 'csr'),
      '-CA',
      ca.pem,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      join(work, 'pem'),
      '-extfile',
      join(work, 'ext'),
    );
    for (const f of ['pem', 'key']) {
      writeFileSync(join(dir, `.${name}.${f}.new`), readFileSync(join(work, f)), { mode: 0o600 });
      renameSync(join(dir, `.${name}.${f}.new`), join(dir, `${name}.${f}`));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return serialOf(join(dir, `${name}.pem`));
}

export const serialOf = (pemFile: string) => normalSerial(new X509Certificate(readFileSync(pemFile)).serialNumber);
const normalSerial = (s: string) => s.toUpperCase().replace(/^0+/, '');

/**
 * What a new TLS connection to 127.0.0.1:`port` sees: the serial of the certificate the server
 * presents, verified against `caFile` (and with `client` as the client certificate), or the reason
 * the handshake failed.
 */
export function presentedSerial(port: number, caFile: string, client: { cert: string; key: string }): Promise<{ serial?: string; refused?: string }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(caFile),
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no TLS handshake within 10 s')));
    socket.once('secureConnect', () => {
      const serial = normalSerial(socket.getPeerCertificate().serialNumber ?? '');
      socket.end();
      resolve({ serial });
    });
    socket.once('error', (err: Error & { code?: string }) => resolve({ refused: err.code ?? err.message }));
  });
}

/**
 * A TLS tap in front of 127.0.0.1:`target`: terminates each client's TLS (requiring a client
 * certificate of `caFile`, presenting `identity`), notes the serial of the certificate the client
 * presented, and relays the bytes over its own TLS connection to the target (ALPN h2, so gRPC passes).
 * `dropAll()` closes every relayed connection, so the client's next call opens a new one.
 */
export async function tlsTap(
  target: number,
  caFile: string,
  identity: { cert: string; key: string },
): Promise<{ port: number; clientSerials: string[]; dropAll(): void; close(): Promise<void> }> {
  const material = { ca: readFileSync(caFile), cert: readFileSync(identity.cert), key: readFileSync(identity.key) };
  const clientSerials: string[] = [];
  const open = new Set<{ destroy(): void }>();
  const server = createServer({ ...material, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (client) => {
    clientSerials.push(normalSerial(client.getPeerCertificate().serialNumber ?? ''));
    const upstream = connect({ ...material, host: '127.0.0.1', port: target, servername: 'localhost', ALPNProtocols: ['h2'] });
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const s of [client, upstream]) {
      open.add(s);
      s.once('error', end);
      s.once('close', end);
    }
    client.pipe(upstream).pipe(client);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    clientSerials,
    dropAll: () => {
      for (const s of [...open]) s.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of [...open]) s.destroy();
        server.close(() => resolve());
      }),
  };
}
