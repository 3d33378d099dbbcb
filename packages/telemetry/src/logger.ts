import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Paths that are always censored. Logs carry constant messages plus ids and counts; these paths
 * are a second line of defence should a token, credential, statement or row ever reach a logger.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'sql',
  '*.sql',
  'statement',
  '*.statement',
  'rows',
  '*.rows',
  'params',
  '*.params',
  'connectionString',
  '*.connectionString',
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  service: string;
  level?: string;
  /** Destination stream; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

/** Creates the service's pino logger: JSON lines, ISO time, redaction on. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.service,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { service: opts.service },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
