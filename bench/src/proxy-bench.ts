// npm run bench:proxy — the same fast backend reached directly, through our proxy, through
// nginx grpc_pass, and through a bare TCP relay (the floor for any user-space forwarder here);
// unary at 1 and 64 in flight (p50/p99) and one server stream of 1 MiB messages (MiB/s). Each
// configuration runs RUNS times, interleaved; medians are reported. The last stdout line is one
// JSON object (keys as in issue 4, plus relay_*, each forwarder's CPU per GiB streamed, and the
// first call through the just-started proxy).
import { randomBytes } from "node:crypto";
import { benchDatabase, cpuMs, median, runJson, say, startBackendProcess, startListening, startProxyProcess, tenant, awakeSatellite } from "./harness.ts";
import { startNginx } from "./nginx.ts";
import type { LoadOptions } from "./loadgen.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CALLS_1 = Number(process.env.BENCH_CALLS_1 ?? 5000);
const CALLS_64 = Number(process.env.BENCH_CALLS_64 ?? 30000);
const STREAM_MESSAGES = Number(process.env.BENCH_STREAM_MESSAGES ?? 512);

type Target = "direct" | "proxy" | "nginx" | "relay";
interface UnaryResult { calls: number; failed: number; p50_us: number; p99_us: number; qps: number }
interface StreamResult { status: string; bytes: number; warmupBytes: number; mibps: number }

const bench = await benchDatabase();
const cleanups: Array<() => Promise<void> | void> = [() => bench.drop()];
try {
  const backend = await startBackendProcess();
  cleanups.unshift(() => backend.child.stop());
  const { orgId, token } = await tenant(bench.db);
  // The proxy's hop is mutual TLS, always: its satellite is the same backend serving TLS (what a
  // proxied call really costs); direct, nginx and the relay reach the plaintext one.
  const tlsBackend = await startBackendProcess({ tls: true });
  cleanups.unshift(() => tlsBackend.child.stop());
  const name = await awakeSatellite(bench.db, orgId, tlsBackend.address);
  const proxy = await startProxyProcess({ DATABASE_URL: bench.url, QUEUE_PREFIX: `satellites-bench-${randomBytes(3).toString("hex")}` });
  cleanups.unshift(() => proxy.child.stop());
  const nginx = await startNginx(backend.address);
  cleanups.unshift(() => nginx.cleanup(), () => nginx.child.stop());
  const relay = await startListening(process.execPath, ["--import", "tsx", "bench/src/relay.ts", backend.address], "relay");
  cleanups.unshift(() => relay.child.stop());
  const relayAddress = relay.address;
  say(`backend ${backend.address}, proxy :${proxy.port}, nginx :${nginx.port}, relay ${relayAddress}; ${RUNS} interleaved runs`);

  const targets: Record<Target, { address: string; metadata?: Record<string, string> }> = {
    direct: { address: backend.address },
    proxy: { address: `127.0.0.1:${proxy.port}`, metadata: { satellite_name: name, satellite_org: orgId, satellite_token: token } },
    nginx: { address: `127.0.0.1:${nginx.port}` },
    relay: { address: relayAddress },
  };
  const load = <T>(t: Target, o: Omit<LoadOptions, "target">): Promise<T> =>
    runJson<T>(process.execPath, ["--import", "tsx", "bench/src/loadgen.ts", JSON.stringify({ ...o, target: targets[t].address, metadata: targets[t].metadata })]);

  // The first call through the just-started proxy (after one direct call, so the backend's own
  // cold start is not counted against it): what the first build after a restart or deploy waits.
  const firstDirect = await load<UnaryResult>("direct", { mode: "unary", concurrency: 1, calls: 1, warmup: 0 });
  const firstProxy = await load<UnaryResult>("proxy", { mode: "unary", concurrency: 1, calls: 1, warmup: 0 });
  say(`first call: direct ${firstDirect.p50_us} µs, through the just-started proxy ${firstProxy.p50_us} µs`);

  // CPU a forwarder spends per GiB streamed: what it costs whatever the machine's speed. On a
  // 2-vCPU machine the three processes of a proxied stream share two CPUs, so each ms shows.
  const forwarders: Partial<Record<Target, number>> = { proxy: proxy.child.proc.pid!, nginx: nginx.child.proc.pid!, relay: relay.pid };
  const cpu: Record<Target, number[]> = { direct: [], proxy: [], nginx: [], relay: [] };
  const u1: Record<Target, UnaryResult[]> = { direct: [], proxy: [], nginx: [], relay: [] };
  const u64: Record<Target, UnaryResult[]> = { direct: [], proxy: [], nginx: [], relay: [] };
  const st: Record<Target, StreamResult[]> = { direct: [], proxy: [], nginx: [], relay: [] };
  const order: Target[] = ["direct", "proxy", "nginx", "relay"];
  for (let run = 0; run < RUNS; run++) {
    // Rotate who goes first so no configuration always runs on a cold or warm machine.
    const ts = [...order.slice(run % order.length), ...order.slice(0, run % order.length)];
    for (const t of ts) {
      const a = await load<UnaryResult>(t, { mode: "unary", concurrency: 1, calls: CALLS_1, warmup: 500 });
      const b = await load<UnaryResult>(t, { mode: "unary", concurrency: 64, calls: CALLS_64, warmup: 1000 });
      const forwarder = forwarders[t];
      const cpuBefore = forwarder ? cpuMs(forwarder) : 0;
      const c = await load<StreamResult>(t, { mode: "stream", concurrency: 1, streamMessages: STREAM_MESSAGES, streamSize: 1 << 20 });
      if (forwarder) cpu[t].push(Math.round((cpuMs(forwarder) - cpuBefore) / ((c.warmupBytes + c.bytes) / (1 << 30))));
      for (const [what, r] of [["unary1", a], ["unary64", b]] as const) if (r.failed > 0) throw new Error(`${t} ${what}: ${r.failed} calls failed`);
      if (c.status !== "0") throw new Error(`${t} stream ended with status ${c.status}`);
      u1[t].push(a);
      u64[t].push(b);
      st[t].push(c);
      say(`run ${run + 1} ${t.padEnd(6)} unary1 p50 ${a.p50_us} µs p99 ${a.p99_us} µs | unary64 p50 ${b.p50_us} µs p99 ${b.p99_us} µs (${b.qps}/s) | stream ${c.mibps} MiB/s${forwarder ? ` (${cpu[t].at(-1)} ms CPU/GiB)` : ""}`);
    }
  }

  const out: Record<string, number> = {};
  for (const t of order) {
    out[`${t}_unary_p50_us`] = median(u1[t].map((r) => r.p50_us));
    out[`${t}_unary_p99_us`] = median(u1[t].map((r) => r.p99_us));
  }
  for (const t of order) {
    out[`${t}_unary64_p50_us`] = median(u64[t].map((r) => r.p50_us));
    out[`${t}_unary64_p99_us`] = median(u64[t].map((r) => r.p99_us));
  }
  for (const t of order) out[`${t}_stream_mibps`] = median(st[t].map((r) => r.mibps));
  for (const t of ["proxy", "nginx", "relay"] as const) out[`${t}_stream_cpu_ms_per_gib`] = median(cpu[t]);
  out.direct_first_call_us = firstDirect.p50_us;
  out.proxy_first_call_us = firstProxy.p50_us;

  const added = out.proxy_unary_p50_us! - out.direct_unary_p50_us!;
  say(`goals: proxy adds ${added} µs at 1 in flight (≤ 150: ${added <= 150 ? "met" : "NOT met"}); ` +
    `64 in flight proxy p50 ${out.proxy_unary64_p50_us} vs nginx ${out.nginx_unary64_p50_us} (${out.proxy_unary64_p50_us! <= out.nginx_unary64_p50_us! ? "met" : "NOT met"}); ` +
    `stream ${out.proxy_stream_mibps} vs direct ${out.direct_stream_mibps} / nginx ${out.nginx_stream_mibps} MiB/s (${out.proxy_stream_mibps! >= 0.9 * out.direct_stream_mibps! && out.proxy_stream_mibps! >= out.nginx_stream_mibps! ? "met" : "NOT met"})`);
  say(`for context, a bare TCP relay (no HTTP/2, no auth) adds ${out.relay_unary_p50_us! - out.direct_unary_p50_us!} µs at 1 in flight, ` +
    `has p50 ${out.relay_unary64_p50_us} µs at 64, and streams ${out.relay_stream_mibps} MiB/s (${Math.round((100 * out.relay_stream_mibps!) / out.direct_stream_mibps!)} % of direct)`);
  say(`CPU per GiB streamed: proxy ${out.proxy_stream_cpu_ms_per_gib} ms, nginx ${out.nginx_stream_cpu_ms_per_gib} ms, bare relay ${out.relay_stream_cpu_ms_per_gib} ms`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  for (const c of cleanups) await c();
}
process.exit(0);
