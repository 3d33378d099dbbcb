import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { AppError, type ErrorCode, fromGrpc, GRPC_CODE_METADATA_KEY, toAppError } from '@phigate/errors';

/** Maps an AppError (or anything thrown) to a gRPC error with our code in metadata. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const app = toAppError(err);
  const metadata = new Metadata();
  metadata.set(GRPC_CODE_METADATA_KEY, app.code);
  return { code: app.grpcStatus, details: app.message, metadata };
}

/**
 * Maps an error from a gRPC call back to an AppError. Transport failures (peer down, deadline)
 * become `unavailable`, so callers fail closed with a retriable, specific error.
 */
export function fromGrpcError(err: unknown, unavailable: ErrorCode, fallback: ErrorCode): AppError {
  const e = err as Partial<ServiceError>;
  if (typeof e?.code !== 'number') return toAppError(err, fallback);
  if (e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED || e.code === status.CANCELLED) {
    return new AppError(unavailable, { cause: err });
  }
  const code = e.metadata?.get(GRPC_CODE_METADATA_KEY)[0];
  return fromGrpc(e.code, typeof code === 'string' ? code : undefined, fallback);
}
