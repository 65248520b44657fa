// Pre-encoded grpc.testing requests for the load generator: the benchmark measures the path,
// so the client does no protobuf work per call. Only the few fields used are encoded.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** One gRPC length-prefixed message (uncompressed). */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** grpc.testing.Empty */
export const EMPTY = frame(Buffer.alloc(0));

/** StreamingOutputCallRequest{ response_parameters: [{size} × count] } */
export function streamingOutputRequest(size: number, count: number): Buffer {
  const param = Buffer.from([0x08, ...varint(size)]);
  const one = Buffer.from([0x12, ...varint(param.length), ...param]);
  return frame(Buffer.concat(Array.from({ length: count }, () => one)));
}
