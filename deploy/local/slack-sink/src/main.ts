/**
 * Slack sink entry point. Env: SLACK_SINK_PORT (9401), SLACK_SINK_HOST (127.0.0.1),
 * SLACK_SINK_RECORD_FILE (unset: memory only; set: also append each record as a JSON line).
 */
import { buildSlackSink, jsonLogger } from './app.js';

const rawPort = process.env.SLACK_SINK_PORT;
const port = rawPort === undefined || rawPort === '' ? 9401 : Number(rawPort);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  jsonLogger('error', 'config.invalid', { variable: 'SLACK_SINK_PORT', value: rawPort });
  process.exit(2);
}
const host = process.env.SLACK_SINK_HOST || '127.0.0.1';
const sink = buildSlackSink({
  port,
  host,
  ...(process.env.SLACK_SINK_RECORD_FILE ? { recordFile: process.env.SLACK_SINK_RECORD_FILE } : {}),
  logger: jsonLogger,
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  jsonLogger('info', 'sink.stopping', { signal });
  try {
    await sink.stop();
    process.exit(0);
  } catch (err) {
    jsonLogger('error', 'sink.stop_failed', { error: (err as Error).message });
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await sink.start();
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  jsonLogger('error', 'sink.start_failed', {
    error: e.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : e.message,
  });
  process.exit(1);
}
