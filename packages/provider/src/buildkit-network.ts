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
export type BuildkitNetwork = { mode: "bridge"; cniBinDir: string } | { mode: "host" };

/** Where distributions put the CNI plugins (Debian's containernetworking-plugins; upstream's tarball). */
export const CNI_BIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
/** The plugins BuildKit's bridge mode chains; its ipMasq and firewall run iptables. */
const CNI_PLUGINS = ["bridge", "host-local", "loopback", "firewall"];

export class BuildkitNetworkError extends Error {}

/**
 * The bridge network for BuildKit's steps, with the CNI plugins from `cniBinDir` (or the first of
 * CNI_BIN_DIRS that has them); an error naming what is missing and how to install it otherwise.
 */
export function bridgeNetwork(cniBinDir?: string, executable: (name: string) => boolean = onPath): BuildkitNetwork {
  const dirs = cniBinDir ? [cniBinDir] : CNI_BIN_DIRS;
  const dir = dirs.find((d) => CNI_PLUGINS.every((p) => isExecutable(join(d, p))));
  const install = "Debian: apt-get install containernetworking-plugins iptables";
  if (!dir) {
    throw new BuildkitNetworkError(
      `BuildKit's build steps need a network of their own: the CNI plugins ${CNI_PLUGINS.join(", ")} are not all in ${dirs.join(" or ")} (${install}; or set LOCAL_CNI_BIN_DIR). LOCAL_BUILDKIT_NETWORK=host shares the host's network with build steps instead: they then reach every service on its loopback`,
    );
  }
  if (!executable("iptables")) throw new BuildkitNetworkError(`BuildKit's bridge network for build steps needs iptables on PATH (${install})`);
  return { mode: "bridge", cniBinDir: dir };
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
 * port p is 10.(p >> 8).(p & 255).0/24 on bridge "satbk<p>". Distinct bridges keep one tenant's
 * steps from another's (the firewall plugin's same-bridge policy), distinct subnets keep the
 * host's routes apart.
 */
export function satelliteBridge(port: number): { name: string; subnet: string } {
  return { name: `satbk${port}`, subnet: `10.${port >> 8}.${port & 255}.0/24` };
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
  const bridge = satelliteBridge(port);
  return [`bridgeName = ${JSON.stringify(bridge.name)}`, `bridgeSubnet = ${JSON.stringify(bridge.subnet)}`];
}

const CNI_CONFIG_FILE = "cni.conflist";

/**
 * The CNI chain moby's bridge mode builds (util/network/cniprovider/bridge.go), for a daemon that
 * reads it from a file: loopback; the satellite's bridge as the default gateway with NAT and its
 * own /24; and the firewall's same-bridge policy, so steps of other satellites stay out.
 */
export function cniConflist(port: number): string {
  const bridge = satelliteBridge(port);
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

/** Files the network needs besides buildkitd.toml: the CNI config of a fork's satellite. */
export async function writeNetworkFiles(dir: string, network: BuildkitNetwork, flavor: BuildkitFlavor, port: number): Promise<void> {
  if (network.mode === "bridge" && flavor !== "moby") await writeFile(join(dir, CNI_CONFIG_FILE), cniConflist(port) + "\n");
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
