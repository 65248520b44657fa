// One validated configuration for every process. Defaults give the embedded local run:
// local Postgres and Redis, the local provider, the standard ports.
import { isIP } from "node:net";
import { z } from "zod";
import { installationRoot, resolvePaths } from "./installation-root.ts";

export { addressKey } from "./address-key.ts";

const port = z.coerce.number().int().min(1).max(65535);
const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);

// What proxy-addr accepts: an address, an address/prefix, or one of its named ranges.
const PROXY_NAMES = ["loopback", "linklocal", "uniquelocal"];
function isProxyEntry(entry: string): boolean {
  if (PROXY_NAMES.includes(entry)) return true;
  const [addr, prefix, extra] = entry.split("/");
  const family = isIP(addr ?? "");
  if (!family || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
const proxyList = z
  .string()
  .transform((v) => v.split(",").map((e) => e.trim()).filter(Boolean))
  .refine((list) => list.every(isProxyEntry), "must be comma-separated addresses or CIDRs (or loopback, linklocal, uniquelocal)");

/** An IPv4 network "a.b.c.d/n" with n in [min, max]. */
const ipv4Network = (min: number, max: number, example: string) =>
  z
    .string()
    .trim()
    .refine((v) => {
      const [addr, prefix, extra] = v.split("/");
      return isIP(addr ?? "") === 4 && extra === undefined && /^\d{1,2}$/.test(prefix ?? "") && Number(prefix) >= min && Number(prefix) <= max;
    }, `must be an IPv4 network with a prefix of ${min} to ${max}, like ${example}`);

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");

export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  DATABASE_URL: url(["postgres:", "postgresql:"]).default("postgresql://postgres@127.0.0.1:5432/satellites"),
  /**
   * Postgres connections each process keeps open when idle (its pool still grows to 10 under
   * load). A new connection costs 10–20 ms (a backend process and authentication): a wake after
   * a quiet spell would pay it several times over on its path.
   */
  DATABASE_POOL_MIN: z.coerce.number().int().min(0).max(10).default(2),
  REDIS_URL: url(["redis:", "rediss:"]).default("redis://127.0.0.1:6379"),
  PROVIDER: z.enum(["local", "ec2"]).default("local"),
  WEB_PORT: port.default(3000),
  PROXY_PORT: port.default(8372),
  PROXY_ADMIN_PORT: port.default(9372),
  JOBS_ADMIN_PORT: port.default(9373),
  /** Earthly's cloud gRPC API (Compute, Billing, LogStream, Analytics), served by the proxy process. */
  EARTHLY_API_PORT: port.default(8373),
  /** host:port users reach EARTHLY_API_PORT at (EARTHLY_GRPC_ADDRESS); defaults to the proxy's public host and EARTHLY_API_PORT. */
  EARTHLY_API_PUBLIC_ADDRESS: z.string().trim().min(1).optional(),
  /** Address shown to users for the Earthly CLI; defaults to this host and PROXY_PORT. */
  PROXY_PUBLIC_ADDRESS: z.string().trim().min(1).optional(),
  PUBLIC_URL: url(["http:", "https:"]).optional(),
  /** Reverse proxies whose X-Forwarded-For the web app believes (CIDRs); none by default. */
  TRUSTED_PROXIES: proxyList.default([]),
  PROXY_TLS_CERT: z.string().min(1).optional(),
  PROXY_TLS_KEY: z.string().min(1).optional(),
  /** Longest a proxied call waits for a wake, whatever its own deadline. */
  PROXY_WAKE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(120_000),
  /** A client connection with no call open this long gets GOAWAY and is closed (clients reconnect). */
  PROXY_IDLE_CONNECTION_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  /** A client connection with calls open that sends nothing this long is PINGed; no answer (20 s at most) ends it. */
  PROXY_KEEPALIVE_MS: z.coerce.number().int().min(200).max(3_600_000).default(60_000),
  /** Front-door limits (docs/proxy-limits.md): client connections in all, and per source address. */
  PROXY_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  PROXY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  /** SETTINGS_MAX_CONCURRENT_STREAMS offered to each client connection. */
  PROXY_MAX_STREAMS_PER_CONNECTION: z.coerce.number().int().min(1).max(100_000).default(256),
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a request's header list (names + values + 32 per field). */
  PROXY_MAX_HEADER_LIST_BYTES: z.coerce.number().int().min(4096).max(16 << 20).default(64 << 10),
  /** Per-stream flow-control window, both hops: the most one stream makes the proxy hold. */
  PROXY_STREAM_WINDOW_BYTES: z.coerce.number().int().min(65_535).max(2 ** 31 - 1).default(4 << 20),
  /** Connection-level flow-control window, both hops. */
  PROXY_CONNECTION_WINDOW_BYTES: z.coerce.number().int().min(65_535).max(2 ** 31 - 1).default(32 << 20),
  /** Bytes one client connection's calls may hold in the proxy before its new streams are refused. */
  PROXY_MAX_BUFFERED_BYTES_PER_CONNECTION: z.coerce.number().int().min(1 << 20).max(2 ** 40).default(64 << 20),
  /**
   * How far V8 lets the proxy's old generation grow past what the last full GC kept before it
   * starts the next (percent; 0 leaves it to V8). V8's own choice at the proxy's size is about
   * 20 %, less than its young generation, so relaying a build's bytes started a full mark every
   * ~200 ms (docs/benchmarks-history.md).
   */
  PROXY_HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(1000).default(100),
  /** Resident memory (MiB) above which new connections and calls are refused; open calls go on. */
  PROXY_MAX_RSS_MIB: z.coerce.number().int().min(64).max(1 << 20).default(2048),
  /** Stream resets a source address may cause (its own and those its behaviour provokes) per window. */
  PROXY_RESET_BUDGET: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  PROXY_RESET_BUDGET_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  /** Failed authentications one source address may make per window before its failures get RESOURCE_EXHAUSTED. */
  PROXY_AUTH_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(60),
  /** Failed authentications against one claimed organization + satellite (from any address) per window. */
  PROXY_AUTH_FAILURES_PER_SATELLITE: z.coerce.number().int().min(1).max(1_000_000).default(300),
  PROXY_AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Failed authentications are logged as one line of counts per this interval. */
  PROXY_AUTH_LOG_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /** Whether the proxy records builds and calls (docs/builds.md); off leaves the Builds pages empty. */
  PROXY_BUILD_RECORDS: bool.default(true),
  /** How often the proxy writes its pending build and call records (the most a proxy crash loses). */
  PROXY_BUILD_RECORD_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  /** On SIGTERM: how long open calls may finish after GOAWAY before they are cut. */
  PROXY_DRAIN_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  IDLE_TIMEOUT_DEFAULT_SECONDS: z.coerce.number().int().min(60).max(7 * 24 * 3600).default(1800),
  /** Shortest idle timeout the idle scan honours (lets its query use an index); tests lower it. */
  IDLE_MIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /** BullMQ key prefix: several installations (or test runs) can share one Redis. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, "must contain only letters, digits, '.', '_' and '-'").optional(),
  IDLE_SCAN_EVERY_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  RECONCILE_EVERY_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /** Keep-warm schedule scan period; at most 20 s so a wake asked for 55 s ahead comes ≥ 35 s before the window. */
  SCHEDULE_SCAN_EVERY_MS: z.coerce.number().int().min(100).max(20_000).default(10_000),
  /** An instance tagged as a satellite's, with no live satellite naming it, is terminated after this long. */
  ORPHAN_GRACE_SECONDS: z.coerce.number().int().min(0).max(7 * 24 * 3600).default(600),
  /** History (satellite events) older than this many days is purged. */
  HISTORY_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(400),
  /** Build records and per-minute call counts older than this many days are purged. */
  BUILD_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
  /** Deleted satellites' rows (and their history) are purged this many days after deletion. */
  DELETED_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  /**
   * How long a launch or wake waits for the satellite's health check before that try fails (two
   * such tries fail the satellite). Unset: 30 s local, 300 s EC2 (a boot).
   */
  HEALTH_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).optional(),
  /** How long a job's lock lives without renewal: a killed worker's job is re-run after about this. */
  JOBS_LOCK_MS: z.coerce.number().int().min(1000).max(300_000).default(10_000),
  /** Secret for sessions; must be set (≥ 32 chars) in production. */
  AUTH_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Where the local provider keeps per-satellite state (pid, port, cgroup). */
  LOCAL_DATA_DIR: z.string().min(1).default(".data/local"),
  /** Program a local satellite runs; `{host}`, `{port}`, `{dir}`, `{diskGiB}` and `{diskMB}` are replaced. Empty: the built-in gRPC backend. */
  LOCAL_SATELLITE_COMMAND: z.string().optional(),
  /** A local satellite's log past this many MiB is rotated (one older file kept), also while it runs. */
  LOCAL_SATELLITE_LOG_MAX_MIB: z.coerce.number().int().min(1).max(65_536).default(16),
  /** Processes (threads included) one local satellite may have, its build steps' too: the cgroup's pids.max (cgroup v2 with the pids controller, or v1's pids hierarchy). */
  LOCAL_SATELLITE_PIDS_MAX: z.coerce.number().int().min(64).max(4_194_304).default(4096),
  /** Path to moby BuildKit's buildkitd: local satellites run it (OCI worker) instead of the built-in backend. "none": the built-in backend (npm start then uses no buildkitd it finds). */
  LOCAL_BUILDKITD: z
    .string()
    .trim()
    .min(1)
    .optional()
    .transform((v) => (v === "none" ? undefined : v)),
  /** The OCI runtime BuildKit's worker runs build steps with (a name on PATH or a path). */
  LOCAL_RUNC: z.string().trim().min(1).default("runc"),
  /** BuildKit's build steps: a network namespace of their own on the satellite's bridge, or the host's network (reaches its loopback services). */
  LOCAL_BUILDKIT_NETWORK: z.enum(["bridge", "host"]).default("bridge"),
  /**
   * The IPv4 range BuildKit steps' bridges take their /24s from, one per port of
   * LOCAL_SATELLITE_PORTS: it must hold as many /24s as the range has ports, and not overlap the
   * host's own networks (checked at start).
   */
  LOCAL_BUILDKIT_SUBNETS: ipv4Network(8, 24, "10.0.0.0/8").default("10.0.0.0/8"),
  /** Where the CNI plugins for the bridge are; unset: the first of /usr/lib/cni, /opt/cni/bin that has them. */
  LOCAL_CNI_BIN_DIR: z.string().trim().min(1).optional(),
  /** Inclusive port range local satellites listen on ("low-high"). */
  LOCAL_SATELLITE_PORTS: z
    .string()
    .trim()
    .regex(/^\d{1,5}-\d{1,5}$/, "must be a range like 21000-22999")
    .transform((v) => v.split("-").map(Number) as [number, number])
    .refine(([low, high]) => low >= 1024 && high <= 65535 && low <= high, "must be low-high within 1024-65535 with low <= high")
    .default([21000, 22999]),
  /** Directory of the embedded control-plane CA (generated on first start) for mutual TLS to satellites. */
  SATELLITE_CA_DIR: z.string().min(1).default(".data/ca"),
  /** The operator's CA (PEM certificate and PKCS#8 P-256 key files) instead of the embedded one. */
  SATELLITE_CA_CERT_FILE: z.string().min(1).optional(),
  SATELLITE_CA_KEY_FILE: z.string().min(1).optional(),
  /**
   * Directory of the embedded client CA (generated on first start): it issues tenants' client
   * certificates (docs/clients.md). Its own CA, not SATELLITE_CA_DIR's: satellites trust that
   * one, and a tenant's certificate must never open a satellite's address directly.
   */
  CLIENT_CA_DIR: z.string().min(1).default(".data/client-ca"),
  /** The operator's client CA (PEM certificate and PKCS#8 P-256 key files) instead of the embedded one. */
  CLIENT_CA_CERT_FILE: z.string().min(1).optional(),
  CLIENT_CA_KEY_FILE: z.string().min(1).optional(),
  /** PEM CA certificate(s) that verify PROXY_TLS_CERT, put in client bundles as ca.pem; only with PROXY_TLS_CERT (default then: the served certificate itself). */
  PROXY_TLS_CA_FILE: z.string().min(1).optional(),
  /** Parent cgroup for local satellites (per hierarchy); one per installation. */
  LOCAL_CGROUP_PARENT: z.string().regex(/^[A-Za-z0-9_.-]+$/, "must be a plain directory name").default("satellites"),
  AWS_REGION: z.string().min(1).default("us-east-1"),
  AWS_ENDPOINT_URL_EC2: url(["http:", "https:"]).optional(),
  EC2_AMI_AMD64: z.string().optional(),
  EC2_AMI_ARM64: z.string().optional(),
  EC2_SUBNET_ID: z.string().optional(),
  EC2_SECURITY_GROUP_IDS: z.string().optional(),
  /** Where an EC2 satellite's build steps are networked: a bridge of their own (CNI plugins on the image), or the instance's network (reaches the metadata service). */
  EC2_BUILDKIT_NETWORK: z.enum(["bridge", "host"]).default("bridge"),
  /** The build steps' bridge subnet on an EC2 satellite: must not overlap the VPC's; at most /24 (BuildKit keeps a pool of network namespaces, each with an address). */
  EC2_BUILDKIT_SUBNET: ipv4Network(16, 24, "10.10.0.0/24").default("10.10.0.0/24"),
  /** Processes (threads included) an EC2 satellite's daemon and build steps may have together: its slice's TasksMax. */
  EC2_SATELLITE_PIDS_MAX: z.coerce.number().int().min(64).max(4_194_304).default(8192),
  /** Port the satellite's build daemon listens on, on the instance. */
  SATELLITE_PORT: port.default(8372),
  EC2_HIBERNATE: bool.default(true),
  /** How often the jobs process reads running EC2 satellites' serial consoles for OOM kills (GetConsoleOutput, one call per satellite); 0: never. */
  EC2_OOM_WATCH_SECONDS: z.coerce.number().int().min(0).max(3600).default(20),
  /** How often awake satellites that built since their cache was last measured are measured again; 0: only at sleep and on request. */
  CACHE_MEASURE_EVERY_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  /** Outgoing mail (verification, password reset, invitations): smtp:// or smtps:// URL. Unset: kept in the outbox the instance admin reads. */
  SMTP_URL: url(["smtp:", "smtps:"]).optional(),
  /** Sender address of outgoing mail. */
  SMTP_FROM: z.string().trim().min(3).max(254).default("Satellites <satellites@localhost>"),
  /** Invitation mails one organization may send per day (over it, invitations are made and their links shown, not mailed). */
  INVITATION_MAILS_PER_DAY: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Invitation mails one address may get in 24 hours, from all organizations together. */
  INVITATION_MAILS_PER_ADDRESS_PER_DAY: z.coerce.number().int().min(1).max(10_000).default(5),
  /** Verification and password-reset mails one address may get in an hour (their links last an hour or more). */
  AUTH_MAILS_PER_ADDRESS_PER_HOUR: z.coerce.number().int().min(1).max(10_000).default(5),
  /** Who may create an account: anyone, only invited addresses, or addresses in SIGNUP_DOMAINS. The first account is always allowed. */
  SIGNUP_POLICY: z.enum(["open", "invite-only", "domains"]).default("open"),
  /** Comma-separated email domains for SIGNUP_POLICY=domains, e.g. `corp.example,corp.example.org`. */
  SIGNUP_DOMAINS: z
    .string()
    .trim()
    .toLowerCase()
    .transform((v) => v.split(",").map((d) => d.trim().replace(/^@/, "")).filter(Boolean))
    .refine((ds) => ds.every((d) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(d)), "must be comma-separated domain names")
    .default([]),
  /**
   * The quota a new organization starts with (the instance admin changes it on the Instance
   * page); unset: no limit. Quotas are per organization: without these, a member of a limited
   * one could make another with none. The instance admin's own new organizations start without.
   */
  NEW_ORG_QUOTA_SATELLITES: z.coerce.number().int().min(0).max(100_000).optional(),
  NEW_ORG_QUOTA_VCPU: z.coerce.number().int().min(0).max(1_000_000).optional(),
  NEW_ORG_QUOTA_LARGEST_SIZE: z.enum(["xsmall", "small", "medium", "large", "xlarge"]).optional(),
  /** A person in this many organizations cannot create another (joining by invitation still works); unset: no limit. Not the instance admin. */
  ORGS_PER_USER: z.coerce.number().int().min(1).max(10_000).optional(),
  /** Audit events older than this many days are deleted by the jobs process. */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(365),
}).superRefine((c, ctx) => {
  if (c.NODE_ENV === "production" && !c.AUTH_SECRET) {
    ctx.addIssue({ code: "custom", path: ["AUTH_SECRET"], message: "is required when NODE_ENV=production (at least 32 characters)" });
  }
  if (c.SIGNUP_POLICY === "domains" && c.SIGNUP_DOMAINS.length === 0) {
    ctx.addIssue({ code: "custom", path: ["SIGNUP_DOMAINS"], message: "must list at least one domain when SIGNUP_POLICY=domains" });
  }
  if (Boolean(c.PROXY_TLS_CERT) !== Boolean(c.PROXY_TLS_KEY)) {
    ctx.addIssue({ code: "custom", path: [c.PROXY_TLS_CERT ? "PROXY_TLS_KEY" : "PROXY_TLS_CERT"], message: "PROXY_TLS_CERT and PROXY_TLS_KEY must be set together" });
  }
  if (Boolean(c.SATELLITE_CA_CERT_FILE) !== Boolean(c.SATELLITE_CA_KEY_FILE)) {
    ctx.addIssue({ code: "custom", path: [c.SATELLITE_CA_CERT_FILE ? "SATELLITE_CA_KEY_FILE" : "SATELLITE_CA_CERT_FILE"], message: "SATELLITE_CA_CERT_FILE and SATELLITE_CA_KEY_FILE must be set together" });
  }
  if (Boolean(c.CLIENT_CA_CERT_FILE) !== Boolean(c.CLIENT_CA_KEY_FILE)) {
    ctx.addIssue({ code: "custom", path: [c.CLIENT_CA_CERT_FILE ? "CLIENT_CA_KEY_FILE" : "CLIENT_CA_CERT_FILE"], message: "CLIENT_CA_CERT_FILE and CLIENT_CA_KEY_FILE must be set together" });
  }
  if (c.PROXY_TLS_CA_FILE && !c.PROXY_TLS_CERT) {
    ctx.addIssue({ code: "custom", path: ["PROXY_TLS_CA_FILE"], message: "only applies with PROXY_TLS_CERT (the embedded server certificate is verified by the control-plane CA)" });
  }
  if (c.LOCAL_BUILDKITD && c.LOCAL_SATELLITE_COMMAND) {
    ctx.addIssue({ code: "custom", path: ["LOCAL_BUILDKITD"], message: "and LOCAL_SATELLITE_COMMAND both choose the satellite program: set one" });
  }
  const subnets = 2 ** (24 - Number(c.LOCAL_BUILDKIT_SUBNETS.split("/")[1]));
  const ports = c.LOCAL_SATELLITE_PORTS[1] - c.LOCAL_SATELLITE_PORTS[0] + 1;
  if (c.LOCAL_BUILDKIT_NETWORK === "bridge" && subnets < ports) {
    ctx.addIssue({
      code: "custom",
      path: ["LOCAL_BUILDKIT_SUBNETS"],
      message: `holds ${subnets} subnets of /24, one per satellite port, but LOCAL_SATELLITE_PORTS has ${ports} ports: widen the range or narrow the ports`,
    });
  }
  if (c.PROVIDER === "ec2" && c.NODE_ENV === "production" && !c.EC2_SECURITY_GROUP_IDS) {
    ctx.addIssue({ code: "custom", path: ["EC2_SECURITY_GROUP_IDS"], message: "is required with PROVIDER=ec2 in production: without it instances join the VPC's default security group, which lets every instance (one tenant's build step) reach every other; give a group that allows SATELLITE_PORT only from the proxies" });
  }
  if (c.PROVIDER === "ec2" && c.NODE_ENV === "production" && !c.SATELLITE_CA_CERT_FILE) {
    ctx.addIssue({ code: "custom", path: ["SATELLITE_CA_CERT_FILE"], message: "is required with PROVIDER=ec2 in production (the operator's CA for mutual TLS to satellites, with SATELLITE_CA_KEY_FILE)" });
  }
  if (c.PROVIDER === "ec2" && !c.AWS_ENDPOINT_URL_EC2 && !(c.EC2_AMI_AMD64 || c.EC2_AMI_ARM64)) {
    ctx.addIssue({ code: "custom", path: ["EC2_AMI_AMD64"], message: "PROVIDER=ec2 needs EC2_AMI_AMD64 and/or EC2_AMI_ARM64" });
  }
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Turns zod's issues into one line per variable: `PROVIDER must be one of local, ec2 (got "aws")`. */
function describe(error: z.ZodError, env: Record<string, string | undefined>): string {
  return error.issues
    .map((issue) => {
      const key = String(issue.path[0] ?? "config");
      const got = env[key];
      let message = issue.message;
      if (issue.code === "invalid_value" && "values" in issue) message = `must be one of ${issue.values.join(", ")}`;
      else if (issue.code === "invalid_type") message = "must be a number";
      else if ((issue.code === "too_small" || issue.code === "too_big") && /^Too (small|big)/.test(issue.message)) message = `must be ${issue.message.replace(/^Too (small|big): expected \w+ to (be|have) /, "")}`;
      return `${key} ${message}${got !== undefined ? ` (got ${shown(key, got)})` : ""}`;
    })
    .join("; ");
}

/**
 * A variable's value as the error shows it, which reaches stderr and so journald or a container's
 * log: a secret only by its length, a password in anything URL-like masked (even one that does
 * not parse as a URL), the rest quoted and cut at 80 characters.
 */
function shown(key: string, value: string): string {
  if (/SECRET|PASSWORD|TOKEN/.test(key)) return `a value of ${value.length} characters`;
  const text = value.includes("@") ? maskUserinfo(value) : value;
  return JSON.stringify(text.length > 80 ? text.slice(0, 80) + "…" : text);
}

/** `scheme://user:password@host` → `scheme://user:***@host`, whatever the scheme; a bare `:password@` too. */
function maskUserinfo(value: string): string {
  const at = value.lastIndexOf("@");
  const head = value.slice(0, at);
  const start = head.indexOf("//") >= 0 ? head.indexOf("//") + 2 : 0;
  const userinfo = head.slice(start);
  const colon = userinfo.indexOf(":");
  if (colon < 0) return value;
  return `${head.slice(0, start)}${userinfo.slice(0, colon)}:***${value.slice(at)}`;
}

export function parseConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as a shell's `FOO=` does.
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = configSchema.safeParse(clean);
  if (!result.success) throw new ConfigError(`Invalid configuration: ${describe(result.error, clean)}`);
  return resolvePaths(result.data, installationRoot());
}

let cached: Config | undefined;
/** The process's configuration, parsed once. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}

/**
 * For a process entry point: parse the configuration or print the one-line reason and exit 78
 * (EX_CONFIG) — no stack trace for an operator's typo.
 */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    cached = parseConfig(env);
    return cached;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** A URL without its password, for logs. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}

/** host:port clients reach the proxy at: PROXY_PUBLIC_ADDRESS, else PUBLIC_URL's host (or localhost) and PROXY_PORT. */
export function proxyPublicAddress(c: Pick<Config, "PROXY_PUBLIC_ADDRESS" | "PUBLIC_URL" | "PROXY_PORT">): string {
  if (c.PROXY_PUBLIC_ADDRESS) return c.PROXY_PUBLIC_ADDRESS;
  let host = "localhost";
  if (c.PUBLIC_URL) {
    try {
      host = new URL(c.PUBLIC_URL).hostname;
    } catch {
      // parseConfig validated the URL already; keep the default.
    }
  }
  return `${host}:${c.PROXY_PORT}`;
}

/** host:port for the Earthly CLI's EARTHLY_GRPC_ADDRESS: EARTHLY_API_PUBLIC_ADDRESS, else the proxy's public host and EARTHLY_API_PORT. */
export function earthlyApiPublicAddress(c: Pick<Config, "EARTHLY_API_PUBLIC_ADDRESS" | "EARTHLY_API_PORT" | "PROXY_PUBLIC_ADDRESS" | "PUBLIC_URL" | "PROXY_PORT">): string {
  if (c.EARTHLY_API_PUBLIC_ADDRESS) return c.EARTHLY_API_PUBLIC_ADDRESS;
  const proxy = proxyPublicAddress(c);
  const host = proxy.slice(0, proxy.lastIndexOf(":"));
  return `${host}:${c.EARTHLY_API_PORT}`;
}
