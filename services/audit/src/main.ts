import { loadConfigOrExit } from '@phigate/config';
import { createLogger, installShutdown } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { auditConfigSchema } from './config.js';

const config = loadConfigOrExit(auditConfigSchema, process.env, 'audit');
const log = createLogger({ service: 'audit', level: config.LOG_LEVEL });
const app = buildApp(config, log);
installShutdown(log, () => app.stop());
await app.start();
