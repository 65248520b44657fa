// "Which client sent this request", the one answer for rate limits, sessions and the audit
// log. The TCP peer is the client unless it is one of TRUSTED_PROXIES; then X-Forwarded-For
// is walked right to left past trusted hops only (proxy-addr), so a client cannot pick its own
// address by sending the header itself.
import { config } from "@satellites/config";
import proxyaddr from "proxy-addr";

/**
 * The TCP peer's address. Set by the web server (server.mjs) on every request after dropping
 * whatever the client sent under this name; Next.js itself only fills X-Forwarded-For when
 * the client did not, which would let a client choose it.
 */
export const PEER_HEADER = "x-satellites-peer";

/** Used when the peer is unknown (an in-process call, or `next dev` without server.mjs). */
export const UNKNOWN_CLIENT = "unknown";

type Trust = (addr: string, hop: number) => boolean;
let compiled: { from: string[]; trust: Trust } | undefined;

function trustOf(proxies: string[]): Trust {
  if (compiled?.from !== proxies) compiled = { from: proxies, trust: proxyaddr.compile(proxies) };
  return compiled.trust;
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
function normalize(addr: string): string {
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

/** The client address of a request, from its headers; UNKNOWN_CLIENT without a peer. */
export function clientAddress(headers: Headers, trustedProxies: string[] = config().TRUSTED_PROXIES): string {
  const peer = headers.get(PEER_HEADER)?.trim();
  if (!peer) return UNKNOWN_CLIENT;
  const xff = headers.get("x-forwarded-for") ?? undefined;
  // proxy-addr reads a Node request; these are the only fields it looks at.
  const req = { socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers: xff ? { "x-forwarded-for": xff } : {} };
  return normalize(proxyaddr(req as never, trustOf(trustedProxies)));
}
