import { runService } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { approvalConfigSchema } from './config.js';

await runService('approval', approvalConfigSchema, buildApp);
