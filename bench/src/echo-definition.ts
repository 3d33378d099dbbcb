/** The bare gRPC echo both sides of the baseline use: raw bytes in, the same bytes out. */
const identity = (b: Buffer) => b;

export const ECHO_DEFINITION = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;
