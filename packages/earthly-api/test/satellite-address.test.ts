// The Earthly CLI never dials 127.0.0.1, ::1 or localhost as a satellite: on Linux, where every
// 127/8 address is loopback, such a plaintext proxy address is handed out as 127.0.0.2.
import { describe, expect, it } from "vitest";
import { earthlySatelliteAddress } from "../src/satellite-address.ts";

describe("the satellite address the Earthly CLI gets", () => {
  it.each(["localhost:8372", "127.0.0.1:8372", "[::1]:8372", "LOCALHOST:8372"])("%s becomes 127.0.0.2:8372 on Linux", (address) => {
    expect(earthlySatelliteAddress(address, { tls: false, platform: "linux" })).toBe("127.0.0.2:8372");
  });

  it.each(["satellites.example.com:8372", "127.0.0.2:9000", "10.0.0.5:8372"])("%s stays as it is", (address) => {
    expect(earthlySatelliteAddress(address, { tls: false, platform: "linux" })).toBe(address);
  });

  it("stays as configured with TLS (the certificate names it) and off Linux (127.0.0.2 may not be loopback there)", () => {
    expect(earthlySatelliteAddress("localhost:8372", { tls: true, platform: "linux" })).toBe("localhost:8372");
    expect(earthlySatelliteAddress("localhost:8372", { tls: false, platform: "darwin" })).toBe("localhost:8372");
  });
});
