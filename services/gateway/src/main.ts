import { runService } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { gatewayConfigSchema } from './config.js';

await runService('gateway', gatewayConfigSchema, buildApp);
