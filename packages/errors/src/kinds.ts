/** The closed set of error kinds; every edge maps each kind exactly once. */
export const ErrorKind = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  NOT_FOUND: 'NOT_FOUND',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  UNAVAILABLE: 'UNAVAILABLE',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  INTERNAL: 'INTERNAL',
} as const;

/** One of {@link ErrorKind}. */
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** HTTP status for each kind. */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = Object.freeze({
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  FAILED_PRECONDITION: 409,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  INTERNAL: 500,
});

/** gRPC status code (numeric, as in @grpc/grpc-js `status`) for each kind. */
export const GRPC_STATUS: Readonly<Record<ErrorKind, number>> = Object.freeze({
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  UNAUTHENTICATED: 16,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  DEADLINE_EXCEEDED: 4,
  INTERNAL: 13,
});

/** SQLSTATE for each kind, for the PostgreSQL wire door. Policy denial uses 42501. */
export const SQLSTATE: Readonly<Record<ErrorKind, string>> = Object.freeze({
  INVALID_ARGUMENT: '22023',
  NOT_FOUND: '42P01',
  PERMISSION_DENIED: '42501',
  UNAUTHENTICATED: '28P01',
  FAILED_PRECONDITION: '55000',
  RESOURCE_EXHAUSTED: '53400',
  UNAVAILABLE: '08006',
  DEADLINE_EXCEEDED: '57014',
  INTERNAL: 'XX000',
});

/** Inverse of {@link GRPC_STATUS}, for errors arriving from a gRPC peer without our metadata. */
export function kindFromGrpcStatus(code: number): ErrorKind {
  for (const [kind, c] of Object.entries(GRPC_STATUS)) if (c === code) return kind as ErrorKind;
  // CANCELLED(1), UNKNOWN(2), ABORTED(10), OUT_OF_RANGE(11), UNIMPLEMENTED(12), DATA_LOSS(15)
  return code === 1 || code === 10 ? ErrorKind.UNAVAILABLE : ErrorKind.INTERNAL;
}
