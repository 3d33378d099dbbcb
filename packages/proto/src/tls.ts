// gRPC credentials for phigate's internal links: mutual TLS from files re-read on an interval (a
// rotated certificate is picked up without a restart), or, where configuration allowed it
// (INTERNAL_PLAINTEXT on loopback; @phigate/config's internalTlsProblems), plaintext.
import { type ChannelCredentials, credentials, experimental, ServerCredentials as Server, type ServerCredentials } from '@grpc/grpc-js';

export interface GrpcTls {
  INTERNAL_TLS_CA_FILE?: string | undefined;
  INTERNAL_TLS_CERT_FILE?: string | undefined;
  INTERNAL_TLS_KEY_FILE?: string | undefined;
  INTERNAL_TLS_REFRESH_MS: number;
  INTERNAL_PLAINTEXT: boolean;
}

function providers(c: GrpcTls) {
  if (!c.INTERNAL_TLS_CA_FILE || !c.INTERNAL_TLS_CERT_FILE || !c.INTERNAL_TLS_KEY_FILE) return undefined;
  const ca = new experimental.FileWatcherCertificateProvider({ caCertificateFile: c.INTERNAL_TLS_CA_FILE, refreshIntervalMs: c.INTERNAL_TLS_REFRESH_MS });
  const identity = new experimental.FileWatcherCertificateProvider({
    certificateFile: c.INTERNAL_TLS_CERT_FILE,
    privateKeyFile: c.INTERNAL_TLS_KEY_FILE,
    refreshIntervalMs: c.INTERNAL_TLS_REFRESH_MS,
  });
  return { ca, identity };
}

/** A server that requires a client certificate signed by the CA (or plaintext, when configured so). */
export function grpcServerCredentials(c: GrpcTls): ServerCredentials {
  const p = providers(c);
  if (!p) return Server.createInsecure();
  // grpc-js 1.14's createCertificateProviderServerCredentials(ca, identity, …) hands its providers
  // to the constructor the other way round (identity first), and the server then never has a
  // certificate to present. Built so the identity provider ends up as the identity whichever order
  // the installed version uses.
  const creds = experimental.createCertificateProviderServerCredentials(p.ca, p.identity, true);
  if ((creds as unknown as { identityCertificateProvider?: unknown }).identityCertificateProvider === p.identity) return creds;
  return experimental.createCertificateProviderServerCredentials(p.identity, p.ca, true);
}

/** A channel that presents this service's certificate and trusts only servers the CA signed. */
export function grpcChannelCredentials(c: GrpcTls): ChannelCredentials {
  const p = providers(c);
  return p ? experimental.createCertificateProviderChannelCredentials(p.ca, p.identity) : credentials.createInsecure();
}
