// BuildKit's build steps get a network of their own unless the operator asks for the host's: the
// bridge needs the CNI plugins and iptables, and says what is missing and how to install it; each
// satellite gets its own bridge and subnet, written into its buildkitd.toml.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bridgeNetwork, BuildkitNetworkError, cniConflist, removeSatelliteNetwork, satelliteBridge } from "../src/buildkit-network.ts";
import { buildkitCommand, buildkitConfig } from "../src/local-daemon.ts";

const base = mkdtempSync(join(tmpdir(), "cni-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function pluginDir(name: string, plugins: string[]): string {
  const dir = join(base, name);
  mkdirSync(dir);
  for (const p of plugins) {
    writeFileSync(join(dir, p), "#!/bin/sh\n");
    chmodSync(join(dir, p), 0o755);
  }
  return dir;
}

describe("the network of BuildKit's build steps", () => {
  const full = pluginDir("full", ["bridge", "host-local", "loopback", "firewall", "portmap"]);
  const partial = pluginDir("partial", ["bridge", "loopback"]);
  const iptables = (found: boolean) => (name: string) => name === "iptables" && found;

  it("is the bridge when the CNI plugins and iptables are there", () => {
    expect(bridgeNetwork(full, iptables(true))).toEqual({ mode: "bridge", cniBinDir: full });
  });

  it("refuses, naming the missing plugins, the package and the way out, when the plugins are not all there", () => {
    let err: unknown;
    try {
      bridgeNetwork(partial, iptables(true));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BuildkitNetworkError);
    const message = (err as Error).message;
    expect(message).toContain(`bridge, host-local, loopback, firewall are not all in ${partial}`);
    expect(message).toContain("apt-get install containernetworking-plugins iptables");
    expect(message).toContain("LOCAL_BUILDKIT_NETWORK=host");
  });

  it("refuses without iptables (the bridge's NAT and firewall run it)", () => {
    expect(() => bridgeNetwork(full, iptables(false))).toThrow(/needs iptables on PATH/);
  });

  it("gives each satellite its own bridge and /24, from its port", () => {
    expect(satelliteBridge(21681)).toEqual({ name: "satbk21681", subnet: "10.84.177.0/24" });
    expect(satelliteBridge(1024)).toEqual({ name: "satbk1024", subnet: "10.4.0.0/24" });
    expect(satelliteBridge(65535)).toEqual({ name: "satbk65535", subnet: "10.255.255.0/24" });
    expect(satelliteBridge(65535).name.length).toBeLessThanOrEqual(15); // Linux interface names
  });

  it("runs buildkitd on the satellite's bridge, or on the host's network when asked", () => {
    const daemon = { kind: "buildkit" as const, buildkitd: "/bin/buildkitd", network: { mode: "bridge" as const, cniBinDir: "/usr/lib/cni" } };
    expect(buildkitCommand(daemon)).toContain("--oci-worker-net bridge --oci-cni-binary-dir '/usr/lib/cni'");
    expect(buildkitConfig("/data/i-1", daemon, null, 21681)).toContain('bridgeName = "satbk21681"\nbridgeSubnet = "10.84.177.0/24"');
    const host = { ...daemon, network: { mode: "host" as const } };
    expect(buildkitCommand(host)).toContain("--oci-worker-net host");
    expect(buildkitConfig("/data/i-1", host, null, 21681)).not.toContain("bridge");
  });
  it("networks Earthly's fork (no bridge mode) through a CNI config of the satellite's own, with its GC budget's one-number form", () => {
    const fork = { kind: "buildkit" as const, buildkitd: "/bin/buildkitd", flavor: "earthly" as const, network: { mode: "bridge" as const, cniBinDir: "/usr/lib/cni" } };
    const command = buildkitCommand(fork);
    expect(command).toContain("--oci-worker-net cni --oci-cni-binary-dir '/usr/lib/cni'");
    expect(command).toContain("--oci-worker-gc-keepstorage {diskMB}");
    expect(buildkitConfig("/data/i-1", fork, null, 21681)).toContain('cniConfigPath = "/data/i-1/cni.conflist"');
    expect(JSON.parse(cniConflist(21681))).toEqual({
      cniVersion: "1.0.0",
      name: "satbk21681",
      plugins: [
        { type: "loopback" },
        { type: "bridge", bridge: "satbk21681", isDefaultGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: "10.84.177.0/24" }]] } },
        { type: "firewall", ingressPolicy: "same-bridge" },
      ],
    });
    expect(buildkitCommand({ ...fork, network: { mode: "host" } })).toContain("--oci-worker-net host");
  });
  it.runIf(process.getuid?.() === 0)("a terminated satellite's bridge and address records are removed", async () => {
    const port = 23999;
    const { name } = satelliteBridge(port);
    execFileSync("ip", ["link", "add", name, "type", "bridge"]);
    mkdirSync(`/var/lib/cni/networks/${name}`, { recursive: true });
    writeFileSync(`/var/lib/cni/networks/${name}/10.93.175.2`, "x");
    await removeSatelliteNetwork(port);
    expect(() => execFileSync("ip", ["link", "show", name], { stdio: "pipe" })).toThrow();
    expect(existsSync(`/var/lib/cni/networks/${name}`)).toBe(false);
    await removeSatelliteNetwork(port); // nothing left: no error
  });
});
