// A masking client that sends pre-encoded requests, so load tests and benchmarks spend their
// client CPU on the stream rather than on protobuf encoding.
import { type ClientDuplexStream, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { maskingV1 } from '@phigate/proto';

const identity = (b: Buffer) => b;
const RawClient = makeGenericClientConstructor(
  {
    mask: {
      path: maskingV1.MaskingServiceService.mask.path,
      requestStream: true,
      responseStream: true,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  'RawMask',
);

/** Encodes a MaskRequest once. */
export function encodeRequest(req: maskingV1.MaskRequest): Buffer {
  return Buffer.from(maskingV1.MaskRequest.encode(req).finish());
}

/** A raw-bytes client of MaskingService.Mask. */
export function rawMaskClient(address: string): { mask(opts: { deadline: number }): ClientDuplexStream<Buffer, Buffer>; close(): void } {
  return new RawClient(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 }) as unknown as {
    mask(opts: { deadline: number }): ClientDuplexStream<Buffer, Buffer>;
    close(): void;
  };
}
