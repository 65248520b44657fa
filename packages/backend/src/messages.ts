// Shapes of the grpc.testing messages as @grpc/proto-loader produces and accepts them with
// LOADER_OPTIONS. Everything is optional: decoded messages have defaults filled in, while
// hand-written outgoing ones usually set only what they need.

export type Empty = Record<string, never>;

export interface Payload {
  type?: "COMPRESSABLE";
  body?: Uint8Array;
}

export interface EchoStatus {
  code?: number;
  message?: string;
}

export interface ResponseParameters {
  size?: number;
  interval_us?: number;
}

export interface SimpleRequest {
  response_size?: number;
  payload?: Payload | null;
  response_status?: EchoStatus | null;
}

export interface SimpleResponse {
  payload?: Payload | null;
}

export interface StreamingInputCallRequest {
  payload?: Payload | null;
}

export interface StreamingInputCallResponse {
  aggregated_payload_size?: number;
}

export interface StreamingOutputCallRequest {
  response_parameters?: ResponseParameters[];
  payload?: Payload | null;
  response_status?: EchoStatus | null;
}

export interface StreamingOutputCallResponse {
  payload?: Payload | null;
}

// Serialisation copies the bytes, so one zero-filled buffer can back every small payload.
// Larger ones are allocated per call rather than pinning many MiB per process forever.
const SHARED_ZEROS = Buffer.alloc(1 << 20);

/** A COMPRESSABLE payload of `size` zero bytes, as the interop spec asks for. */
export function zeroPayload(size: number | undefined): Payload {
  const n = size !== undefined && size > 0 ? size : 0;
  const body = n <= SHARED_ZEROS.length ? SHARED_ZEROS.subarray(0, n) : Buffer.alloc(n);
  return { type: "COMPRESSABLE", body };
}

/** The status a request asks the server to fail with, if any (code 0 means "don't fail"). */
export function requestedFailure(status: EchoStatus | null | undefined): { code: number; details: string } | null {
  if (!status?.code) return null;
  return { code: status.code, details: status.message ?? "" };
}
