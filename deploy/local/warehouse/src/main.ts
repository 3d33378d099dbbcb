/** Warehouse entry point: the only file that reads process.env. Env table in README.md. */
import { exitOnStartupError, loadConfigOrExit } from '@phigate/config';
import { buildWarehouse, configSchema, jsonLogger } from './app.js';

const config = loadConfigOrExit(configSchema, process.env, 'warehouse');
const server = buildWarehouse(config, { log: config.LOG_LEVEL === 'silent' ? () => {} : jsonLogger });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  jsonLogger('info', 'warehouse.stopping', { signal });
  try {
    await server.stop();
    process.exit(0);
  } catch {
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await server.start();
} catch (err) {
  exitOnStartupError(err, 'warehouse');
}
