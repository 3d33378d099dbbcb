import { type Env, exitOnStartupError, loadConfigOrExit, type z } from '@phigate/config';
import { createLogger, type Logger } from './logger.js';
import { installShutdown } from './shutdown.js';

/** What every service's app.ts builds: nothing runs until start(). */
export interface Service {
  start(): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * The whole of a service's main.ts: config validated once (every problem at once), the logger,
 * graceful SIGTERM, and start-up failures as one JSON line and exit 1.
 */
export async function runService<S extends z.ZodObject>(
  service: string,
  schema: S,
  build: (config: Readonly<z.infer<S>>, log: Logger) => Service,
  env: Env = process.env,
): Promise<void> {
  const config = loadConfigOrExit(schema, env, service);
  const log = createLogger({ service, level: (config as { LOG_LEVEL?: string }).LOG_LEVEL ?? 'info' });
  try {
    const app = build(config, log);
    installShutdown(log, () => app.stop());
    await app.start();
  } catch (err) {
    log.flush();
    exitOnStartupError(err, service);
  }
}
