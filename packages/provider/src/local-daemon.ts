// Which program a local satellite runs, and the command line and files it needs: the built-in
// gRPC backend (zero install), moby BuildKit (`buildkitd` with the OCI worker and runc), or an
// operator's own command template. Every one of them serves TLS requiring a client certificate
// from the control plane's CA when the provider has one.
import { accessSync, constants } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";
import { DISK_PLACEHOLDERS, type Limits } from "@satellites/catalog";
import type { TlsMaterial } from "@satellites/pki";
import type { CgroupSet } from "./cgroup.ts";

export type LocalDaemon =
  | { kind: "builtin" }
  | { kind: "buildkit"; buildkitd: string; runc?: string; network: BuildkitNetwork }
  | { kind: "command"; template: string };

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

function onPath(name: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((d) => d && isExecutable(join(d, name)));
}

/**
 * The satellite's own bridge and /24, from its port (unique among the host's running satellites):
 * port p is 10.(p >> 8).(p & 255).0/24 on bridge "satbk<p>". Distinct bridges keep one tenant's
 * steps from another's (the firewall plugin's same-bridge policy), distinct subnets keep the
 * host's routes apart.
 */
export function satelliteBridge(port: number): { name: string; subnet: string } {
  return { name: `satbk${port}`, subnet: `10.${port >> 8}.${port & 255}.0/24` };
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const TLS_FLAGS_BUILTIN = " --tls-ca {tlsCa} --tls-cert {tlsCert} --tls-key {tlsKey}";
// buildkitd requires and verifies client certificates once --tlscacert is given.
const TLS_FLAGS_BUILDKIT = " --tlscacert {tlsCa} --tlscert {tlsCert} --tlskey {tlsKey}";

/** The built-in backend, run by this Node with tsx (resolved here: --import is cwd-relative). */
export function defaultLocalCommand(): string {
  const require = createRequire(import.meta.url);
  const tsx = pathToFileURL(require.resolve("tsx")).href;
  const main = require.resolve("@satellites/backend/main");
  return [process.execPath, "--import", tsx, main].map(shellQuote).join(" ") + " --host {host} --port {port}";
}

/**
 * buildkitd for one satellite: its own root and config under the satellite's directory, the OCI
 * worker only, its steps' network, and the disk limit as the cache's GC budget
 * ("reserved,free,max" in MB). The network is on the command line, not only in the config file,
 * so that a satellite still running with another one is restarted at its next wake (`outdated`).
 */
export function buildkitCommand(buildkitd: string, network: BuildkitNetwork): string {
  return [
    shellQuote(buildkitd),
    "--config {dir}/buildkitd.toml",
    "--root {dir}/buildkit",
    "--addr tcp://{host}:{port}",
    "--oci-worker=true --containerd-worker=false",
    network.mode === "bridge" ? `--oci-worker-net bridge --oci-cni-binary-dir ${shellQuote(network.cniBinDir)}` : "--oci-worker-net host",
    "--oci-worker-gc --oci-worker-gc-keepstorage 0,0,{diskMB}",
  ].join(" ");
}

/** The command template a daemon runs, TLS flags included when the hop is mutual TLS. */
export function daemonTemplate(daemon: LocalDaemon, tls: boolean): string {
  switch (daemon.kind) {
    case "builtin":
      return defaultLocalCommand() + (tls ? TLS_FLAGS_BUILTIN : "");
    case "buildkit":
      return buildkitCommand(daemon.buildkitd, daemon.network) + (tls ? TLS_FLAGS_BUILDKIT : "");
    case "command":
      // The operator's template places {tlsCa}/{tlsCert}/{tlsKey} itself (without them the
      // satellite speaks plaintext, and the health probe, which insists on TLS, never passes).
      return daemon.template;
  }
}

export interface CommandValues {
  host: string;
  port: number;
  /** The instance's own directory (e.g. for buildkitd --root). */
  dir: string;
  limits: Pick<Limits, "diskGiB">;
}

/** Where a satellite's TLS files live (written at each start). */
export function tlsFiles(dir: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, "tls", "ca.pem"), cert: join(dir, "tls", "cert.pem"), key: join(dir, "tls", "key.pem") };
}

/**
 * The satellite's command line. Besides {host} and {port}: {dir} (as is: the operator's
 * LOCAL_DATA_DIR and a generated id, nothing a tenant chooses), the TLS files ({tlsCa},
 * {tlsCert}, {tlsKey}), and the disk limit (DISK_PLACEHOLDERS), so a build daemon's cache
 * budget follows the satellite's disk limit.
 */
export function renderCommand(template: string, v: CommandValues): string {
  const tls = tlsFiles(v.dir);
  let line = template
    .replaceAll("{port}", String(v.port))
    .replaceAll("{host}", v.host)
    .replaceAll("{dir}", v.dir)
    .replaceAll("{tlsCa}", tls.ca)
    .replaceAll("{tlsCert}", tls.cert)
    .replaceAll("{tlsKey}", tls.key);
  for (const [placeholder, value] of Object.entries(DISK_PLACEHOLDERS)) line = line.replaceAll(placeholder, value(v.limits));
  return line;
}

/** Writes the satellite's certificate, key (owner-only) and the CA its clients must carry. */
export async function writeTlsFiles(dir: string, material: TlsMaterial): Promise<void> {
  const files = tlsFiles(dir);
  await mkdir(join(dir, "tls"), { recursive: true, mode: 0o700 });
  await writeFile(files.ca, material.caPem);
  await writeFile(files.cert, material.certPem);
  await writeFile(files.key, material.keyPem, { mode: 0o600 });
}

function tomlString(s: string): string {
  // TOML basic strings take JSON's escapes for everything a path can hold.
  return JSON.stringify(s);
}

/**
 * buildkitd.toml: the OCI worker puts each build step's container under the satellite's own
 * cgroup (`<path>/buildkit/<id>`), so its CPU quota, memory, swap, freezer and OOM score apply
 * to RUN steps; without it BuildKit picks the absolute `/buildkit/<id>`, outside every limit.
 */
export function buildkitConfig(dir: string, daemon: Extract<LocalDaemon, { kind: "buildkit" }>, cgroup: CgroupSet | null, port: number): string {
  const lines = [
    "# Written by the local provider at each start.",
    "[otel]",
    // The default (/run/buildkit/otel-grpc.sock) would be shared by every satellite on the host.
    `socketPath = ${tomlString(join(dir, "otel.sock"))}`,
    "[worker.oci]",
    "enabled = true",
    `binary = ${tomlString(daemon.runc ?? "runc")}`,
    ...networkLines(daemon.network, port),
  ];
  if (cgroup?.path) lines.push(`defaultCgroupParent = ${tomlString(cgroup.path)}`);
  lines.push("[worker.containerd]", "enabled = false", "");
  return lines.join("\n");
}

/** The satellite's bridge (the mode and the plugins' directory are on the command line). */
function networkLines(network: BuildkitNetwork, port: number): string[] {
  if (network.mode === "host") return [];
  const bridge = satelliteBridge(port);
  return [`bridgeName = ${tomlString(bridge.name)}`, `bridgeSubnet = ${tomlString(bridge.subnet)}`];
}

/** Whether the daemon's build steps stay inside the satellite's cgroup (so its limits hold). */
export function stepsConfined(daemon: LocalDaemon, cgroup: CgroupSet | null): boolean {
  if (!cgroup) return false;
  // BuildKit needs the cgroup parent; a group written before `path` existed has none.
  if (daemon.kind === "buildkit") return cgroup.path !== undefined;
  // An operator's own buildkitd line gets no cgroup parent from us: its RUN steps would land
  // in BuildKit's absolute /buildkit/<id>, outside the limits (LOCAL_BUILDKITD confines them).
  if (daemon.kind === "command") return !/buildkitd/.test(daemon.template);
  return true;
}

/** Files the daemon reads at start (BuildKit's config); the TLS files are written separately. */
export async function writeDaemonFiles(dir: string, daemon: LocalDaemon, cgroup: CgroupSet | null, port: number): Promise<void> {
  if (daemon.kind === "buildkit") await writeFile(join(dir, "buildkitd.toml"), buildkitConfig(dir, daemon, cgroup, port));
}
