import { runService } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { auditConfigSchema } from './config.js';

await runService('audit', auditConfigSchema, buildApp);
