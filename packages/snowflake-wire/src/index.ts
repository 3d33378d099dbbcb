// The Snowflake driver REST protocol as both phigate endpoints speak it (the gateway's Snowflake
// door and the local warehouse): pure functions and types, no transport.
export { BindError, type BindValue, decodeBindings } from './bindings.js';
export { decodeBody } from './body.js';
export { LOGIN, SQL, STATEMENT_TYPE, statementTypeId } from './codes.js';
export { type Envelope, IN_PROGRESS, IN_PROGRESS_ASYNC, inProgress, loginRefusal, ok, sessionExpired, sessionTokenOf, sqlError } from './envelope.js';
export { formatParameters, loginParameters, type Parameter } from './parameters.js';
export {
  BINARY_LENGTH,
  type ColumnType,
  chunkBody,
  chunkSlices,
  DML_COUNTERS,
  dmlCounters,
  isChunked,
  type ResultParts,
  type RowType,
  resultData,
  rowType,
  type SnowflakeType,
  TEXT_LENGTH,
  textColumn,
} from './result.js';
export { type LoginGrant, loginData, type MonitoringStatus, monitoringData, renewData, type SessionInfo } from './session.js';
