// The Connect card's setups are the documentation's: docs/clients.md shows exactly the lines
// clientSetups renders (the tests run the same lines against real clients).
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { clientSetups } from "../src/connect.ts";

describe("client setups", () => {
  it("docs/clients.md shows each setup verbatim", async () => {
    const doc = await readFile(new URL("../../../docs/clients.md", import.meta.url), "utf8");
    const s = clientSetups({ address: "satellites.example.com:8372", satellite: "my-satellite" });
    for (const [name, code] of Object.entries(s)) expect(doc, name).toContain("```sh\n" + code + "\n```");
  });

  it("name the satellite's bundle paths, the proxy address and nothing a shell could misread", () => {
    const s = clientSetups({ address: "10.0.0.5:8372", satellite: "ci-1" });
    expect(s.buildctl).toContain("--addr tcp://10.0.0.5:8372");
    expect(s.buildctl).toContain("--tlscert $HOME/.satellites/ci-1/client.pem");
    expect(s.buildx).toContain("docker buildx create --name ci-1 --driver remote");
    expect(s.buildx).toContain("cacert=$HOME/.satellites/ci-1/ca.pem,cert=$HOME/.satellites/ci-1/client.pem,key=$HOME/.satellites/ci-1/client-key.pem");
    expect(s.earthbuild).toContain("  buildkit_host: tcp://10.0.0.5:8372");
    expect(() => clientSetups({ address: "x:1; rm -rf /", satellite: "ci-1" })).toThrow(RangeError);
    expect(() => clientSetups({ address: "x:1", satellite: "$(id)" })).toThrow(RangeError);
  });
});
