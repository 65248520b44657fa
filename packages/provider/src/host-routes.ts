// The host's IPv4 routes and the arithmetic of IPv4 networks, for keeping the build steps'
// bridges off addresses the host already uses.
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { endianness } from "node:os";

/** "a.b.c.d/n" as a network number and prefix; throws on anything else. */
export function parseCidr(cidr: string): { base: number; prefix: number } {
  const [addr = "", bits = "", extra] = cidr.split("/");
  const prefix = Number(bits);
  if (!isIPv4(addr) || extra !== undefined || !/^\d{1,2}$/.test(bits) || prefix > 32) throw new RangeError(`not an IPv4 network: ${JSON.stringify(cidr)}`);
  const value = addr.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
  return { base: (value & maskOf(prefix)) >>> 0, prefix };
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** One of the host's IPv4 routes (main table). */
export interface HostRoute {
  iface: string;
  subnet: string;
}

/** The host's IPv4 routes, from /proc/net/route (numbers in the host's byte order); [] where there is none. */
export function hostRoutes(text?: string): HostRoute[] {
  if (text === undefined) {
    try {
      text = readFileSync("/proc/net/route", "utf8");
    } catch {
      return [];
    }
  }
  const address = (hex: string) => {
    const bytes = Buffer.from(hex.padStart(8, "0"), "hex");
    return formatIPv4((endianness() === "LE" ? bytes.reverse() : bytes).readUInt32BE(0));
  };
  return text
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^[0-9A-Fa-f]{8}$/.test(f[1]!) && /^[0-9A-Fa-f]{8}$/.test(f[7]!))
    .map((f) => {
      const mask = parseCidr(`${address(f[7]!)}/32`).base;
      // A route's mask is contiguous: its length is one past the leading zeros of its lowest set bit.
      const prefix = mask === 0 ? 0 : 1 + Math.clz32(mask & -mask);
      return { iface: f[0]!, subnet: `${address(f[1]!)}/${prefix}` };
    });
}

/** Whether two networks share an address: they agree on the bits of the shorter prefix. */
export function overlaps(a: string, b: string): boolean {
  const [na, nb] = [parseCidr(a), parseCidr(b)];
  const mask = maskOf(Math.min(na.prefix, nb.prefix));
  return ((na.base & mask) >>> 0) === ((nb.base & mask) >>> 0);
}
