import { CODES, type ErrorCode } from './codes.js';
import { type ErrorKind, GRPC_STATUS, HTTP_STATUS, ErrorKind as Kinds, kindFromGrpcStatus } from './kinds.js';

/** Options for {@link AppError}. */
export interface AppErrorOptions {
  /** Overrides the registry's message. Must never contain PHI, SQL literals or secrets. */
  message?: string;
  /** Safe, structured details for clients and logs (ids, rule names; never values). */
  details?: Record<string, unknown>;
  cause?: unknown;
  retriable?: boolean;
}

/** The one error type of phigate: a registered code, a kind, and whether retrying may help. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, opts: AppErrorOptions = {}) {
    const spec = CODES[code];
    super(opts.message ?? spec.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.kind = spec.kind;
    this.retriable = opts.retriable ?? ('retriable' in spec ? spec.retriable : false);
    this.details = Object.freeze({ ...(opts.details ?? {}) });
  }

  /** HTTP status for this error's kind. */
  get httpStatus(): number {
    return HTTP_STATUS[this.kind];
  }

  /** gRPC status for this error's kind. */
  get grpcStatus(): number {
    return GRPC_STATUS[this.kind];
  }

  /** The HTTP body shape shared by every service: `{statusCode, code, error, message, ...details}`. */
  toHttpBody(): Record<string, unknown> {
    return { ...this.details, statusCode: this.httpStatus, code: this.code, error: this.kind, message: this.message };
  }
}

/** True when `err` is an {@link AppError} (across package copies too). */
export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError || (err instanceof Error && err.name === 'AppError' && 'code' in err && 'kind' in err);
}

/** Wraps anything thrown into an AppError; unknown errors become `fallback` with the original as cause. */
export function toAppError(err: unknown, fallback: ErrorCode = 'COMMON_INTERNAL'): AppError {
  if (isAppError(err)) return err;
  return new AppError(fallback, { cause: err });
}

/** gRPC metadata key that carries our error code across a gRPC hop. */
export const GRPC_CODE_METADATA_KEY = 'phigate-error-code';

/** True when `code` is a registered error code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(CODES, code);
}

/** Rebuilds an AppError from a gRPC status and our metadata code, when present. */
export function fromGrpc(status: number, code: string | undefined, fallback: ErrorCode): AppError {
  if (isErrorCode(code)) return new AppError(code);
  const kind = kindFromGrpcStatus(status);
  return new AppError(fallback, { retriable: kind === Kinds.UNAVAILABLE || kind === Kinds.DEADLINE_EXCEEDED });
}
