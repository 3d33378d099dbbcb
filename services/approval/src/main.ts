import { loadConfigOrExit } from '@phigate/config';
import { createLogger, installShutdown } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { approvalConfigSchema } from './config.js';

const config = loadConfigOrExit(approvalConfigSchema, process.env, 'approval');
const log = createLogger({ service: 'approval', level: config.LOG_LEVEL });
const app = buildApp(config, log);
installShutdown(log, () => app.stop());
await app.start();
