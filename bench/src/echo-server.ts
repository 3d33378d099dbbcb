// A bare gRPC unary echo in its own process, over the same mutual TLS as the stack's internal links
// (the INTERNAL_TLS_* files in its environment): the baseline every gRPC-bound figure is divided by.
import { Server } from '@grpc/grpc-js';
import { grpcServerCredentials } from '@phigate/proto';
import { ECHO_DEFINITION } from './echo-definition.js';

const server = new Server();
server.addService(ECHO_DEFINITION, { echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request) });
server.bindAsync(
  '127.0.0.1:0',
  grpcServerCredentials({
    INTERNAL_TLS_CA_FILE: process.env.INTERNAL_TLS_CA_FILE,
    INTERNAL_TLS_CERT_FILE: process.env.INTERNAL_TLS_CERT_FILE,
    INTERNAL_TLS_KEY_FILE: process.env.INTERNAL_TLS_KEY_FILE,
    INTERNAL_TLS_REFRESH_MS: 60_000,
    INTERNAL_PLAINTEXT: false,
  }),
  (err, port) => {
    if (err) throw err;
    process.stdout.write(`${port}\n`);
  },
);
process.on('SIGTERM', () => server.forceShutdown());
