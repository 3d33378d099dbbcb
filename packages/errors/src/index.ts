export { AppError, type AppErrorOptions, fromGrpc, GRPC_CODE_METADATA_KEY, isAppError, isErrorCode, toAppError } from './app-error.js';
export { CODES, type ErrorCode } from './codes.js';
export { ErrorKind, GRPC_STATUS, HTTP_STATUS, kindFromGrpcStatus, SQLSTATE } from './kinds.js';
export { type RetryOptions, retry } from './retry.js';
