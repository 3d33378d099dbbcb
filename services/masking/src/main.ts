import { runService } from '@phigate/telemetry';
import { buildApp } from './app.js';
import { maskingConfigSchema } from './config.js';

await runService('masking', maskingConfigSchema, buildApp);
