import { loadConfigOrExit } from '@phigate/config';
import { createLogger, installShutdown } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { maskingConfigSchema } from './config.js';

const config = loadConfigOrExit(maskingConfigSchema, process.env, 'masking');
const log = createLogger({ service: 'masking', level: config.LOG_LEVEL });
const app = buildApp(config, log);
installShutdown(log, () => app.stop());
await app.start();
