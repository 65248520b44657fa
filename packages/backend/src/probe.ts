// Health probing over real gRPC (grpc.health.v1.Health/Check), as the jobs worker does before it
// marks a satellite awake: an open port is not enough, the backend must say SERVING. A daemon
// without the health service (BuildKit before v0.13) is ready once it lists its workers
// (moby.buildkit.v1.Control/ListWorkers, what Earthly and Depot probe). Over mutual TLS the
// probe presents the caller's client certificate.
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { decodeWorkerLabels, LIST_WORKERS } from "./worker-labels.ts";

export type ProbeResult = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN" | "UNREACHABLE";

export interface ProbeOptions {
  timeoutMs: number;
  service?: string;
  /** Channel credentials (mutual TLS to a satellite); default plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** The name the server certificate must carry when it is not the address's host (a satellite's own name). */
  serverName?: string;
}

function channelOptions(opts: { serverName?: string }): grpc.ChannelOptions {
  if (!opts.serverName) return CHANNEL_OPTIONS;
  return { ...CHANNEL_OPTIONS, "grpc.ssl_target_name_override": opts.serverName, "grpc.default_authority": opts.serverName };
}

interface HealthCheckResponse {
  status?: string;
}

interface HealthClient extends grpc.Client {
  Check(
    req: { service: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<HealthCheckResponse>,
  ): grpc.ClientUnaryCall;
}

// proto-loader hands back the methods untyped; this is the one place they get a type.
const HealthClientCtor = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => HealthClient;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // A private subchannel per probe: the shared pool would hand a later probe a connection still
  // in reconnect backoff from an earlier refusal, failing it long after the backend came up.
  "grpc.use_local_subchannel_pool": 1,
  "grpc.enable_retries": 0,
};

const STATUSES = new Set<string>(["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN"]);

function isProbeStatus(s: string | undefined): s is Exclude<ProbeResult, "UNREACHABLE"> {
  return s !== undefined && STATUSES.has(s);
}

// An empty ListWorkersRequest (no filter) is zero bytes in protobuf.
const emptyRequest = (): Buffer => Buffer.alloc(0);
const rawResponse = (b: Buffer): Buffer => b;

/** One ListWorkers call: the response's bytes, or the call's error code. */
function listWorkers(address: string, opts: ProbeOptions): Promise<{ bytes: Buffer } | { code: grpc.status }> {
  const client = new grpc.Client(address, opts.credentials ?? grpc.credentials.createInsecure(), channelOptions(opts));
  return new Promise<{ bytes: Buffer } | { code: grpc.status }>((resolve) => {
    const options = { deadline: Date.now() + opts.timeoutMs };
    client.makeUnaryRequest(LIST_WORKERS, emptyRequest, rawResponse, Buffer.alloc(0), new grpc.Metadata(), options, (err, res) => {
      resolve(err ? { code: err.code } : { bytes: res ?? Buffer.alloc(0) });
    });
  }).finally(() => client.close());
}

/** BuildKit's own readiness: ListWorkers answers with at least one worker (counted, not decoded). */
export async function probeBuildkit(address: string, opts: ProbeOptions): Promise<ProbeResult> {
  const r = await listWorkers(address, opts);
  if ("bytes" in r) return r.bytes.length > 0 ? "SERVING" : "NOT_SERVING";
  return r.code === grpc.status.UNAVAILABLE || r.code === grpc.status.DEADLINE_EXCEEDED ? "UNREACHABLE" : "UNKNOWN";
}

/** A worker label the daemon must carry to count as ready (the configuration it runs with). */
export interface WorkerLabel {
  key: string;
  value: string;
}

/**
 * Whether the daemon runs with the configuration `label` stands for: a worker carries it. A
 * daemon whose workers carry the key with another value runs an older configuration (not
 * ready); one that has no such key at all was configured before the label existed, and one that
 * does not serve ListWorkers is not BuildKit: both are taken as they are.
 */
export async function carriesLabel(address: string, opts: ProbeOptions, label: WorkerLabel): Promise<boolean> {
  const r = await listWorkers(address, opts);
  if (!("bytes" in r)) return r.code === grpc.status.UNIMPLEMENTED;
  let workers: Record<string, string>[];
  try {
    workers = decodeWorkerLabels(r.bytes);
  } catch {
    return false;
  }
  const values = workers.map((w) => w[label.key]).filter((v) => v !== undefined);
  return values.length === 0 || values.includes(label.value);
}

/** Health/Check, and where the daemon has no health service, BuildKit's ListWorkers. */
export async function probeReady(address: string, opts: ProbeOptions): Promise<ProbeResult> {
  const health = await probeHealthCall(address, opts);
  if (health.unimplemented) return probeBuildkit(address, opts);
  return health.result;
}

/** One Health/Check call with a deadline. Never rejects: failures map onto a ProbeResult. */
export async function probeHealth(address: string, opts: ProbeOptions): Promise<ProbeResult> {
  return (await probeHealthCall(address, opts)).result;
}

function probeHealthCall(address: string, opts: ProbeOptions): Promise<{ result: ProbeResult; unimplemented: boolean }> {
  let client: HealthClient;
  try {
    client = new HealthClientCtor(address, opts.credentials ?? grpc.credentials.createInsecure(), channelOptions(opts));
  } catch {
    // A malformed address throws synchronously; nothing can be reached there.
    return Promise.resolve({ result: "UNREACHABLE", unimplemented: false });
  }
  return checkOn(client, opts).finally(() => client.close());
}

function checkOn(client: HealthClient, opts: Pick<ProbeOptions, "timeoutMs" | "service">): Promise<{ result: ProbeResult; unimplemented: boolean }> {
  return new Promise<{ result: ProbeResult; unimplemented: boolean }>((resolveCall) => {
    const resolve = (result: ProbeResult, unimplemented = false) => resolveCall({ result, unimplemented });
    try {
      client.Check(
        { service: opts.service ?? "" },
        new grpc.Metadata(),
        { deadline: Date.now() + opts.timeoutMs },
        (err, res) => {
          if (!err) resolve(isProbeStatus(res?.status) ? res.status : "UNKNOWN");
          // The health service's way of saying "never heard of that service".
          else if (err.code === grpc.status.NOT_FOUND) resolve("SERVICE_UNKNOWN");
          else if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED)
            resolve("UNREACHABLE");
          // Something answered but not as a health service (e.g. UNIMPLEMENTED).
          else resolve("UNKNOWN", err.code === grpc.status.UNIMPLEMENTED);
        },
      );
    } catch {
      resolve("UNREACHABLE");
    }
  });
}

/** Node's longest timer: grpc-js would otherwise close an idle channel after 30 minutes. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * A Health/Check channel kept open while its daemon sleeps frozen: the kernel keeps the
 * connection, so the thawed daemon answers a check on it at once, with no new connection or
 * TLS handshake (on a 2-vCPU host those cost a probe 10–20 ms). Only for Health/Check daemons.
 */
export class HeldHealthChannel {
  private readonly client: HealthClient;

  constructor(
    readonly address: string,
    opts: Pick<ProbeOptions, "credentials" | "serverName">,
  ) {
    this.client = new HealthClientCtor(address, opts.credentials ?? grpc.credentials.createInsecure(), { ...channelOptions(opts), "grpc.client_idle_timeout_ms": LONGEST_TIMER_MS });
  }

  async check(timeoutMs: number): Promise<ProbeResult> {
    return (await checkOn(this.client, { timeoutMs })).result;
  }

  close(): void {
    this.client.close();
  }
}

export interface WaitHealthyOptions {
  /** Give up after this long overall. */
  totalMs: number;
  /** First pause between probes (default 100 ms); backs off to at most `maxIntervalMs`. */
  intervalMs?: number;
  /** Longest pause between probes (default 500 ms, or intervalMs if larger). */
  maxIntervalMs?: number;
  /** Health service name to ask about; default "" (the server as a whole). */
  service?: string;
  signal?: AbortSignal;
  /** Channel credentials (mutual TLS to a satellite); default plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** See ProbeOptions.serverName. */
  serverName?: string;
  /** Ready only once the daemon carries this worker label too (carriesLabel). */
  workerLabel?: WorkerLabel;
}

// Caps one probe so a black-holed address still leaves time for later attempts.
const MAX_PROBE_MS = 2000;

/**
 * Polls until the backend is ready (probeReady says SERVING, and it carries `workerLabel` when
 * given: true) or `totalMs` passes (false).
 */
export async function waitHealthy(address: string, opts: WaitHealthyOptions): Promise<boolean> {
  const deadline = Date.now() + opts.totalMs;
  let interval = opts.intervalMs ?? 100;
  const maxInterval = Math.max(opts.maxIntervalMs ?? 500, interval);
  for (;;) {
    if (opts.signal?.aborted) return false;
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    const probeOpts = { timeoutMs: Math.min(remaining, MAX_PROBE_MS), service: opts.service ?? "", credentials: opts.credentials, serverName: opts.serverName };
    if ((await probeReady(address, probeOpts)) === "SERVING" && (!opts.workerLabel || (await carriesLabel(address, probeOpts, opts.workerLabel)))) return true;
    const pause = Math.min(interval, deadline - Date.now());
    if (pause <= 0) return false;
    await sleep(pause, opts.signal);
    interval = Math.min(maxInterval, interval * 1.5);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
