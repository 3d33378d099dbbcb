/** Minimal JSON-lines logger (stdout). Never pass tokens or secrets; known-sensitive keys are redacted anyway. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;
export type Logger = (level: LogLevel, event: string, fields?: LogFields) => void;

const SENSITIVE = /secret|token|password|authorization|assertion|cookie|^d$|private/i;

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = SENSITIVE.test(k) ? '[redacted]' : v;
  }
  return out;
}

export function createLogger(service: string, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (level, event, fields = {}) => {
    const line = JSON.stringify({ ts: new Date().toISOString(), level, service, event, ...redact(fields) });
    write(`${line}\n`);
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = () => {};
