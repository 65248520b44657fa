// EC2 user-data that enforces a satellite's limits on everything it runs: one systemd slice
// (satellite.slice: CPUQuota, MemoryMax, MemorySwapMax, TasksMax) holds buildkitd (a drop-in moves
// it there and sets OOMScoreAdjust) and, through BuildKit's worker cgroup parent and a runc wrapper
// that holds steps to it, every build step's container; the BuildKit cache GC budget comes from the disk limit; each build step gets a
// network namespace of its own on a bridge (a CNI config file), one hop from the instance. With
// the control plane's TLS material, buildkitd serves mutual TLS only (its server certificate,
// the CA for clients).
//
// EC2 lets us change user-data only while the instance is stopped, and cloud-init runs user
// scripts once per instance by default; so the script is wrapped in the MIME multipart AWS
// documents for "run on every start" (cloud_final_modules: scripts-user always). A resume from
// hibernation is not a boot, so the script also installs a systemd-sleep hook that re-reads the
// user-data from the instance metadata service after resume. The script restarts buildkitd only
// when a file really changed, so an unchanged resume keeps the daemon (and its warm state).
// A small service, the OOM watch, copies the kernel's OOM kills to the serial console, where the
// control plane reads them (ec2-memory-kills.ts).
import { PLATFORMS, SIZE_SPECS, limitsSchema, type Limits, type PlatformName, type SizeName } from "@satellites/catalog";
import type { TlsMaterial } from "@satellites/pki";
import { cniConflist } from "./buildkit-network.ts";
import { CONSOLE_PREFIX } from "./ec2-console.ts";
import { OOM_CONSOLE_WORD } from "./ec2-memory-kills.ts";
import { parseCidr } from "./host-routes.ts";
import { LIMITS_LABEL, limitsLabel } from "./limits-label.ts";
import { runcWrapper } from "./runc-wrapper.ts";

export interface UserDataContext {
  platform: PlatformName;
  size: SizeName;
  satellitePort: number;
  /** The satellite's server certificate and key, and the CA its clients (the proxy) must carry. */
  tls?: TlsMaterial;
  /** Where build steps are networked (default: a bridge on DEFAULT_EC2_STEP_SUBNET). */
  stepNetwork?: Ec2StepNetwork;
  /** Processes (threads included) the daemon and its steps may have (default DEFAULT_EC2_PIDS_MAX). */
  pidsMax?: number;
}

/**
 * EC2_SATELLITE_PIDS_MAX's default: a machine of its own, so twice a local satellite's cap; far
 * below the kernel's thread limit, so a fork bomb in a step fails the step, not buildkitd.
 */
export const DEFAULT_EC2_PIDS_MAX = 8192;

/**
 * "bridge": each build step in a network namespace of its own on the satellite's bridge (the
 * CNI plugins on the image), NAT out: the instance metadata service (IMDSv2 answers one hop
 * only) and whatever listens on the instance's loopback are out of its reach. "host": steps
 * share the instance's network.
 */
export type Ec2StepNetwork = { mode: "bridge"; subnet: string } | { mode: "host" };

/** The steps' subnet unless EC2_BUILDKIT_SUBNET says otherwise (it must not overlap the VPC's). */
export const DEFAULT_EC2_STEP_SUBNET = "10.10.0.0/24";
export const CNI_CONFLIST_PATH = "/etc/buildkit/cni.conflist";
/** Where the image keeps the CNI plugins (bridge, host-local, loopback, firewall): upstream's place. */
export const CNI_BIN_PATH = "/opt/cni/bin";

export const SLICE_NAME = "satellite.slice";
export const SLICE_PATH = `/etc/systemd/system/${SLICE_NAME}`;
export const DROP_IN_PATH = "/etc/systemd/system/buildkitd.service.d/satellite-limits.conf";
export const TLS_DIR = "/etc/buildkit/tls";
export const BUILDKITD_TOML_PATH = "/etc/buildkit/buildkitd.toml";
export const RESUME_HOOK_PATH = "/usr/lib/systemd/system-sleep/satellite-limits";
export const OOM_WATCH_PATH = "/usr/local/lib/satellites/oom-watch";
/** The OCI runtime buildkitd runs build steps with: runc, the step kept in the slice (runcWrapper). */
export const RUNC_WRAPPER_PATH = "/usr/local/lib/satellites/runc-confined";
export const OOM_WATCH_UNIT = "satellite-oom-watch.service";
export const OOM_WATCH_UNIT_PATH = `/etc/systemd/system/${OOM_WATCH_UNIT}`;
export const MIME_BOUNDARY = "//satellites-limits//";
/** EC2 refuses user-data above 16 KB (before base64). */
export const USER_DATA_MAX_BYTES = 16 * 1024;

const GiB = 1024 ** 3;

/** Throws unless every value is a whole number in range: nothing unchecked reaches the script. */
function checked(limits: Limits, ctx: UserDataContext): { limits: Limits; vcpu: number; memoryMiB: number; pidsMax: number } {
  if (!(PLATFORMS as readonly string[]).includes(ctx.platform)) throw new RangeError(`unknown platform ${JSON.stringify(ctx.platform)}`);
  const spec = Object.hasOwn(SIZE_SPECS, ctx.size) ? SIZE_SPECS[ctx.size] : undefined;
  if (!spec) throw new RangeError(`unknown size ${JSON.stringify(ctx.size)}`);
  if (!Number.isInteger(ctx.satellitePort) || ctx.satellitePort < 1 || ctx.satellitePort > 65535) {
    throw new RangeError(`invalid satellite port ${String(ctx.satellitePort)}`);
  }
  const parsed = limitsSchema(ctx.size).safeParse(limits);
  if (!parsed.success) throw new RangeError(`invalid limits: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  if (ctx.stepNetwork?.mode === "bridge") parseCidr(ctx.stepNetwork.subnet);
  const pidsMax = ctx.pidsMax ?? DEFAULT_EC2_PIDS_MAX;
  if (!Number.isInteger(pidsMax) || pidsMax < 64 || pidsMax > 4_194_304) throw new RangeError(`invalid process cap ${String(pidsMax)}`);
  return { limits: parsed.data, vcpu: spec.vcpu, memoryMiB: spec.memoryMiB, pidsMax };
}

/**
 * The slice holding the daemon and its build steps: a limit set on a unit would cover the daemon
 * alone, as runc puts containers in groups of their own. CPUQuota is per-CPU: 95 % of 2 vCPUs is 190%.
 */
export function renderSlice(limits: Limits, ctx: UserDataContext): string {
  const { limits: l, vcpu, pidsMax } = checked(limits, ctx);
  return [
    "[Unit]",
    "Description=Satellites: the build daemon and its build steps, under the satellite's limits",
    "[Slice]",
    `CPUQuota=${l.cpuPercent * vcpu}%`,
    `MemoryMax=${l.memoryMiB}M`,
    `MemorySwapMax=${l.swapMiB}M`,
    // systemd's DefaultTasksMax covers services, not slices: without it a fork bomb in a step
    // takes the kernel's threads, and buildkitd (a Go program) dies when it cannot make one.
    `TasksMax=${pidsMax}`,
    "",
  ].join("\n");
}

/** The drop-in for buildkitd.service: into the slice, and the OOM score its steps inherit. */
export function renderDropIn(limits: Limits, ctx: UserDataContext): string {
  const { limits: l } = checked(limits, ctx);
  return ["[Service]", `Slice=${SLICE_NAME}`, `OOMScoreAdjust=${l.oomScoreAdj}`, ""].join("\n");
}

/**
 * buildkitd.toml: the listen address and the cache GC budget. BuildKit derives its default GC
 * policies from reservedSpace/maxUsedSpace/minFreeSpace; sizes are written as plain byte counts,
 * the one unit every BuildKit version reads the same way.
 */
export function renderBuildkitdToml(limits: Limits, ctx: UserDataContext): string {
  const { limits: l } = checked(limits, ctx);
  const budget = l.diskGiB * GiB;
  const tls = ctx.tls
    ? [
        "  # Mutual TLS: clients need a certificate from the control plane's CA.",
        "  [grpc.tls]",
        `    cert = "${TLS_DIR}/cert.pem"`,
        `    key = "${TLS_DIR}/key.pem"`,
        `    ca = "${TLS_DIR}/ca.pem"`,
      ]
    : [];
  return [
    "# Managed by Satellites user-data; rewritten at every start.",
    "# No build may ask for the instance's network (network.host) or a privileged step (security.insecure).",
    "insecure-entitlements = []",
    "",
    "[grpc]",
    `  address = ["tcp://0.0.0.0:${ctx.satellitePort}"]`,
    ...tls,
    "",
    "[worker.oci]",
    ...stepNetworkLines(ec2StepNetwork(ctx.stepNetwork)),
    "  # Build steps' containers go under the satellite's slice (/satellite.slice/buildkit/<id>),",
    "  # so its CPU, memory, swap and process limits cover them (BuildKit's default, /buildkit,",
    "  # escapes them); the wrapper puts them there whatever cgroup parent a client asks for, and",
    "  # makes each step more killable than the daemon.",
    `  binary = "${RUNC_WRAPPER_PATH}"`,
    `  defaultCgroupParent = "/${SLICE_NAME}"`,
    "  # Which limits this daemon runs with: a wake waits for the daemon that carries the current ones.",
    `  labels = { "${LIMITS_LABEL}" = "${limitsLabel(l, ctx.size)}" }`,
    "  gc = true",
    `  # Cache budget: the satellite's disk limit (${l.diskGiB} GiB).`,
    `  maxUsedSpace = ${budget}`,
    "  # Never collect below a tenth of the budget, and keep the volume from filling up.",
    `  reservedSpace = ${Math.floor(budget / 10)}`,
    `  minFreeSpace = "10%"`,
    "  # The same budget in the one form Earthly's BuildKit fork reads (moby reads it only when the",
    "  # three above are unset).",
    `  gckeepstorage = ${budget}`,
    "",
  ].join("\n");
}

/** The steps' network as configured, or the default: a bridge on DEFAULT_EC2_STEP_SUBNET. */
export function ec2StepNetwork(configured: Ec2StepNetwork | undefined): Ec2StepNetwork {
  return configured ?? { mode: "bridge", subnet: DEFAULT_EC2_STEP_SUBNET };
}

/**
 * The network lines of [worker.oci]. CNI mode with a config file (not moby's "bridge" mode):
 * Earthly's BuildKit fork, which the Earthly CLI needs, has only that one.
 */
function stepNetworkLines(network: Ec2StepNetwork): string[] {
  if (network.mode === "host") return ["  # Build steps share the instance's network (EC2_BUILDKIT_NETWORK=host).", '  networkMode = "host"'];
  return [
    "  # Each build step in a network namespace of its own on the satellite's bridge, NAT out: the",
    "  # instance metadata service (one hop only) and the instance's loopback are out of its reach.",
    '  networkMode = "cni"',
    `  cniConfigPath = "${CNI_CONFLIST_PATH}"`,
    `  cniBinaryPath = "${CNI_BIN_PATH}"`,
  ];
}

/** The CNI plugins the bridge config calls, and what the bridge's NAT needs. */
export const CNI_PLUGINS = ["bridge", "host-local", "loopback", "firewall"] as const;

/**
 * With steps on the bridge, the image must carry the CNI plugins and iptables: without them every
 * RUN step would fail, or a daemon left running on another config would run steps unconfined. So
 * the daemon is stopped and the console says what is missing.
 */
function networkCheck(network: Ec2StepNetwork): string[] {
  if (network.mode === "host") return [];
  return [
    'missing=""',
    `for p in ${CNI_PLUGINS.join(" ")}; do [ -x "$root${CNI_BIN_PATH}/$p" ] || missing="$missing $p"; done`,
    'command -v iptables > /dev/null 2>&1 || missing="$missing iptables"',
    'if [ -n "$missing" ]; then',
    `  say "build steps run on a bridge (EC2_BUILDKIT_NETWORK=bridge) but the image lacks:$missing (CNI plugins belong in ${CNI_BIN_PATH}); buildkitd stays stopped"`,
    "  systemctl stop buildkitd || true",
    "  exit 1",
    "fi",
  ];
}

/** The CNI config file, as `put` lines, when steps are on the bridge. */
function networkFiles(network: Ec2StepNetwork): string[] {
  if (network.mode === "host") return [];
  return [`put "$root${CNI_CONFLIST_PATH}" 0644 <<'SATELLITE_EOF'`, cniConflist({ name: "satbk0", subnet: network.subnet }) + "\nSATELLITE_EOF"];
}

/**
 * The OOM watch: the kernel's oom-kill records, copied to the serial console with the boot they
 * belong to and the memory limit then, for the control plane (ec2-memory-kills.ts). Rewritten at
 * every start (the limit may have changed). SATELLITE_CONSOLE lets a test read it.
 */
export function renderOomWatch(limits: Limits, ctx: UserDataContext): string {
  const { limits: l } = checked(limits, ctx);
  return [
    "#!/bin/sh",
    "# Satellites: the kernel's OOM kills on the serial console, where the control plane reads them.",
    `limit=${l.memoryMiB}`,
    "boot=$(cat /proc/sys/kernel/random/boot_id)",
    'out="${SATELLITE_CONSOLE:-/dev/console}"',
    "# The wall-clock time (ms) at which the kernel log's clock read 0, as of now. That clock stops",
    "# while the instance hibernates, so the boot time plus a record's time would put a kill after",
    "# a resume too early; this is taken at each copy instead (the boot time if the clock is unread).",
    "origin() {",
    "  mono=$(awk '/^now at/ { print int($3 / 1000000); exit }' /proc/timer_list 2>/dev/null)",
    '  if [ -n "$mono" ]; then echo $(( $(date +%s%3N) - mono )); else echo $(( $(sed -n \'s/^btime //p\' /proc/stat) * 1000 )); fi',
    "}",
    "# cat, not the shell's read: each read() of /dev/kmsg must take a whole record. From the start",
    "# of the buffer, so a kill before this started is not lost (the control plane keeps each once).",
    "cat /dev/kmsg | while IFS= read -r rec; do",
    '  case "$rec" in',
    `    *";oom-kill:"*) printf '%s\\n' "${CONSOLE_PREFIX}${OOM_CONSOLE_WORD} $boot $(origin) $limit $rec" > "$out" ;;`,
    "  esac",
    "done",
    "",
  ].join("\n");
}

/** Its unit: outside the satellite's slice, and the last process a host-wide OOM would pick. */
function oomWatchUnit(): string {
  return [
    "[Unit]",
    "Description=Satellites: the kernel's OOM kills on the serial console, for the control plane",
    "[Service]",
    `ExecStart=/bin/sh ${OOM_WATCH_PATH}`,
    "OOMScoreAdjust=-1000",
    "Restart=always",
    "RestartSec=2",
    "",
  ].join("\n");
}

/**
 * Runs after resume from hibernation: fetch the current user-data (IMDSv2) and apply its script.
 * The network may need a moment after a resume, so it tries for about ten seconds; if it never
 * can, the console says so (the wake then waits for a daemon that never gets the new limits, and
 * its failure quotes this). SATELLITE_RUN_DIR, SATELLITE_CONSOLE and SATELLITE_RETRY_SECONDS let
 * a test run it.
 */
function resumeHook(): string {
  return [
    "#!/bin/sh",
    "# systemd-sleep hook (Satellites): limits changed while hibernated apply on resume.",
    '[ "$1" = post ] || exit 0',
    "imds=http://169.254.169.254/latest",
    'run="${SATELLITE_RUN_DIR:-/run}"',
    "tries=0",
    "# Each try bounded: curl would wait minutes for a connection the resume left dead.",
    "until token=$(curl -sf --connect-timeout 1 --max-time 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \"$imds/api/token\") &&",
    `  curl -sf --connect-timeout 1 --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/user-data" > "$run/satellite-user-data"; do`,
    "  tries=$((tries + 1))",
    '  if [ "$tries" -ge 10 ]; then',
    `    echo "${CONSOLE_PREFIX}resume: the user-data could not be read from the instance metadata service; limits saved while hibernated are not applied" > "\${SATELLITE_CONSOLE:-/dev/console}" 2>/dev/null || true`,
    "    exit 0",
    "  fi",
    '  sleep "${SATELLITE_RETRY_SECONDS:-1}"',
    "done",
    `sed -n '/^#!\\/bin\\/sh$/,/^--${MIME_BOUNDARY.replaceAll("/", "\\/")}--$/p' "$run/satellite-user-data" | sed '$d' > "$run/satellite-limits.sh"`,
    "# Outside the sleep transaction: restarting a unit from inside it could wait on itself.",
    'systemd-run --no-block --collect --unit=satellite-limits-resume /bin/sh "$run/satellite-limits.sh"',
    "",
  ].join("\n");
}

/** The TLS files, as `put` lines (the key readable by root only). PEM never holds the heredoc marker. */
function tlsFiles(tls: TlsMaterial | undefined): string[] {
  if (!tls) return [];
  const pem = (text: string) => {
    if (!/^[-A-Za-z0-9+/=\s]*$/.test(text)) throw new RangeError("TLS material is not PEM");
    return text.endsWith("\n") ? text : `${text}\n`;
  };
  return [
    `put "$root${TLS_DIR}/ca.pem" 0644 <<'SATELLITE_EOF'`,
    pem(tls.caPem) + "SATELLITE_EOF",
    `put "$root${TLS_DIR}/cert.pem" 0644 <<'SATELLITE_EOF'`,
    pem(tls.certPem) + "SATELLITE_EOF",
    `put "$root${TLS_DIR}/key.pem" 0600 <<'SATELLITE_EOF'`,
    pem(tls.keyPem) + "SATELLITE_EOF",
  ];
}

/** The shell script (the user-data's x-shellscript part). Every heredoc is quoted: no expansion. */
export function renderLimitsScript(limits: Limits, ctx: UserDataContext): string {
  const { vcpu, memoryMiB } = checked(limits, ctx);
  return [
    "#!/bin/sh",
    `# Satellites: build-daemon limits for a ${ctx.size} ${ctx.platform} satellite (${vcpu} vCPU, ${memoryMiB} MiB).`,
    "set -eu",
    "# SATELLITE_ROOT lets a test run the script against a scratch directory (SATELLITE_CONSOLE and",
    "# SATELLITE_SETTLE_SECONDS: where say() writes, how long a restarted daemon gets to fail).",
    'root="${SATELLITE_ROOT:-}"',
    "changed=0",
    "# put <path> <mode>: install stdin at path unless identical; note whether anything changed.",
    "put() {",
    "  tmp=$(mktemp)",
    '  cat > "$tmp"',
    '  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 0; fi',
    '  mkdir -p "$(dirname "$1")"',
    '  install -m "$2" "$tmp" "$1"',
    '  rm -f "$tmp"',
    "  changed=1",
    "}",
    "# say <text>: a line on the serial console, where the control plane reads (GetConsoleOutput)",
    "# why a start never became healthy. SATELLITE_CONSOLE lets a test read it.",
    "say() {",
    `  echo "${CONSOLE_PREFIX}$*" > "\${SATELLITE_CONSOLE:-/dev/console}" 2>/dev/null || true`,
    `  echo "${CONSOLE_PREFIX}$*" >&2`,
    "}",
    ...networkCheck(ec2StepNetwork(ctx.stepNetwork)),
    `put "$root${SLICE_PATH}" 0644 <<'SATELLITE_EOF'`,
    renderSlice(limits, ctx) + "SATELLITE_EOF",
    `put "$root${DROP_IN_PATH}" 0644 <<'SATELLITE_EOF'`,
    renderDropIn(limits, ctx) + "SATELLITE_EOF",
    ...tlsFiles(ctx.tls),
    ...networkFiles(ec2StepNetwork(ctx.stepNetwork)),
    `put "$root${RUNC_WRAPPER_PATH}" 0755 <<'SATELLITE_EOF'`,
    runcWrapper(`/${SLICE_NAME}`, "runc") + "SATELLITE_EOF",
    `put "$root${BUILDKITD_TOML_PATH}" 0644 <<'SATELLITE_EOF'`,
    renderBuildkitdToml(limits, ctx) + "SATELLITE_EOF",
    `put "$root${RESUME_HOOK_PATH}" 0755 <<'SATELLITE_EOF'`,
    resumeHook() + "SATELLITE_EOF",
    `put "$root${OOM_WATCH_PATH}" 0755 <<'SATELLITE_EOF'`,
    renderOomWatch(limits, ctx) + "SATELLITE_EOF",
    `put "$root${OOM_WATCH_UNIT_PATH}" 0644 <<'SATELLITE_EOF'`,
    oomWatchUnit() + "SATELLITE_EOF",
    "# The OOM watch runs until the instance stops (so a resume finds it running); started at every boot.",
    'if [ "$changed" = 1 ]; then',
    '  systemctl daemon-reload && systemctl restart buildkitd || say "buildkitd did not restart"',
    `  systemctl restart ${OOM_WATCH_UNIT} || say "the OOM watch did not start: OOM kills will not be reported"`,
    "else",
    `  systemctl start ${OOM_WATCH_UNIT} || say "the OOM watch did not start: OOM kills will not be reported"`,
    "fi",
    "# A daemon that dies as it starts (a bad file, a full disk) is only seen by its absence: say why.",
    'sleep "${SATELLITE_SETTLE_SECONDS:-3}"',
    "if ! systemctl is-active --quiet buildkitd; then",
    '  say "buildkitd is not running: $(journalctl -u buildkitd -n 5 --no-pager -o cat 2>/dev/null | tr \'\\n\' \' \')"',
    "fi",
    "",
  ].join("\n");
}

const part = (contentType: string, filename: string, body: string): string =>
  [
    `--${MIME_BOUNDARY}`,
    `Content-Type: ${contentType}; charset="us-ascii"`,
    "MIME-Version: 1.0",
    "Content-Transfer-Encoding: 7bit",
    `Content-Disposition: attachment; filename="${filename}"`,
    "",
    body,
  ].join("\n");

/** The complete user-data (plain text; the caller base64-encodes it for RunInstances). */
export function renderUserData(limits: Limits, ctx: UserDataContext): string {
  const text = [
    `Content-Type: multipart/mixed; boundary="${MIME_BOUNDARY}"`,
    "MIME-Version: 1.0",
    "",
    part("text/cloud-config", "cloud-config.txt", "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n"),
    part("text/x-shellscript", "satellite-limits.sh", renderLimitsScript(limits, ctx)),
    `--${MIME_BOUNDARY}--`,
    "",
  ].join("\n");
  if (Buffer.byteLength(text) > USER_DATA_MAX_BYTES) throw new RangeError("user-data exceeds EC2's 16 KB limit");
  return text;
}
