// What per-client limits count by: an IPv4 address as it is, an IPv6 client by its /64. One
// host (or one customer's network) is usually given a whole /64, so counting by the full address
// would let a client rotating through its own prefix meet only the global caps.
import { isIPv4, isIPv6 } from "node:net";

/** The key per-client limits count `address` under; anything unparseable is its own key. */
export function addressKey(address: string | undefined): string {
  if (!address) return "unknown";
  const plain = address.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  if (mapped) return mapped[1]!;
  if (isIPv4(plain) || !isIPv6(plain)) return address;
  return `${expand(plain).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros ("2001:db8::1" → 2001, db8, 0, …, 1). */
function expand(address: string): string[] {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  // An embedded IPv4 tail ("::1.2.3.4") stands for two groups; only the first four matter here.
  const h = groups(head);
  const t = groups(tail).flatMap((g) => (g.includes(".") ? ["0", "0"] : [g]));
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => "0");
  return [...h, ...zeros, ...t].map((g) => (parseInt(g, 16) || 0).toString(16));
}
