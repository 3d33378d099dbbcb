// A bare gRPC unary echo in its own process: the baseline every gRPC-bound figure is divided by.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ECHO_DEFINITION } from './echo-definition.js';

const server = new Server();
server.addService(ECHO_DEFINITION, { echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request) });
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${port}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
