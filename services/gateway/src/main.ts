import { loadConfigOrExit } from '@phigate/config';
import { createLogger, installShutdown } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { gatewayConfigSchema } from './config.js';

const config = loadConfigOrExit(gatewayConfigSchema, process.env, 'gateway');
const log = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
const app = buildApp(config, log);
installShutdown(log, () => app.stop());
await app.start();
