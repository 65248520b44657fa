// Health probing over real gRPC (grpc.health.v1.Health/Check), as the jobs worker does before it
// marks a satellite awake: an open port is not enough, the backend must say SERVING.
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

export type ProbeResult = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN" | "UNREACHABLE";

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

/** One Health/Check call with a deadline. Never rejects: failures map onto a ProbeResult. */
export function probeHealth(address: string, opts: { timeoutMs: number; service?: string }): Promise<ProbeResult> {
  const client = new HealthClientCtor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return new Promise<ProbeResult>((resolve) => {
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
          else resolve("UNKNOWN");
        },
      );
    } catch {
      // A malformed address throws synchronously; nothing can be reached there.
      resolve("UNREACHABLE");
    }
  }).finally(() => client.close());
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
}

// Caps one probe so a black-holed address still leaves time for later attempts.
const MAX_PROBE_MS = 2000;

/** Polls until the backend reports SERVING (true) or `totalMs` passes (false). */
export async function waitHealthy(address: string, opts: WaitHealthyOptions): Promise<boolean> {
  const deadline = Date.now() + opts.totalMs;
  let interval = opts.intervalMs ?? 100;
  const maxInterval = Math.max(opts.maxIntervalMs ?? 500, interval);
  for (;;) {
    if (opts.signal?.aborted) return false;
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    const probeOpts = { timeoutMs: Math.min(remaining, MAX_PROBE_MS), service: opts.service ?? "" };
    if ((await probeHealth(address, probeOpts)) === "SERVING") return true;
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
