// BuildKit's build steps get a network of their own unless the operator asks for the host's: the
// bridge needs the CNI plugins and iptables, and says what is missing and how to install it; each
// satellite gets its own bridge and subnet, written into its buildkitd.toml.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bridgeConflicts, bridgeNetwork, BuildkitNetworkError, cniConflist, removeSatelliteNetwork, satelliteBridge, subnetCount } from "../src/buildkit-network.ts";
import { hostRoutes } from "../src/host-routes.ts";
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
    expect(bridgeNetwork({ cniBinDir: full }, iptables(true))).toEqual({ mode: "bridge", cniBinDir: full, subnets: "10.0.0.0/8" });
    expect(bridgeNetwork({ cniBinDir: full, subnets: "172.30.0.0/16" }, iptables(true))).toEqual({ mode: "bridge", cniBinDir: full, subnets: "172.30.0.0/16" });
  });

  it("refuses, naming the missing plugins, the package and the way out, when the plugins are not all there", () => {
    let err: unknown;
    try {
      bridgeNetwork({ cniBinDir: partial }, iptables(true));
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
    expect(() => bridgeNetwork({ cniBinDir: full }, iptables(false))).toThrow(/needs iptables on PATH/);
  });

  // /proc/net/route of a host on 10.84.0.0/16 (a VPC, say), with a running satellite's bridge.
  const routeTable = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t0100540A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
    "eth0\t0000540A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
    "satbk22993\t00D1590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    "",
  ].join("\n");

  it("reads the host's routes from /proc/net/route", () => {
    expect(hostRoutes(routeTable)).toEqual([
      { iface: "eth0", subnet: "0.0.0.0/0" },
      { iface: "eth0", subnet: "10.84.0.0/16" },
      { iface: "satbk22993", subnet: "10.89.209.0/24" },
    ]);
    expect(hostRoutes().length).toBeGreaterThan(0); // this machine's own table parses
  });

  it("finds the host's routes a satellite's /24 would shadow: not the default route, not its own bridge", () => {
    const routes = hostRoutes(routeTable);
    expect(bridgeConflicts(21681, "10.0.0.0/8", routes)).toEqual([{ iface: "eth0", subnet: "10.84.0.0/16" }]);
    expect(bridgeConflicts(22993, "10.0.0.0/8", routes)).toEqual([]); // its own bridge, from its previous run
    expect(bridgeConflicts(21000, "10.0.0.0/8", routes)).toEqual([]); // 10.82.8.0/24
    // Another pool put 22001's old bridge where 21000's /24 now is: that one is in the way.
    expect(bridgeConflicts(21000, "10.89.0.0/16", [...routes, { iface: "satbk22993", subnet: "10.89.8.0/24" }])).toEqual([{ iface: "satbk22993", subnet: "10.89.8.0/24" }]);
  });

  it("refuses at start when the satellites' subnets overlap the host's routes, naming the routes, the ports and the setting", () => {
    const routes = hostRoutes(routeTable);
    expect(() => bridgeNetwork({ cniBinDir: full, ports: [21000, 22999], routes }, iptables(true))).toThrow(
      "overlap routes this host already has: 10.84.0.0/16 on eth0 (ports 21504-21759). A bridge there would take that traffic from the host; set LOCAL_BUILDKIT_SUBNETS to a range the host does not use",
    );
    expect(bridgeNetwork({ cniBinDir: full, subnets: "172.30.0.0/16", ports: [21000, 21255], routes }, iptables(true))).toMatchObject({ subnets: "172.30.0.0/16" });
  });

  it("draws each satellite's /24 from the configured range, one per port", () => {
    expect(subnetCount("10.0.0.0/8")).toBe(65_536);
    expect(subnetCount("172.30.0.0/16")).toBe(256);
    expect(satelliteBridge(21000, "172.30.0.0/16")).toEqual({ name: "satbk21000", subnet: "172.30.8.0/24" });
    expect(satelliteBridge(21255, "172.30.0.0/16").subnet).toBe("172.30.7.0/24");
    const ports = Array.from({ length: 256 }, (_, i) => 21000 + i);
    expect(new Set(ports.map((p) => satelliteBridge(p, "172.30.0.0/16").subnet)).size).toBe(256);
    expect(satelliteBridge(21000, "192.168.77.0/24").subnet).toBe("192.168.77.0/24");
  });

  it("gives each satellite its own bridge and /24, from its port", () => {
    expect(satelliteBridge(21681)).toEqual({ name: "satbk21681", subnet: "10.84.177.0/24" });
    expect(satelliteBridge(1024)).toEqual({ name: "satbk1024", subnet: "10.4.0.0/24" });
    expect(satelliteBridge(65535)).toEqual({ name: "satbk65535", subnet: "10.255.255.0/24" });
    expect(satelliteBridge(65535).name.length).toBeLessThanOrEqual(15); // Linux interface names
  });

  it("runs buildkitd on the satellite's bridge, or on the host's network when asked", () => {
    const daemon = { kind: "buildkit" as const, buildkitd: "/bin/buildkitd", network: { mode: "bridge" as const, cniBinDir: "/usr/lib/cni", subnets: "10.0.0.0/8" } };
    expect(buildkitCommand(daemon)).toContain("--oci-worker-net bridge --oci-cni-binary-dir '/usr/lib/cni'");
    expect(buildkitConfig("/data/i-1", daemon, null, 21681)).toContain('bridgeName = "satbk21681"\nbridgeSubnet = "10.84.177.0/24"');
    const pooled = { ...daemon, network: { ...daemon.network, subnets: "172.30.0.0/16" } };
    expect(buildkitConfig("/data/i-1", pooled, null, 21681)).toContain('bridgeSubnet = "172.30.177.0/24"');
    const host = { ...daemon, network: { mode: "host" as const } };
    expect(buildkitCommand(host)).toContain("--oci-worker-net host");
    expect(buildkitConfig("/data/i-1", host, null, 21681)).not.toContain("bridge");
  });
  it("networks Earthly's fork (no bridge mode) through a CNI config of the satellite's own, with its GC budget's one-number form", () => {
    const fork = { kind: "buildkit" as const, buildkitd: "/bin/buildkitd", flavor: "earthly" as const, network: { mode: "bridge" as const, cniBinDir: "/usr/lib/cni", subnets: "10.0.0.0/8" } };
    const command = buildkitCommand(fork);
    expect(command).toContain("--oci-worker-net cni --oci-cni-binary-dir '/usr/lib/cni'");
    expect(command).toContain("--oci-worker-gc-keepstorage {diskMB}");
    expect(buildkitConfig("/data/i-1", fork, null, 21681)).toContain('cniConfigPath = "/data/i-1/cni.conflist"');
    expect(JSON.parse(cniConflist(satelliteBridge(21681)))).toEqual({
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
