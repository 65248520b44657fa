// The few pieces of the gRPC-over-HTTP/2 wire format the proxy itself must speak: status codes,
// grpc-message encoding, and the grpc-timeout header. Everything else passes through as bytes.

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

const NAMES = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));
export function statusName(code: number): string {
  return NAMES.get(code) ?? String(code);
}

/** A refusal decided by the proxy itself (never by the upstream). */
export class GrpcError extends Error {
  override name = "GrpcError";
  constructor(
    readonly code: StatusCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** grpc-message is percent-encoded (gRPC spec: anything outside printable ASCII, and '%'). */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Milliseconds from a grpc-timeout value ("100m", "5S"…); undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * (UNITS[m[2]!] ?? 1);
}

/** The shortest exact-enough grpc-timeout for `ms` (at most 8 digits, per the spec). */
export function formatGrpcTimeout(ms: number): string {
  const us = Math.max(1, Math.floor(ms * 1000));
  if (us < 1e8) return `${us}u`;
  const msInt = Math.floor(ms);
  if (msInt < 1e8) return `${msInt}m`;
  const s = Math.floor(ms / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.floor(s / 60))}M`;
}

