// Who is on the other end of a call, from grpc-js's peer string.

/** The client's address ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678" → "1.2.3.4", "::1"); null if unknown. */
export function peerAddress(call: { getPeer(): string }): string | null {
  const m = call.getPeer().match(/^(?:ipv4:)?([\d.]+):\d+$|^(?:ipv6:)?\[([^\]]+)\]:\d+$/);
  return m ? (m[1] ?? m[2] ?? null) : null;
}
