export { createLogger, type Logger, type LoggerOptions, REDACT_PATHS } from './logger.js';
export { Counter, createMetrics, Gauge, Histogram, Registry } from './metrics.js';
export { listeningPort, type OpsOptions, type ReadinessCheck, registerOpsRoutes, startOpsServer } from './ops.js';
export { runService, type Service } from './run-service.js';
export { installShutdown } from './shutdown.js';
export { childTrace, type TraceContext, traceIdOf } from './trace.js';
