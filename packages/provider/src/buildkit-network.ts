// The network BuildKit's build steps run in on a local satellite. A step on the host's network
// reaches everything bound to the host's loopback — the control plane's Postgres and Redis, the
// other satellites — so by default each step gets a network namespace of its own on its
// satellite's bridge (CNI plugins), with NAT out through the host. moby's buildkitd sets that up
// itself ("bridge" mode); Earthly's fork (BuildKit v0.12 era) has no such mode and is given the
// same chain of plugins as a CNI config file of the satellite's own.
import { execFile, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { formatIPv4, hostRoutes, overlaps, parseCidr, type HostRoute } from "./host-routes.ts";

/** moby BuildKit, or Earthly's fork of it (what the Earthly CLI needs: its exporter, its debugger). */
export type BuildkitFlavor = "moby" | "earthly";

/** Which BuildKit a buildkitd is, from its `--version` ("buildkitd github.com/earthly/buildkit v0.8.14 …"). */
export function buildkitFlavor(buildkitd: string): BuildkitFlavor {
  const r = spawnSync(buildkitd, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (r.error || r.status !== 0) throw new Error(`cannot run ${buildkitd} --version: ${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)}`);
  return /github\.com\/earthly\/buildkit\b/.test(r.stdout) ? "earthly" : "moby";
}

/**
 * Where BuildKit's build steps are networked. "bridge": each step in a network namespace of its
 * own on the satellite's bridge (CNI plugins, NAT out), so the host's loopback services — the
 * control plane's Postgres and Redis among them — and other satellites' bridges are out of its
 * reach. "host": steps share the host's network and reach everything on its loopback: only for a
 * machine that runs nothing else.
 */
export type BuildkitNetwork = { mode: "bridge"; cniBinDir: string; subnets: string } | { mode: "host" };

/** The range the satellites' /24s come from unless LOCAL_BUILDKIT_SUBNETS says otherwise. */
export const DEFAULT_BRIDGE_SUBNETS = "10.0.0.0/8";

/** Where distributions put the CNI plugins (Debian's containernetworking-plugins; upstream's tarball). */
export const CNI_BIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
/** The plugins BuildKit's bridge mode chains; its ipMasq and firewall run iptables. */
const CNI_PLUGINS = ["bridge", "host-local", "loopback", "firewall"];

export class BuildkitNetworkError extends Error {}

export interface BridgeOptions {
  /** Where the CNI plugins are; unset: the first of CNI_BIN_DIRS that has them. */
  cniBinDir?: string;
  /** The range the satellites' /24s come from (DEFAULT_BRIDGE_SUBNETS). */
  subnets?: string;
  /** The satellites' ports: none of their /24s may overlap a route the host already has. */
  ports?: readonly [number, number];
  /** The host's routes (read from /proc/net/route unless given). */
  routes?: HostRoute[];
}

/**
 * The bridge network for BuildKit's steps, with the CNI plugins from `cniBinDir` (or the first of
 * CNI_BIN_DIRS that has them); an error naming what is missing and how to install it otherwise,
 * or which of the host's routes the satellites' subnets would shadow.
 */
export function bridgeNetwork(opts: BridgeOptions = {}, executable: (name: string) => boolean = onPath): BuildkitNetwork {
  const dirs = opts.cniBinDir ? [opts.cniBinDir] : CNI_BIN_DIRS;
  const dir = dirs.find((d) => CNI_PLUGINS.every((p) => isExecutable(join(d, p))));
  const install = "Debian: apt-get install containernetworking-plugins iptables";
  if (!dir) {
    throw new BuildkitNetworkError(
      `BuildKit's build steps need a network of their own: the CNI plugins ${CNI_PLUGINS.join(", ")} are not all in ${dirs.join(" or ")} (${install}; or set LOCAL_CNI_BIN_DIR). LOCAL_BUILDKIT_NETWORK=host shares the host's network with build steps instead: they then reach every service on its loopback`,
    );
  }
  if (!executable("iptables")) throw new BuildkitNetworkError(`BuildKit's bridge network for build steps needs iptables on PATH (${install})`);
  const subnets = opts.subnets ?? DEFAULT_BRIDGE_SUBNETS;
  if (opts.ports) assertPortsRouteFree(subnets, opts.ports, opts.routes ?? hostRoutes());
  return { mode: "bridge", cniBinDir: dir, subnets };
}

/** At start: which ports' /24s the host already routes elsewhere (a VPN, the LAN, a VPC). */
function assertPortsRouteFree(subnets: string, [low, high]: readonly [number, number], routes: HostRoute[]): void {
  const clashes = new Map<string, number[]>();
  for (let port = low; port <= high; port++) {
    for (const route of bridgeConflicts(port, subnets, routes)) {
      const key = `${route.subnet} on ${route.iface}`;
      const ports = clashes.get(key) ?? [];
      ports.push(port);
      clashes.set(key, ports);
    }
  }
  if (clashes.size === 0) return;
  const listed = [...clashes].slice(0, 5).map(([route, ports]) => `${route} (ports ${ports[0]}${ports.length > 1 ? `-${ports.at(-1)}` : ""})`);
  throw new BuildkitNetworkError(
    `the satellites' bridge subnets (a /24 per port of LOCAL_SATELLITE_PORTS ${low}-${high}, from LOCAL_BUILDKIT_SUBNETS ${subnets}) overlap routes this host already has: ${listed.join(", ")}${clashes.size > 5 ? `, and ${clashes.size - 5} more` : ""}. A bridge there would take that traffic from the host; set LOCAL_BUILDKIT_SUBNETS to a range the host does not use`,
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An executable file's path, or undefined: a path (with a slash) as given, a bare name looked up on `pathVar`. */
export function findExecutable(nameOrPath: string, pathVar = process.env.PATH ?? ""): string | undefined {
  const candidates = nameOrPath.includes("/") ? [nameOrPath] : pathVar.split(delimiter).filter(Boolean).map((dir) => join(dir, nameOrPath));
  return candidates.find(isExecutable);
}

const onPath = (name: string): boolean => findExecutable(name) !== undefined;

/**
 * The satellite's own bridge and /24, from its port (unique among the host's running satellites):
 * in a pool of n /24s, port p gets the (p mod n)-th, on bridge "satbk<p>" — with the default
 * 10.0.0.0/8, 10.(p >> 8).(p & 255).0/24. The configuration makes the pool at least as large as
 * the port range, so no two ports share a /24. Distinct bridges keep one tenant's steps from
 * another's (the firewall plugin's same-bridge policy), distinct subnets keep the host's routes apart.
 */
export function satelliteBridge(port: number, subnets = DEFAULT_BRIDGE_SUBNETS): { name: string; subnet: string } {
  const { base, prefix } = parseCidr(subnets);
  const index = port % subnetCount(subnets);
  return { name: `satbk${port}`, subnet: `${formatIPv4((base + index * 256) >>> 0)}/${Math.max(prefix, 24)}` };
}

/** How many /24s a pool holds ("10.0.0.0/8": 65,536); a pool of prefix 24 or longer holds one. */
export function subnetCount(subnets: string): number {
  return 2 ** Math.max(0, 24 - parseCidr(subnets).prefix);
}

/**
 * The host's routes the satellite's /24 would shadow: any but the default route and the
 * satellite's own bridge (left by its previous run). A bridge there would take that traffic.
 */
export function bridgeConflicts(port: number, subnets: string, routes: HostRoute[]): HostRoute[] {
  const bridge = satelliteBridge(port, subnets);
  return routes.filter((r) => parseCidr(r.subnet).prefix > 0 && r.iface !== bridge.name && overlaps(r.subnet, bridge.subnet));
}

/** The network part of buildkitd's command line. */
export function networkFlags(network: BuildkitNetwork, flavor: BuildkitFlavor, quote: (s: string) => string): string {
  if (network.mode === "host") return "--oci-worker-net host";
  if (flavor === "moby") return `--oci-worker-net bridge --oci-cni-binary-dir ${quote(network.cniBinDir)}`;
  // The config file's path goes in buildkitd.toml: --oci-cni-config-path is read under another
  // name and comes out empty (cmd/buildkitd/main_oci_worker.go, moby's and the fork's alike).
  return `--oci-worker-net cni --oci-cni-binary-dir ${quote(network.cniBinDir)}`;
}

/** [worker.oci] lines: the satellite's bridge (moby), or the CNI config file of its own (the fork). */
export function networkTomlLines(dir: string, network: BuildkitNetwork, flavor: BuildkitFlavor, port: number): string[] {
  if (network.mode === "host") return [];
  // TOML basic strings take JSON's escapes.
  if (flavor !== "moby") return [`cniConfigPath = ${JSON.stringify(join(dir, CNI_CONFIG_FILE))}`];
  const bridge = satelliteBridge(port, network.subnets);
  return [`bridgeName = ${JSON.stringify(bridge.name)}`, `bridgeSubnet = ${JSON.stringify(bridge.subnet)}`];
}

const CNI_CONFIG_FILE = "cni.conflist";

/**
 * The CNI chain moby's bridge mode builds (util/network/cniprovider/bridge.go), for a daemon that
 * reads it from a file: loopback; the satellite's bridge as the default gateway with NAT and its
 * own subnet; and the firewall's same-bridge policy, so steps of other satellites stay out.
 */
export function cniConflist(bridge: { name: string; subnet: string }): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: bridge.name,
    plugins: [
      { type: "loopback" },
      { type: "bridge", bridge: bridge.name, isDefaultGateway: true, ipMasq: true, ipam: { type: "host-local", ranges: [[{ subnet: bridge.subnet }]] } },
      { type: "firewall", ingressPolicy: "same-bridge" },
    ],
  }, null, 2);
}

/**
 * Files the network needs besides buildkitd.toml (the CNI config of a fork's satellite), and the
 * host's rules that keep every satellite's steps off link-local and loopback addresses.
 */
export async function writeNetworkFiles(dir: string, network: BuildkitNetwork, flavor: BuildkitFlavor, port: number): Promise<void> {
  if (network.mode !== "bridge") return;
  await sealStepNetworks();
  if (flavor !== "moby") await writeFile(join(dir, CNI_CONFIG_FILE), cniConflist(satelliteBridge(port, network.subnets)) + "\n");
}

/**
 * What no build step may reach through its bridge, whatever the host routes: link-local addresses
 * — on a cloud VM the instance metadata service (169.254.169.254) hands the host's credentials to
 * whoever asks — and loopback (a raw packet to 127.0.0.1 where route_localnet is on). Dropped in
 * the raw table before routing, so it holds for the host's own addresses and forwarded traffic
 * alike, and no CNI rule can come before it. Amazon's DNS resolver (169.254.169.253) stays
 * reachable on port 53: a host whose resolv.conf names it hands that to its steps.
 */
export const STEP_SEALS: readonly string[][] = [
  // In the order `iptables -S` prints them, so a listing shows whether they are in place.
  ["-d", "169.254.169.253/32", "-i", "satbk+", "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"],
  ["-d", "169.254.169.253/32", "-i", "satbk+", "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"],
  ["-d", "169.254.0.0/16", "-i", "satbk+", "-j", "DROP"],
  ["-d", "127.0.0.0/8", "-i", "satbk+", "-j", "DROP"],
];

const iptables = (args: string[]) =>
  new Promise<{ ok: boolean; out: string; err: string }>((resolve) =>
    execFile("iptables", ["-w", "5", ...args], { timeout: 15_000 }, (err, out, stderr) => resolve({ ok: !err, out: String(out), err: String(stderr).trim() })),
  );

/** Puts STEP_SEALS first in the raw table's PREROUTING unless they are there already (one listing per daemon start). */
export async function sealStepNetworks(): Promise<void> {
  const listed = await iptables(["-t", "raw", "-S", "PREROUTING"]);
  if (!listed.ok) throw new BuildkitNetworkError(`cannot read the host's raw PREROUTING rules (iptables -t raw -S PREROUTING): ${listed.err}`);
  const lines = listed.out.split("\n").map((l) => l.trim());
  const want = STEP_SEALS.map((r) => `-A PREROUTING ${r.join(" ")}`);
  // In place and in order (the DNS exceptions before the drop): nothing to do.
  const at = lines.indexOf(want[0]!);
  if (at >= 0 && want.every((w, i) => lines[at + i] === w)) return;
  for (const rule of STEP_SEALS) while ((await iptables(["-t", "raw", "-D", "PREROUTING", ...rule])).ok);
  for (const [i, rule] of STEP_SEALS.entries()) {
    const r = await iptables(["-t", "raw", "-I", "PREROUTING", String(i + 1), ...rule]);
    if (!r.ok) throw new BuildkitNetworkError(`cannot keep build steps off link-local addresses (iptables -t raw -I PREROUTING ${rule.join(" ")}): ${r.err}`);
  }
}

/** Where the host-local IPAM plugin records the addresses it hands out, a folder per network. */
const IPAM_DIR = "/var/lib/cni/networks";

/**
 * What a terminated satellite's network leaves behind: its bridge (the CNI bridge plugin never
 * removes one; moby's daemon removes its own unless it was killed) and the fork's address records.
 */
export async function removeSatelliteNetwork(port: number): Promise<void> {
  const { name } = satelliteBridge(port);
  // Already gone (or no iproute2 on this machine): nothing to undo.
  await new Promise<void>((resolve) => execFile("ip", ["link", "del", name], () => resolve()));
  await rm(join(IPAM_DIR, name), { recursive: true, force: true });
}
