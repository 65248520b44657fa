// The client address: the TCP peer unless it is a trusted proxy, then X-Forwarded-For walked
// right to left past trusted hops only.
import { parseConfig } from "@satellites/config";
import { describe, expect, it } from "vitest";
import { clientAddress, PEER_HEADER, UNKNOWN_CLIENT } from "../src/server/client-address.ts";

const h = (peer: string | null, xff?: string) => new Headers({ ...(peer ? { [PEER_HEADER]: peer } : {}), ...(xff ? { "x-forwarded-for": xff } : {}) });

describe("clientAddress", () => {
  it("is the peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress(h("203.0.113.9", "1.2.3.4"), [])).toBe("203.0.113.9");
    expect(clientAddress(h("203.0.113.9", "1.2.3.4, 5.6.7.8"), [])).toBe("203.0.113.9");
  });

  it("believes X-Forwarded-For only from a trusted peer", () => {
    expect(clientAddress(h("10.0.0.2", "198.51.100.7"), ["10.0.0.0/8"])).toBe("198.51.100.7");
    expect(clientAddress(h("192.0.2.1", "198.51.100.7"), ["10.0.0.0/8"])).toBe("192.0.2.1");
  });

  it("walks right to left and stops at the first untrusted hop (a client cannot prepend itself a new address)", () => {
    // The client sent "6.6.6.6"; the trusted proxy appended the address it saw.
    expect(clientAddress(h("10.0.0.2", "6.6.6.6, 198.51.100.7"), ["10.0.0.0/8"])).toBe("198.51.100.7");
    // Two trusted hops in a row.
    expect(clientAddress(h("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.1.1.1"), ["10.0.0.0/8"])).toBe("198.51.100.7");
  });

  it("treats IPv4-mapped IPv6 peers as IPv4, and trusts loopback by name", () => {
    expect(clientAddress(h("::ffff:127.0.0.1", "198.51.100.7"), ["loopback"])).toBe("198.51.100.7");
    expect(clientAddress(h("::ffff:192.0.2.5"), [])).toBe("192.0.2.5");
  });

  it("is unknown without a peer (an in-process call)", () => {
    expect(clientAddress(h(null, "1.2.3.4"), [])).toBe(UNKNOWN_CLIENT);
  });
});

describe("TRUSTED_PROXIES", () => {
  it("parses comma-separated CIDRs and names, and defaults to none", () => {
    expect(parseConfig({}).TRUSTED_PROXIES).toEqual([]);
    expect(parseConfig({ TRUSTED_PROXIES: "10.0.0.0/8, 192.168.1.7,loopback,fd00::/8" }).TRUSTED_PROXIES).toEqual(["10.0.0.0/8", "192.168.1.7", "loopback", "fd00::/8"]);
  });

  it.each(["10.0.0.0/33", "example.com", "10.0.0.0/8/1", "1.2.3"])("refuses %s with a message naming the variable", (v) => {
    expect(() => parseConfig({ TRUSTED_PROXIES: v })).toThrow(/TRUSTED_PROXIES must be comma-separated addresses or CIDRs/);
  });
});
