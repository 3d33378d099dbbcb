import { runService } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { policyConfigSchema } from './config.js';

await runService('policy', policyConfigSchema, buildApp);
