import { loadConfigOrExit } from '@phigate/config';
import { createLogger, installShutdown } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { policyConfigSchema } from './config.js';

const config = loadConfigOrExit(policyConfigSchema, process.env, 'policy');
const log = createLogger({ service: 'policy', level: config.LOG_LEVEL });
const app = buildApp(config, log);
installShutdown(log, () => app.stop());
await app.start();
