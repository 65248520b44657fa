// Which program a local satellite runs, and the command line and files it needs: the built-in
// gRPC backend (zero install), moby BuildKit (`buildkitd` with the OCI worker and runc), or an
// operator's own command template. Every one of them serves TLS requiring a client certificate
// from the control plane's CA when the provider has one.
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DISK_PLACEHOLDERS, type Limits } from "@satellites/catalog";
import type { TlsMaterial } from "@satellites/pki";
import { type BuildkitFlavor, type BuildkitNetwork, networkFlags, networkTomlLines, writeNetworkFiles } from "./buildkit-network.ts";
import type { CgroupSet } from "./cgroup.ts";
import { runcWrapper } from "./runc-wrapper.ts";

export type LocalDaemon =
  | { kind: "builtin" }
  | { kind: "buildkit"; buildkitd: string; runc?: string; network: BuildkitNetwork; flavor?: BuildkitFlavor }
  | { kind: "command"; template: string };

type BuildkitDaemon = Extract<LocalDaemon, { kind: "buildkit" }>;

/** Which BuildKit the daemon is; moby's unless told (the provider learns it from `--version`). */
const flavorOf = (daemon: BuildkitDaemon): BuildkitFlavor => daemon.flavor ?? "moby";

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
 * worker only, its steps' network, and the disk limit as the cache's GC budget (moby's
 * "reserved,free,max" in MB; Earthly's fork predates that form and takes the one number). The
 * network is on the command line, not only in the config file, so that a satellite still running
 * with another one is restarted at its next wake (`outdated`).
 */
export function buildkitCommand(daemon: BuildkitDaemon): string {
  return [
    shellQuote(daemon.buildkitd),
    "--config {dir}/buildkitd.toml",
    "--root {dir}/buildkit",
    "--addr tcp://{host}:{port}",
    "--oci-worker=true --containerd-worker=false",
    networkFlags(daemon.network, flavorOf(daemon), shellQuote),
    `--oci-worker-gc --oci-worker-gc-keepstorage ${flavorOf(daemon) === "earthly" ? "{diskMB}" : "0,0,{diskMB}"}`,
  ].join(" ");
}

/** The command template a daemon runs, TLS flags included when the hop is mutual TLS. */
export function daemonTemplate(daemon: LocalDaemon, tls: boolean): string {
  switch (daemon.kind) {
    case "builtin":
      return defaultLocalCommand() + (tls ? TLS_FLAGS_BUILTIN : "");
    case "buildkit":
      return buildkitCommand(daemon) + (tls ? TLS_FLAGS_BUILDKIT : "");
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
export function buildkitConfig(dir: string, daemon: BuildkitDaemon, cgroup: CgroupSet | null, port: number): string {
  const lines = [
    "# Written by the local provider at each start.",
    "[otel]",
    // The default (/run/buildkit/otel-grpc.sock) would be shared by every satellite on the host.
    `socketPath = ${tomlString(join(dir, "otel.sock"))}`,
    "[worker.oci]",
    "enabled = true",
    // Through the wrapper when there is a group to keep the steps in (runcWrapper).
    `binary = ${tomlString(cgroup?.path ? join(dir, RUNC_WRAPPER) : (daemon.runc ?? "runc"))}`,
    ...networkTomlLines(dir, daemon.network, flavorOf(daemon), port),
  ];
  if (cgroup?.path) lines.push(`defaultCgroupParent = ${tomlString(cgroup.path)}`);
  lines.push("[worker.containerd]", "enabled = false", "");
  return lines.join("\n");
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

const RUNC_WRAPPER = "runc-confined";

/** Files the daemon reads at start (BuildKit's config, its runtime wrapper); the TLS files are written separately. */
export async function writeDaemonFiles(dir: string, daemon: LocalDaemon, cgroup: CgroupSet | null, port: number): Promise<void> {
  if (daemon.kind !== "buildkit") return;
  if (cgroup?.path) await writeFile(join(dir, RUNC_WRAPPER), runcWrapper(cgroup.path, daemon.runc ?? "runc"), { mode: 0o755 });
  await writeFile(join(dir, "buildkitd.toml"), buildkitConfig(dir, daemon, cgroup, port));
  await writeNetworkFiles(dir, daemon.network, flavorOf(daemon), port);
}
