// npm run bench:proxy — the same fast backend reached directly, through our proxy, through
// nginx grpc_pass, and through a bare TCP relay (the floor for any user-space forwarder here);
// unary at 1 and 64 in flight (p50/p99) and one server stream of 1 MiB messages (MiB/s). Each
// configuration runs RUNS times, interleaved; medians are reported. The last stdout line is one
// JSON object (keys as in issue 4, plus relay_*, each forwarder's CPU per GiB streamed, and the
// first call through the just-started proxy). "norec" is a second proxy with build records off
// (PROXY_BUILD_RECORDS=false): recording_cost_us is what recording adds per call. "plain" is the
// proxy with a plaintext hop to the plaintext backend, as nginx and the relay have (plain_*, and
// plain_over_nginx_* for issue 12's goals); "proxy" keeps the product's mutual-TLS hop. "h2" is
// the proxy's node:http2 transport alone (bench/src/h2-forwarder.ts: the same relay, no auth,
// routing or bookkeeping): the floor for a forwarder on node:http2 (h2_*, h2_over_nginx_added).
import { randomBytes } from "node:crypto";
import { benchDatabase, cpuMs, cpuProfileArgs, median, runJson, RUNTIME, say, startBackendProcess, startListening, startProxyProcess, tenant, awakeSatellite } from "./harness.ts";
import { startNginx } from "./nginx.ts";
import { BuildRecorder } from "../../apps/proxy/src/build-records.ts";
import type { LoadOptions } from "./loadgen.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CALLS_1 = Number(process.env.BENCH_CALLS_1 ?? 5000);
const CALLS_64 = Number(process.env.BENCH_CALLS_64 ?? 30000);
const STREAM_MESSAGES = Number(process.env.BENCH_STREAM_MESSAGES ?? 512);

type Target = "direct" | "proxy" | "plain" | "norec" | "h2" | "nginx" | "relay";
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
  const norec = await startProxyProcess({ DATABASE_URL: bench.url, QUEUE_PREFIX: `satellites-bench-${randomBytes(3).toString("hex")}`, PROXY_BUILD_RECORDS: "false" });
  cleanups.unshift(() => norec.child.stop());
  // "plain": the same forwarder with a plaintext hop to the plaintext backend
  // (bench/src/plain-proxy.ts), on equal terms with nginx and the relay, which reach it so too.
  const plainName = await awakeSatellite(bench.db, orgId, backend.address);
  const plain = await startProxyProcess({ DATABASE_URL: bench.url, QUEUE_PREFIX: `satellites-bench-${randomBytes(3).toString("hex")}` }, "bench/src/plain-proxy.ts");
  cleanups.unshift(() => plain.child.stop());
  const nginx = await startNginx(backend.address);
  cleanups.unshift(() => nginx.cleanup(), () => nginx.child.stop());
  const relay = await startListening(process.execPath, ["--import", "tsx", "bench/src/relay.ts", backend.address], "relay");
  cleanups.unshift(() => relay.child.stop());
  const relayAddress = relay.address;
  const h2 = await startListening(process.execPath, [...cpuProfileArgs(), "--import", "tsx", "bench/src/h2-forwarder.ts", backend.address], "h2 forwarder");
  cleanups.unshift(() => h2.child.stop());
  say(`backend ${backend.address}, proxy :${proxy.port}, nginx :${nginx.port}, relay ${relayAddress}, node:http2 forwarder ${h2.address}; ${RUNS} interleaved runs`);

  const targets: Record<Target, { address: string; metadata?: Record<string, string> }> = {
    direct: { address: backend.address },
    proxy: { address: `127.0.0.1:${proxy.port}`, metadata: { satellite_name: name, satellite_org: orgId, satellite_token: token } },
    plain: { address: `127.0.0.1:${plain.port}`, metadata: { satellite_name: plainName, satellite_org: orgId, satellite_token: token } },
    norec: { address: `127.0.0.1:${norec.port}`, metadata: { satellite_name: name, satellite_org: orgId, satellite_token: token } },
    h2: { address: h2.address },
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
  const forwarders: Partial<Record<Target, number>> = { proxy: proxy.child.proc.pid!, norec: norec.child.proc.pid!, plain: plain.child.proc.pid!, h2: h2.pid, nginx: nginx.child.proc.pid!, relay: relay.pid };
  const lists = <T>(): Record<Target, T[]> => ({ direct: [], proxy: [], plain: [], norec: [], h2: [], nginx: [], relay: [] });
  const cpu = lists<number>();
  const cpuPerCall = lists<number>();
  const u1 = lists<UnaryResult>();
  const u64 = lists<UnaryResult>();
  const st = lists<StreamResult>();
  // BENCH_TARGETS=proxy,norec measures a subset (e.g. only what recording costs).
  const order: Target[] = process.env.BENCH_TARGETS ? (process.env.BENCH_TARGETS.split(",") as Target[]) : ["direct", "proxy", "plain", "norec", "h2", "nginx", "relay"];
  for (let run = 0; run < RUNS; run++) {
    // Rotate who goes first so no configuration always runs on a cold or warm machine.
    const ts = [...order.slice(run % order.length), ...order.slice(0, run % order.length)];
    for (const t of ts) {
      const forwarder = forwarders[t];
      // CPU the forwarder spends per call: steadier than latency on a busy machine (what
      // recording costs shows here first).
      const cpuCallsBefore = forwarder ? cpuMs(forwarder) : 0;
      const a = await load<UnaryResult>(t, { mode: "unary", concurrency: 1, calls: CALLS_1, warmup: 500 });
      const b = await load<UnaryResult>(t, { mode: "unary", concurrency: 64, calls: CALLS_64, warmup: 1000 });
      if (forwarder) cpuPerCall[t].push(Math.round(((cpuMs(forwarder) - cpuCallsBefore) * 1000) / (CALLS_1 + 500 + CALLS_64 + 1000)));
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
  const forwarding = ["proxy", "plain", "norec", "h2", "nginx", "relay"] as const;
  for (const t of forwarding) if (order.includes(t)) out[`${t}_stream_cpu_ms_per_gib`] = median(cpu[t]);
  // Each forwarder's CPU per unary call (1 and 64 in flight together): what a call costs it, whatever the machine's load.
  for (const t of forwarding) if (order.includes(t)) out[`${t}_cpu_us_per_call`] = median(cpuPerCall[t]);
  out.direct_first_call_us = firstDirect.p50_us;
  out.proxy_first_call_us = firstProxy.p50_us;

  if (order.includes("norec") && order.includes("proxy")) {
    out.recording_cost_us = out.proxy_unary_p50_us! - out.norec_unary_p50_us!;
    out.recording_cost64_us = out.proxy_unary64_p50_us! - out.norec_unary64_p50_us!;
    out.proxy_cpu_us_per_call = median(cpuPerCall.proxy);
    out.norec_cpu_us_per_call = median(cpuPerCall.norec);
    out.recording_cpu_us_per_call = out.proxy_cpu_us_per_call - out.norec_cpu_us_per_call;
    say(`build records: ${out.recording_cost_us} µs per call at 1 in flight, ${out.recording_cost64_us} µs at 64; proxy CPU per call ${out.proxy_cpu_us_per_call} µs vs ${out.norec_cpu_us_per_call} µs without (${out.recording_cpu_us_per_call} µs; ≤ 10: ${out.recording_cost_us <= 10 && out.recording_cpu_us_per_call <= 10 ? "met" : "NOT met"})`);
  }
  // The recording path alone, in this process: what a call's bookkeeping costs with records on
  // and off (CPU per call, medians of interleaved rounds), unaffected by the network and the
  // other processes' scheduling. The batch write itself happens on a timer, off every call.
  const rec = await recordingCost(bench.db);
  out.recording_inproc_on_ns_per_call = rec.on;
  out.recording_inproc_off_ns_per_call = rec.off;
  say(`recording path in-process: ${rec.on} ns per call on, ${rec.off} ns off`);
  const full = (["direct", "proxy", "nginx", "relay"] as const).every((t) => order.includes(t));
  const added = out.proxy_unary_p50_us! - out.direct_unary_p50_us!;
  if (full) {
    say(`goals: proxy adds ${added} µs at 1 in flight (≤ 150: ${added <= 150 ? "met" : "NOT met"}); ` +
      `64 in flight proxy p50 ${out.proxy_unary64_p50_us} vs nginx ${out.nginx_unary64_p50_us} (${out.proxy_unary64_p50_us! <= out.nginx_unary64_p50_us! ? "met" : "NOT met"}); ` +
      `stream ${out.proxy_stream_mibps} vs direct ${out.direct_stream_mibps} / nginx ${out.nginx_stream_mibps} MiB/s (${out.proxy_stream_mibps! >= 0.9 * out.direct_stream_mibps! && out.proxy_stream_mibps! >= out.nginx_stream_mibps! ? "met" : "NOT met"})`);
    say(`for context, a bare TCP relay (no HTTP/2, no auth) adds ${out.relay_unary_p50_us! - out.direct_unary_p50_us!} µs at 1 in flight, ` +
      `has p50 ${out.relay_unary64_p50_us} µs at 64, and streams ${out.relay_stream_mibps} MiB/s (${Math.round((100 * out.relay_stream_mibps!) / out.direct_stream_mibps!)} % of direct)`);
    say(`CPU per GiB streamed: proxy ${out.proxy_stream_cpu_ms_per_gib} ms, nginx ${out.nginx_stream_cpu_ms_per_gib} ms, bare relay ${out.relay_stream_cpu_ms_per_gib} ms`);
  }
  if ((["direct", "plain", "nginx"] as const).every((t) => order.includes(t))) {
    // Issue 12's goals for the forwarder itself: both hops plaintext, as nginx's are.
    const { added: plainAdded, nginxAdded } = overNginx(out, "plain");
    say(`plaintext hop vs nginx: adds ${plainAdded} vs ${nginxAdded} µs at 1 in flight (≤ 2 ×: ${out.plain_over_nginx_added! <= 2 ? "met" : "NOT met"}); ` +
      `64 in flight p50 ${out.plain_unary64_p50_us} vs ${out.nginx_unary64_p50_us} µs (≤ nginx: ${out.plain_over_nginx_unary64! <= 1 ? "met" : "NOT met"}); ` +
      `stream ${out.plain_stream_mibps} vs ${out.nginx_stream_mibps} MiB/s; CPU per GiB ${out.plain_stream_cpu_ms_per_gib} vs ${out.nginx_stream_cpu_ms_per_gib} ms (≤ 1.25 ×: ${out.plain_over_nginx_cpu_per_gib! <= 1.25 ? "met" : "NOT met"})`);
  }
  if ((["direct", "plain", "h2", "nginx"] as const).every((t) => order.includes(t))) {
    // The same goals for node:http2 with nothing of the proxy's on top: if the floor misses
    // them, no forwarder on node:http2 meets them on this machine.
    const { added: h2Added } = overNginx(out, "h2");
    say(`node:http2 alone (the proxy's relay, nothing else): adds ${h2Added} µs at 1 in flight (${out.h2_over_nginx_added} × nginx's; the proxy ${out.plain_unary_p50_us! - out.h2_unary_p50_us!} µs more); ` +
      `64 in flight p50 ${out.h2_unary64_p50_us} µs (${out.h2_over_nginx_unary64} × nginx's); CPU per call ${out.h2_cpu_us_per_call} µs (proxy ${out.plain_cpu_us_per_call}, nginx ${out.nginx_cpu_us_per_call}); ` +
      `CPU per GiB ${out.h2_stream_cpu_ms_per_gib} ms (${out.h2_over_nginx_cpu_per_gib} × nginx's)`);
  }
  process.stdout.write(`${JSON.stringify({ ...out, ...RUNTIME })}\n`);
} finally {
  for (const c of cleanups) await c();
}

/**
 * Issue 12's three ratios of a forwarder against nginx, set as `<t>_over_nginx_added` (what each
 * adds over the direct call at 1 in flight), `_unary64` (p50 at 64) and `_cpu_per_gib`.
 */
function overNginx(out: Record<string, number>, t: "plain" | "h2"): { added: number; nginxAdded: number } {
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const added = out[`${t}_unary_p50_us`]! - out.direct_unary_p50_us!;
  const nginxAdded = out.nginx_unary_p50_us! - out.direct_unary_p50_us!;
  out[`${t}_over_nginx_added`] = ratio(added, Math.max(1, nginxAdded));
  out[`${t}_over_nginx_unary64`] = ratio(out[`${t}_unary64_p50_us`]!, out.nginx_unary64_p50_us!);
  out[`${t}_over_nginx_cpu_per_gib`] = ratio(out[`${t}_stream_cpu_ms_per_gib`]!, out.nginx_stream_cpu_ms_per_gib!);
  return { added, nginxAdded };
}

async function recordingCost(db: ConstructorParameters<typeof BuildRecorder>[0]): Promise<{ on: number; off: number }> {
  const N = 200_000;
  const onRec = new BuildRecorder(db, "bench", { intervalMs: 3_600_000, maxPending: 100_000 }, () => {});
  const offRec = new BuildRecorder(undefined, "bench", { intervalMs: 3_600_000, maxPending: 100_000 }, () => {});
  const round = (r: BuildRecorder): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      // What calls.ts does per forwarded call.
      const tally = r.begin({ orgId: "org", satelliteId: "sat", actor: `token:${"t"}`, client: "grpc-node-js 1.14.7", path: "/grpc.testing.TestService/UnaryCall", sessionId: undefined });
      tally.bytesUp += 100;
      tally.bytesDown += 100;
      tally.end(0);
    }
    const d = process.cpuUsage(t0);
    return Math.round(((d.user + d.system) * 1000) / N);
  };
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < 7; i++) {
    on.push(round(onRec));
    off.push(round(offRec));
  }
  await onRec.close().catch(() => {});
  return { on: median(on), off: median(off) };
}
process.exit(0);
