// Load generator, run as its own process so its CPU is not the measured path's:
//   node --import tsx bench/src/loadgen.ts '<json options>'
// Prints one JSON line with the result. Raw node:http2 with pre-encoded messages keeps the
// client's own cost per call small and identical for every target.
import http2 from "node:http2";
import { EMPTY, streamingOutputRequest } from "./grpc-wire.ts";

export interface LoadOptions {
  target: string;
  mode: "unary" | "stream" | "wake";
  /** unary: calls in flight; wake: callers. */
  concurrency: number;
  /** unary: measured calls (after warmup). */
  calls?: number;
  warmup?: number;
  /** stream: messages of streamSize bytes. */
  streamMessages?: number;
  streamSize?: number;
  /** Extra targets for wake mode (callers are spread over all). */
  targets?: string[];
  connections?: number;
  metadata?: Record<string, string>;
  /**
   * wake: bursts of `concurrency` calls with `warmupMetadata` (an awake satellite) before the
   * measured one, so the measurement is not this process's own first, unoptimised run.
   */
  warmupBursts?: number;
  warmupMetadata?: Record<string, string>;
  /** Where the warm-up bursts go (default: the targets). */
  warmupTargets?: string[];
  deadlineMs?: number;
  /**
   * wake, straight to a satellite: its process (this pid) is stopped while the burst is sent
   * and continued at `started`, as a woken satellite finds the held calls all there at once.
   */
  holdPid?: number;
}

const opts = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;

function connect(target: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://${target}`, { settings: { initialWindowSize: 4 << 20 }, peerMaxConcurrentStreams: 2000 });
    s.once("connect", () => {
      s.setLocalWindowSize(32 << 20);
      resolve(s);
    });
    s.once("error", reject);
  });
}

function headers(path: string, metadata = opts.metadata): http2.OutgoingHttpHeaders {
  const h: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...metadata };
  if (opts.deadlineMs) h["grpc-timeout"] = `${opts.deadlineMs}m`;
  return h;
}

/** Wall clock with sub-millisecond precision, comparable with the database's timestamps. */
const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * One call; resolves with its grpc-status ("reset:<code>" / "error" otherwise), the bytes
 * received, and `at`: when the status arrived (the response is complete then; Node emits the
 * stream's "close" later, after cleaning up).
 */
function call(session: http2.ClientHttp2Session, path: string, body: Buffer, metadata = opts.metadata): Promise<{ status: string; bytes: number; at: number }> {
  return new Promise((resolve) => {
    let status = "missing";
    let bytes = 0;
    let at: number | undefined;
    const req = session.request(headers(path, metadata));
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        at = wallNow();
      }
    });
    req.on("trailers", (t) => {
      status = String(t["grpc-status"]);
      at = wallNow();
    });
    req.on("data", (c: Buffer) => (bytes += c.length));
    req.on("error", () => {});
    req.on("close", () => resolve({ status: req.rstCode ? `reset:${req.rstCode}` : status, bytes, at: at ?? wallNow() }));
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function unary(): Promise<object> {
  const session = await connect(opts.target);
  const path = "/grpc.testing.TestService/EmptyCall";
  const warmup = opts.warmup ?? 500;
  const total = opts.calls ?? 5000;
  for (let i = 0; i < warmup; i++) await call(session, path, EMPTY);
  const latencies: number[] = [];
  let failed = 0;
  let issued = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (issued < total) {
      issued++;
      const t0 = process.hrtime.bigint();
      const r = await call(session, path, EMPTY);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (r.status !== "0") failed++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  session.close();
  latencies.sort((a, b) => a - b);
  return { calls: latencies.length, failed, p50_us: Math.round(percentile(latencies, 50)), p99_us: Math.round(percentile(latencies, 99)), qps: Math.round(latencies.length / seconds) };
}

async function stream(): Promise<object> {
  const session = await connect(opts.target);
  const size = opts.streamSize ?? 1 << 20;
  const path = "/grpc.testing.TestService/StreamingOutputCall";
  // Warm-up: a long-running forwarder has compiled its streaming path long before (the first
  // stream through a fresh proxy costs 1.5-2.5 times the CPU per byte of the later ones).
  const warm = await call(session, path, streamingOutputRequest(size, 64));
  const messages = opts.streamMessages ?? 256;
  const t0 = process.hrtime.bigint();
  const r = await call(session, path, streamingOutputRequest(size, messages));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  session.close();
  return { status: r.status, bytes: r.bytes, warmupBytes: warm.bytes, mibps: Math.round((r.bytes / (1 << 20) / seconds) * 10) / 10 };
}

async function wake(): Promise<object> {
  const targets = opts.targets ?? [opts.target];
  const perTarget = opts.connections ?? 4;
  const sessions = (await Promise.all(targets.map((t) => Promise.all(Array.from({ length: perTarget }, () => connect(t)))))).flat();
  const path = "/grpc.testing.TestService/EmptyCall";
  const warmSessions = opts.warmupTargets ? await Promise.all(opts.warmupTargets.map(connect)) : sessions;
  for (let w = 0; w < (opts.warmupBursts ?? 0); w++) {
    const warm = await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => call(warmSessions[i % warmSessions.length]!, path, EMPTY, opts.warmupMetadata)));
    const bad = warm.filter((r) => r.status !== "0");
    if (bad.length > 0) throw new Error(`${bad.length} warm-up calls failed, the first with status ${bad[0]!.status}`);
  }
  if (warmSessions !== sessions) warmSessions.forEach((s) => s.close());
  if (opts.holdPid) process.kill(opts.holdPid, "SIGSTOP");
  let started = Date.now();
  const pending = Array.from({ length: opts.concurrency }, async (_, i) => {
    const r = await call(sessions[i % sessions.length]!, path, EMPTY);
    return { status: r.status, doneAt: r.at };
  });
  if (opts.holdPid) {
    // Long enough for every request to be written into the stopped process's sockets.
    await new Promise((resolve) => setTimeout(resolve, 300));
    started = wallNow();
    process.kill(opts.holdPid, "SIGCONT");
  }
  const results = await Promise.all(pending);
  sessions.forEach((s) => s.close());
  const statuses: Record<string, number> = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return { started, callers: results.length, statuses, doneAt: results.map((r) => r.doneAt) };
}

const result = opts.mode === "unary" ? await unary() : opts.mode === "stream" ? await stream() : await wake();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
