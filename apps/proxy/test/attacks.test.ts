// Attacks on the front door, each bounded in count and time, on loopback only, against a real
// proxy process with its memory cap configured. For each: the proxy's RSS stays under the cap,
// the offender gets the documented answer (docs/proxy-limits.md), and a legitimate tenant's unary
// p99, measured meanwhile on the same satellite, stays under 3 × its baseline.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Attacker, attack, F, frame, grpcRequestBlock, indexed, literal, PREFACE, settings, T, u32, uploadReadingLate } from "./attacker.ts";
import { asleepSatellite, authMetadata, awakeSatellite, makeToken, testClient, unaryStatus, type TestClient } from "./helpers.ts";
import { type Proc, startProxyProcess } from "./processes.ts";
import { CONNECTION_ERROR_RESETS } from "../src/front-door.ts";

const db = testDb();
const CAP_MIB = 768;
const RESET_BUDGET = 200;
const PER_ADDRESS = 500;
const ATTACKER_NICE = 15;
const H2 = { PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 };

/** The satellite: the built-in backend in a process of its own (not sharing the attacker's CPU time). */
let backend: ChildProcess;
let proxy: Proc & { port: number };
let client: TestClient;
let md: () => grpc.Metadata;
let tenant: ChildProcess;
let tenantLines: AsyncIterator<string>;
let auth: Record<string, string>;
/** The same tenant's metadata for an asleep satellite of its organization. */
let sleeper: Record<string, string>;
let nextAddress = 2;
/** A loopback source address of its own for each attacker. */
const attackerAddress = (): string => `127.0.0.${nextAddress++}`;

/** The fixture satellite's mutual-TLS files (the proxy process always speaks mTLS upstream). */
async function backendTlsArgs(): Promise<string[]> {
  const tls = await fixtureSatelliteTls();
  const dir = mkdtempSync(path.join(tmpdir(), "attacks-tls-"));
  const files = { "--tls-ca": tls.caPem, "--tls-cert": tls.certPem, "--tls-key": tls.keyPem };
  return Object.entries(files).flatMap(([flag, pem]) => {
    const file = path.join(dir, flag.slice(2));
    writeFileSync(file, pem, { mode: 0o600 });
    return [flag, file];
  });
}

beforeAll(async () => {
  const tlsArgs = await backendTlsArgs();
  backend = spawn(process.execPath, [...(process.env.SATELLITES_TEST_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SATELLITES_TEST_PROFILE_DIR}`] : []), "--import", "tsx", fileURLToPath(new URL("../../../packages/backend/src/main.ts", import.meta.url)), "--host", "127.0.0.1", "--port", "0", ...tlsArgs], { stdio: ["ignore", "pipe", "ignore"] });
  const { value: listening } = await createInterface({ input: backend.stdout! })[Symbol.asyncIterator]().next();
  const backendAddress = String(listening).replace(/^listening /, "");
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, backendAddress);
  md = () => authMetadata(sat.name, org.id, token);
  auth = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
  sleeper = { ...auth, satellite_name: (await asleepSatellite(db, org.id, backendAddress)).name };
  proxy = await startProxyProcess({
    DATABASE_URL: process.env.DATABASE_URL!,
    QUEUE_PREFIX: "satellites-test-unused",
    PROXY_MAX_RSS_MIB: String(CAP_MIB),
    PROXY_RESET_BUDGET: String(RESET_BUDGET),
    PROXY_RESET_BUDGET_SECONDS: "10",
    PROXY_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS),
  });
  // An attack must never end the proxy: if it does, its last words are the finding.
  proxy.proc.once("exit", (code, signal) => {
    if (code !== 0) console.error(`the proxy exited (code ${code}, signal ${signal}) during the attacks:\n${proxy.output().slice(-4000)}`);
  });
  client = testClient(`127.0.0.1:${proxy.port}`);
  for (let i = 0; i < 50; i++) await unaryStatus(client, "EmptyCall", {}, md());
  tenant = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./tenant-probe.ts", import.meta.url)), `127.0.0.1:${proxy.port}`, sat.name, org.id, token], { stdio: ["pipe", "pipe", "inherit"] });
  tenantLines = createInterface({ input: tenant.stdout! })[Symbol.asyncIterator]();
  await mark();
  // From here on this process is the attacker. A real one's CPU is not on the proxy's machine;
  // on two shared vCPUs its own work (16 MB of DATA in a burst, thousands of sockets) would be
  // scheduled against the proxy's, the satellite's and the tenant's (all started above, so at
  // the default priority) and the ratio would measure the scheduler. It keeps its loopback
  // traffic and socket work: those reach the proxy as they would over a network.
  setPriority(ATTACKER_NICE);
}, 60_000);

/** The tenant's p99 (ms) since the previous mark; every call of it must have succeeded. */
async function mark(): Promise<number> {
  tenant.stdin!.write("mark\n");
  const { value } = await tenantLines.next();
  const r = JSON.parse(String(value)) as { p99: number | null; calls: number; failures: number };
  expect(r.failures).toBe(0);
  return r.p99 ?? Number.POSITIVE_INFINITY;
}

afterAll(async () => {
  // The tenant finishes its call in flight before the proxy stops: one cut by the stop's GOAWAY
  // would print "tenant call failed" after a passing run, a false lead in a failed CI's log.
  if (tenant && tenant.exitCode === null) {
    const exited = new Promise((resolve) => tenant.once("exit", resolve));
    tenant.stdin?.end();
    await exited;
  }
  client?.close();
  await proxy?.stop();
  backend?.kill("SIGTERM");
});

function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proxy.proc.pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}

/**
 * Runs `attackFn` while the tenant calls and the proxy's RSS is sampled. The tenant's baseline is
 * its p99 over windows as long as the attack's, just before it and just after it (the attacker's
 * sockets gone): on a machine shared with other work, a short quiet window would compare the
 * attack with luck rather than with normal service; the worse of the two is the baseline.
 * All three windows last at least WINDOW_MS, the attack's from its start, aftermath included: the
 * p99 of a few hundred milliseconds of calls is their slowest one, while the baselines' is the 1 %
 * tail of seconds of calls (an attack that slows more than 1 % of the window's calls still shows).
 */
const WINDOW_MS = 2_000;
type Held = { baseline: number; p99: number; peakMiB: number };

/**
 * `measure`, once more when the tenant's p99 breached 3 × baseline: a p99 over a few seconds on two
 * shared vCPUs can breach it on one scheduling hiccup, while an attack that really hurts the tenant
 * (rapid reset before the fix: p99 over 400 ms) does so every time. The peak RSS is the higher of
 * both runs. Attacks that cannot run twice (their state outlives the run) pass `tries = 1`.
 */
async function under(attackFn: () => Promise<void>, tries = 2): Promise<Held> {
  let r = await measure(attackFn);
  for (let t = 1; t < tries && r.p99 >= 3 * r.baseline; t++) {
    console.log(`tenant: ${JSON.stringify({ try: t, ...r })}; measured again`);
    const again = await measure(attackFn);
    r = { ...again, peakMiB: Math.max(r.peakMiB, again.peakMiB) };
  }
  return r;
}

async function measure(attackFn: () => Promise<void>): Promise<Held> {
  await mark();
  await sleep(WINDOW_MS);
  const before = await mark();
  let peak = rssMiB();
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 50);
  const startedAt = Date.now();
  let took: number;
  try {
    await attackFn();
    took = Date.now() - startedAt;
    await sleep(Math.max(0, WINDOW_MS - took));
  } finally {
    clearInterval(sampler);
  }
  const during = await mark();
  peak = Math.max(peak, rssMiB());
  await sleep(Math.max(WINDOW_MS, took));
  const after = await mark();
  return { baseline: Math.max(before, after), p99: during, peakMiB: peak };
}

function expectHeld(r: Held): void {
  // The figures, whatever the outcome: how close a pass was matters on a shared machine.
  console.log(`tenant: ${JSON.stringify({ ...r, ratio: Math.round((r.p99 / r.baseline) * 100) / 100 })}`);
  expect(r.peakMiB).toBeLessThan(CAP_MIB);
  expect(r.p99).toBeLessThan(3 * r.baseline);
}

async function connect(address = attackerAddress(), read = true): Promise<Attacker> {
  const a = await attack(proxy.port, address, { read });
  a.write(Buffer.concat([PREFACE, settings()]));
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `next()` until the socket closes, `count` frames went out, or `ms` passed. */
async function flood(a: Attacker, next: (i: number) => Buffer, count: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let i = 0;
  while (i < count && Date.now() < end && !a.answer.closed && !a.socket.destroyed) {
    const chunk: Buffer[] = [];
    for (let j = 0; j < 256 && i < count; j++, i++) chunk.push(next(i));
    if (!a.write(Buffer.concat(chunk))) await Promise.race([new Promise((r) => a.socket.once("drain", r)), sleep(50)]);
    if (i % 4096 === 0) await sleep(0);
  }
  return i;
}

it("CONTINUATION flood, zero-length: the connection is closed (nghttp2's CONTINUATION limit)", async () => {
  let a!: Attacker;
  let sent = 0;
  const r = await under(async () => {
    a = await connect();
    a.write(frame(T.HEADERS, 0, 1, grpcRequestBlock("/x")));
    sent = await flood(a, () => frame(T.CONTINUATION, 0, 1), 200_000, 5_000);
    await a.closed(5_000);
  });
  // nghttp2 ends the session at its CONTINUATION limit; Node closes the socket (no GOAWAY).
  expect(a.answer.closed).toBe(true);
  expect(sent).toBeLessThan(200_000);
  expectHeld(r);
}, 60_000);

it("CONTINUATION flood with payload: the connection is closed", async () => {
  let a!: Attacker;
  const r = await under(async () => {
    a = await connect();
    a.write(frame(T.HEADERS, 0, 1, grpcRequestBlock("/x")));
    let n = 0;
    await flood(a, () => frame(T.CONTINUATION, 0, 1, literal(`x-${n++}`, "v".repeat(8000))), 20_000, 5_000);
    await a.closed(5_000);
  });
  expect(a.answer.closed).toBe(true);
  expectHeld(r);
}, 60_000);

it("HPACK bomb (one 4 KiB table entry referenced thousands of times): the stream is refused, nothing forwarded", async () => {
  let a!: Attacker;
  const r = await under(async () => {
    a = await connect();
    const block = Buffer.concat([grpcRequestBlock("/grpc.testing.TestService/EmptyCall", auth), literal("x-bomb", "b".repeat(4000), true), ...Array.from({ length: 4000 }, () => indexed(62))]);
    for (let s = 1; s < 40; s += 2) {
      // Split into 16 KiB frames: HEADERS then CONTINUATIONs.
      for (let off = 0, first = true; off < block.length; off += 16_384, first = false) {
        const part = block.subarray(off, off + 16_384);
        const last = off + 16_384 >= block.length;
        a.write(frame(first ? T.HEADERS : T.CONTINUATION, (last ? F.END_HEADERS : 0) | (first ? F.END_STREAM : 0), s, part));
      }
    }
    await a.closed(2_000);
  });
  // Each stream refused (RST_STREAM) or the connection ended (GOAWAY) — never a call.
  expect(a.answer.resets.size > 0 || a.answer.goaway !== undefined).toBe(true);
  for (const code of a.answer.resets.values()) expect(code).not.toBe(0);
  expectHeld(r);
}, 60_000);

it("1 MiB header list: refused at the protocol level; the proxy lives on", async () => {
  let a!: Attacker;
  const r = await under(async () => {
    a = await connect();
    const block = Buffer.concat([grpcRequestBlock("/grpc.testing.TestService/EmptyCall", auth), literal("x-big", "h".repeat(1 << 20))]);
    for (let off = 0, first = true; off < block.length; off += 16_384, first = false) {
      const last = off + 16_384 >= block.length;
      a.write(frame(first ? T.HEADERS : T.CONTINUATION, (last ? F.END_HEADERS : 0) | (first ? F.END_STREAM : 0), 1, block.subarray(off, off + 16_384)));
    }
    await a.closed(2_000);
  });
  expect(a.answer.resets.size > 0 || a.answer.goaway !== undefined).toBe(true);
  expect(a.answer.resets.get(1) ?? a.answer.goaway).not.toBe(0);
  expectHeld(r);
}, 60_000);

it("a client still sending when the proxy ends its connection reads why (GOAWAY), not a TCP reset", async () => {
  // The proxy ends the connection for DATA beyond the stream's window; the client has 4 MiB more
  // of its upload queued behind it. Closed over those unread bytes, the socket would answer with
  // a reset, and the client's next write fails (EPIPE) before it has read the GOAWAY.
  // It reads late, as a client busy uploading does: after another 1 MiB written 200 ms later.
  const a = await connect();
  a.write(frame(T.HEADERS, F.END_HEADERS, 1, grpcRequestBlock("/grpc.testing.TestService/StreamingInputCall", sleeper)));
  a.write(beyondWindow(1));
  await uploadReadingLate(a, frame(T.DATA, 0, 1, Buffer.alloc(16_384)));
  expect(await a.closed(5_000)).toBe(true);
  expect(a.answer.goaway).toBe(H2.FLOW_CONTROL_ERROR);
}, 30_000);

/**
 * Opens streams that are reset at once, over fresh connections (10 at a time), until the proxy
 * refuses the address. Client resets: 20 streams per connection. Provoked, by a WINDOW_UPDATE
 * that overflows the stream's send window or by DATA beyond the stream's receive window: calls
 * to an asleep satellite wait for its wake unread (no jobs worker runs here, so they keep
 * waiting), and the attacker never acknowledges the proxy's SETTINGS, so that window is still
 * the protocol's initial 65,535 bytes. node:http2 answers RST_STREAM FLOW_CONTROL_ERROR. After a window
 * overflow it also ends that connection, so one stream per connection — the budget must still
 * catch it, across reconnections. After DATA beyond the window the proxy ends the connection
 * itself (GOAWAY FLOW_CONTROL_ERROR): the attacker still pipelines 20 streams of 80 KiB per
 * connection, but what follows the first violation is not read.
 */
type Provoke = "none" | "window-update" | "data";
/**
 * 5 DATA frames of 16 KiB: 81,920 bytes, beyond a 65,535-byte window. Built once per stream id
 * and written to every connection: the attacker's own CPU shares the proxy's two vCPUs, and
 * making 1.6 MB afresh per connection was most of it (a real attacker's is not on this host).
 */
const beyondWindowFrames = new Map<number, Buffer>();
function beyondWindow(id: number): Buffer {
  let b = beyondWindowFrames.get(id);
  if (!b) beyondWindowFrames.set(id, (b = Buffer.concat(Array.from({ length: 5 }, () => frame(T.DATA, 0, id, Buffer.alloc(16_384))))));
  return b;
}
async function resetAcrossReconnects(provoke: Provoke): Promise<{ streams: number; answers: Attacker[]; refusedAtAccept: boolean }> {
  const address = attackerAddress();
  const answers: Attacker[] = [];
  let streams = 0;
  const perConnection = provoke === "window-update" ? 1 : 20;
  const one = async (): Promise<boolean> => {
    const a = await connect(address);
    answers.push(a);
    await sleep(20);
    // Refused at accept: closed before a single byte of HTTP/2 came back.
    if (a.answer.closed && a.answer.bytes === 0) return true;
    let id = 1;
    for (let i = 0; i < perConnection && !a.answer.closed; i++, id += 2) {
      a.write(frame(T.HEADERS, F.END_HEADERS, id, grpcRequestBlock("/grpc.testing.TestService/StreamingInputCall", provoke === "data" ? sleeper : auth)));
      a.write(provoke === "window-update" ? frame(T.WINDOW_UPDATE, 0, id, u32(0x7fffffff)) : provoke === "data" ? beyondWindow(id) : frame(T.RST_STREAM, 0, id, u32(H2.CANCEL)));
      streams++;
    }
    await a.closed(300);
    // The proxy's answers to DATA beyond the window may still be on their way on a loaded
    // machine: a reset whose connection is gone first is not the client's doing, so not counted.
    for (const until = Date.now() + 2_000; provoke === "data" && a.answer.resets.size < perConnection && !a.answer.closed && Date.now() < until; ) await sleep(20);
    a.socket.destroy();
    return false;
  };
  for (let round = 0; round < 100; round++) {
    const refused = await Promise.all(Array.from({ length: 10 }, one));
    if (refused.some(Boolean)) return { streams, answers, refusedAtAccept: true };
  }
  return { streams, answers, refusedAtAccept: false };
}

it("rapid reset by the client, across reconnections: the address's budget ends in GOAWAY ENHANCE_YOUR_CALM, and new connections are refused", async () => {
  let res!: Awaited<ReturnType<typeof resetAcrossReconnects>>;
  const r = await under(async () => {
    res = await resetAcrossReconnects("none");
  });
  // Connections still open when the budget ran out get GOAWAY ENHANCE_YOUR_CALM (these ones had
  // mostly closed already); new ones are closed at accept.
  expect(res.refusedAtAccept).toBe(true);
  // The budget, not the connection count, decided: bounded by the budget plus what the attacker
  // pipelines before the proxy has read it (hundreds, not the hundreds of thousands of issue 12).
  expect(res.streams).toBeLessThan(RESET_BUDGET * 5);
  expectHeld(r);
}, 90_000);

for (const [provoke, how] of [["window-update", "stream window overflow"], ["data", "DATA beyond the window"]] as const) {
  it(`server-provoked resets (${how}), across reconnections: counted too; the address is refused`, async () => {
    let res!: Awaited<ReturnType<typeof resetAcrossReconnects>>;
    const r = await under(async () => {
      res = await resetAcrossReconnects(provoke);
    });
    const codes = new Set(res.answers.flatMap((a) => [...a.answer.resets.values(), a.answer.goaway]));
    expect(codes.has(H2.FLOW_CONTROL_ERROR)).toBe(true);
    // Either flow-control error ended its connection: node:http2's answer to a window overflow,
    // the proxy's to DATA beyond the window (GOAWAY FLOW_CONTROL_ERROR).
    expect(res.answers.every((a) => a.answer.closed)).toBe(true);
    if (provoke === "data") expect(res.answers.some((a) => a.answer.goaway === H2.FLOW_CONTROL_ERROR)).toBe(true);
    expect(res.refusedAtAccept).toBe(true);
    // The budget decided: one stream per connection for a window overflow (3 × the budget
    // bounds it); for DATA, 20 pipelined per connection, but only the first read, and each
    // connection it ends weighs CONNECTION_ERROR_RESETS resets: about budget / 10 connections,
    // plus the round of 10 in flight when the refusal came (it was about budget / 2 when each
    // weighed one or two).
    console.log(`attacker: ${JSON.stringify({ connections: res.answers.length, streams: res.streams })}`);
    if (provoke === "window-update") expect(res.streams).toBeLessThan(RESET_BUDGET * 3);
    else expect(res.answers.length).toBeLessThanOrEqual(RESET_BUDGET / CONNECTION_ERROR_RESETS + 20);
    expectHeld(r);
  }, 90_000);
}

for (const kind of ["PING", "SETTINGS"] as const) {
  it(`${kind} flood from a client that never reads: the connection is ended`, async () => {
    let a!: Attacker;
    let sent = 0;
    const r = await under(async () => {
      a = await connect(attackerAddress(), false);
      const ping = frame(T.PING, 0, 0, Buffer.alloc(8));
      const setting = settings([[4, 65_535]]);
      sent = await flood(a, () => (kind === "PING" ? ping : setting), 2_000_000, 8_000);
      await a.closed(5_000);
    });
    // Unread acks pile up in nghttp2's session memory until the proxy ends the connection.
    expect(a.answer.closed || a.socket.destroyed).toBe(true);
    expect(sent).toBeLessThan(2_000_000);
    expectHeld(r);
  }, 60_000);
}

it("zero-window slow reader on 100 streams: only its own streams stall; new ones are refused; the tenant on the same satellite is unaffected", async () => {
  // StreamingOutputCallRequest: response_parameters (2) × 8 of { size (1): 128 KiB }.
  const param = Buffer.from([0x12, 0x04, 0x08, 0x80, 0x80, 0x08]);
  const msg = Buffer.concat(Array.from({ length: 8 }, () => param));
  const body = Buffer.concat([Buffer.from([0]), u32(msg.length), msg]);
  const a = await attack(proxy.port, attackerAddress());
  // Initial stream window 0: the proxy may send nothing on any stream; this client never grants more.
  a.write(Buffer.concat([PREFACE, settings([[4, 0]])]));
  for (let s = 1; s <= 199; s += 2) {
    a.write(frame(T.HEADERS, F.END_HEADERS, s, grpcRequestBlock("/grpc.testing.TestService/StreamingOutputCall", auth)));
    a.write(frame(T.DATA, F.END_STREAM, s, body));
  }
  // Measured once the attacker's 100 streams are stalled (the responses sit in the proxy).
  await sleep(3_000);
  const r = await under(async () => {
    await sleep(2_000);
    // The connection holds more than its buffered cap in the proxy: a new stream is refused.
    a.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 201, grpcRequestBlock("/grpc.testing.TestService/EmptyCall", auth)));
    await sleep(500);
  }, 1);
  expect(a.answer.resets.get(201)).toBe(H2.REFUSED_STREAM);
  expect(a.answer.closed).toBe(false);
  expectHeld(r);
  a.socket.destroy();
}, 60_000);

// The other direction: uploads to a satellite that is asleep sit unread in the proxy (each up to
// its 4 MiB stream window; nghttp2 gives the connection's window back as the bytes arrive). They
// were not counted against the connection's buffered cap: 256 such streams held 1 GiB.
it("uploads held for a wake on many streams: the connection's buffered cap refuses new streams; memory and the tenant hold", async () => {
  const a = await connect();
  // Its SETTINGS acknowledged, the proxy's stream window (4 MiB) applies: on 40 streams,
  // 160 MiB if nothing stopped it.
  await sleep(200);
  a.write(frame(T.SETTINGS, F.ACK, 0));
  const chunk = Buffer.alloc(16_384);
  const r = await under(async () => {
    for (let s = 1; s <= 79; s += 2) {
      a.write(frame(T.HEADERS, F.END_HEADERS, s, grpcRequestBlock("/grpc.testing.TestService/StreamingInputCall", sleeper)));
      for (let i = 0; i < 255; i++) a.write(frame(T.DATA, 0, s, chunk));
      await sleep(20);
    }
    await sleep(1_000);
  });
  const refused = [...a.answer.resets.entries()].filter(([, code]) => code === H2.REFUSED_STREAM).length;
  // 64 MiB (PROXY_MAX_BUFFERED_BYTES_PER_CONNECTION) is 16 such streams: the rest are refused.
  expect(refused).toBeGreaterThanOrEqual(20);
  expect(a.answer.closed).toBe(false);
  expectHeld(r);
  a.socket.destroy();
}, 60_000);

it("10,000 idle connections: those over the per-address cap are closed at accept; memory and the tenant hold", async () => {
  let sockets: Attacker[] = [];
  const r = await under(async () => {
    // Each try from an address of its own, so it can run twice: the cap is per address.
    const address = attackerAddress();
    sockets = [];
    // Paced (250 per 100 ms) so the attacker's own CPU on this shared machine is not what is measured.
    for (let i = 0; i < 10_000; i += 250) {
      const batch = await Promise.all(Array.from({ length: 250 }, () => attack(proxy.port, address).catch(() => undefined)));
      for (const b of batch) if (b) sockets.push(b);
      await sleep(100);
    }
    await sleep(2_000);
    for (const s of sockets) s.socket.destroy();
  });
  // Refused: closed at accept, nothing sent back; at most the cap stay open (until the handshake limit).
  const refused = sockets.filter((s) => s.answer.closed && s.answer.bytes === 0).length;
  expect(sockets.length).toBe(10_000);
  expect(refused).toBeGreaterThanOrEqual(10_000 - PER_ADDRESS);
  expectHeld(r);
}, 180_000);

it("garbage before the preface (closed) and after it (GOAWAY COMPRESSION_ERROR); the proxy lives on", async () => {
  let before!: Attacker;
  let after!: Attacker;
  const r = await under(async () => {
    before = await attack(proxy.port, attackerAddress());
    before.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff garbage garbage", "latin1"));
    // Closed at once (GOAWAY), at the latest by the 10 s handshake limit.
    await before.closed(12_000);
    after = await connect();
    // A HEADERS frame whose header block is garbage (no valid HPACK): a connection error.
    after.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00])));
    await after.closed(3_000);
  });
  expect(before.answer.closed).toBe(true);
  // GOAWAY COMPRESSION_ERROR; node:http2 then leaves the socket to the client (or the idle limit).
  expect(after.answer.goaway).toBe(9);
  expectHeld(r);
}, 60_000);
