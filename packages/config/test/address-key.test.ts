// Per-client limits (connections per address, reset budget, failed authentications) count an
// IPv6 client by its /64: an attacker rotating through the prefix it was given is one client.
import { describe, expect, it } from "vitest";
import { addressKey } from "../src/index.ts";

describe("addressKey", () => {
  it("keeps an IPv4 address, and unwraps one mapped into IPv6", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::FFFF:127.0.0.1")).toBe("127.0.0.1");
  });

  it("counts every address of one IPv6 /64 as one client, and another /64 apart", () => {
    const a = addressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    expect(a).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2::1")).toBe(a);
    expect(addressKey("2001:0db8:0001:0002:0:0:0:ffff")).toBe(a);
    expect(addressKey("2001:db8:1:2::1%eth0")).toBe(a);
    expect(addressKey("2001:db8:1:3::1")).not.toBe(a);
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1:2:3:4")).toBe("fe80:0:0:0::/64");
  });

  it("gives anything else (unknown, not an address) a key of its own", () => {
    expect(addressKey(undefined)).toBe("unknown");
    expect(addressKey("not an address")).toBe("not an address");
  });
});
