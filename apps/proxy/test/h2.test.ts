// The proxy's own HTTP/2 engine at the frame level, with a raw socket as the client: what
// grpc-js and nghttp2 never send but other clients may (CONTINUATION, padding, PING, odd
// chunking, protocol errors), and the frame reader on arbitrary read boundaries.
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { transitionById } from "@satellites/state";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, Flag, FrameReader, FrameType, frame, PREFACE, ReadSlab, settingsFrame, SETTINGS_ACK } from "../src/h2/frames.ts";
import { encodeHeaders, HpackDecoder } from "../src/h2/hpack.ts";
import { asleepSatellite, authMetadata, awakeSatellite, dropQueueKeys, grpcFrame, makeToken, rawUpstream, startTestProxy, testClient, unary } from "./helpers.ts";

describe("FrameReader", () => {
  // How reads arrive: separate buffers ("data" events), or side by side in a ReadSlab (onread),
  // where a frame split across reads is joined without a copy.
  for (const reads of ["separate buffers", "a ReadSlab"] as const) {
    it(`yields the same frames however the bytes are cut into reads (${reads})`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ type: fc.integer({ min: 0, max: 9 }), flags: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 2 ** 31 - 1 }), len: fc.integer({ min: 0, max: 300 }) }), { minLength: 1, maxLength: 12 }),
          fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 20 }),
          (frames, cuts) => {
            const wire = Buffer.concat(frames.map((f, i) => frame(f.type, f.flags, f.id, Buffer.alloc(f.len, i))));
            const got: Array<[number, number, number, string]> = [];
            const reader = new FrameReader(16_384);
            const slab = new ReadSlab(1024, 64);
            let off = 0;
            let c = 0;
            while (off < wire.length) {
              let chunk: Buffer;
              if (reads === "a ReadSlab") {
                const region = slab.next();
                const n = Math.min(cuts[c++ % cuts.length]!, region.length, wire.length - off);
                wire.copy(region, 0, off, off + n);
                chunk = slab.take(region, n);
              } else chunk = Buffer.from(wire.subarray(off, off + cuts[c++ % cuts.length]!));
              reader.push(chunk, (type, flags, id, payload) => got.push([type, flags, id, payload.toString("hex")]));
              off += chunk.length;
            }
            expect(got).toEqual(frames.map((f, i) => [f.type, f.flags, f.id, Buffer.alloc(f.len, i).toString("hex")]));
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  it("ReadSlab never hands out memory a read already filled, and a frame split across its reads is not copied", () => {
    const slab = new ReadSlab(1024, 4096);
    const wire = frame(FrameType.DATA, 0, 1, Buffer.alloc(500, 7));
    const a = slab.next();
    wire.copy(a, 0, 0, 300);
    const first = slab.take(a, 300);
    const b = slab.next();
    expect(b.byteOffset).toBe(first.byteOffset + 300);
    wire.copy(b, 0, 300);
    const second = slab.take(b, wire.length - 300);
    const payloads: Buffer[] = [];
    const reader = new FrameReader(16_384);
    reader.push(first, () => {});
    reader.push(second, (_t, _f, _id, p) => payloads.push(p));
    expect(payloads).toHaveLength(1);
    expect(payloads[0]!.equals(Buffer.alloc(500, 7))).toBe(true);
    expect(payloads[0]!.buffer).toBe(first.buffer);
  });

  it("ReadSlab grows while reads fill their region, and lets a large slab go once reads are small", () => {
    const slab = new ReadSlab(1024, 4096);
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = slab.next();
      sizes.push(r.length);
      slab.take(r, r.length); // a bulk read fills what it is offered
    }
    expect(sizes).toEqual([1024, 2048, 4096, 4096]);
    const big = slab.next();
    slab.take(big, 100); // small traffic again
    const small = slab.next();
    expect(small.buffer).not.toBe(big.buffer);
    expect(small.length).toBe(1024);
    // While small reads go on, they share the small slab.
    slab.take(small, 100);
    expect(slab.next().buffer).toBe(small.buffer);
  });
});

const db = testDb();
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let upstream: Awaited<ReturnType<typeof rawUpstream>>;
let auth: string[];

beforeAll(async () => {
  upstream = await rawUpstream();
  proxy = await startTestProxy({ maxUnreadOutput: 1 << 20 });
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, upstream.address);
  auth = ["satellite_name", sat.name, "satellite_org", org.id, "satellite_token", token];
});

afterAll(async () => {
  await proxy?.close({ graceMs: 200 });
  await upstream?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

interface Seen {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw HTTP/2 client: sends the preface and our bytes, records every frame that comes back. */
async function rawClient(port = proxy.port): Promise<{ socket: net.Socket; frames: Seen[]; closed: Promise<void>; until(pred: (f: Seen) => boolean, ms?: number): Promise<Seen> }> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((r) => socket.once("connect", () => r()));
  const frames: Seen[] = [];
  const waiters: Array<() => void> = [];
  const reader = new FrameReader(1 << 24);
  socket.on("data", (c: Buffer) =>
    reader.push(c, (type, flags, streamId, payload) => {
      frames.push({ type, flags, streamId, payload: Buffer.from(payload) });
      // Acknowledge the proxy's SETTINGS and answer its PINGs, as any client must.
      if (type === FrameType.SETTINGS && !(flags & Flag.ACK)) socket.write(SETTINGS_ACK);
      if (type === FrameType.PING && !(flags & Flag.ACK)) socket.write(frame(FrameType.PING, Flag.ACK, 0, payload));
      for (const w of waiters.splice(0)) w();
    }),
  );
  socket.on("error", () => {});
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  socket.write(Buffer.concat([PREFACE, settingsFrame([])]));
  const until = (pred: (f: Seen) => boolean, ms = 3000): Promise<Seen> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such frame within ${ms} ms; saw ${frames.map((f) => f.type).join(",")}`)), ms);
      const check = (): void => {
        const f = frames.find(pred);
        if (f) {
          clearTimeout(timer);
          resolve(f);
        } else waiters.push(check);
      };
      check();
    });
  return { socket, frames, closed, until };
}

function request(extra: string[] = []): Buffer {
  return encodeHeaders([":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/UnaryCall", ":authority", "x", "content-type", "application/grpc", "te", "trailers", ...auth, ...extra]);
}

/** `bad` is sent GOAWAY with `code` and closed; a new connection's call is still answered. */
async function goawayThenOthersServed(bad: Awaited<ReturnType<typeof rawClient>>, code: number, ms?: number): Promise<void> {
  const goaway = await bad.until((f) => f.type === FrameType.GOAWAY, ms);
  expect(goaway.payload.readUInt32BE(4)).toBe(code);
  await bad.closed;

  const good = await rawClient();
  good.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.alloc(0)))]));
  await good.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
  good.socket.destroy();
}

describe("the front door at the frame level", () => {
  it("answers PING with the same payload", async () => {
    const c = await rawClient();
    const payload = Buffer.from("12345678");
    c.socket.write(frame(FrameType.PING, 0, 0, payload));
    const ack = await c.until((f) => f.type === FrameType.PING);
    expect(ack.flags & Flag.ACK).toBe(Flag.ACK);
    expect(ack.payload.equals(payload)).toBe(true);
    c.socket.destroy();
  });

  it("takes a header block split over CONTINUATION frames and padded DATA, and forwards the call", async () => {
    const c = await rawClient();
    const block = request(["x-filler", "f".repeat(40_000)]);
    const cuts = [0, 1000, 16_000, 32_000, block.length];
    const padded = Buffer.concat([Buffer.from([7]), grpcFrame(Buffer.from("hello")), Buffer.alloc(7)]);
    c.socket.write(
      Buffer.concat([
        ...cuts.slice(1).map((end, i) => frame(i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, end === block.length ? Flag.END_HEADERS : 0, 1, block.subarray(cuts[i], end))),
        frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, padded),
      ]),
    );
    const trailers = await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
    const decoder = new HpackDecoder();
    const blocks = c.frames.filter((f) => f.type === FrameType.HEADERS && f.streamId === 1);
    const [head] = blocks.map((f) => decoder.decode(f.payload));
    expect(head).toContain(":status");
    // The echo upstream got the message without the padding, and sent it back.
    const body = Buffer.concat(c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).map((f) => f.payload));
    expect(body.equals(grpcFrame(Buffer.from("hello")))).toBe(true);
    const fields = decoder.decode(trailers.payload);
    expect(fields.slice(fields.indexOf("grpc-status"), fields.indexOf("grpc-status") + 2)).toEqual(["grpc-status", "0"]);
    c.socket.destroy();
  });

  it("a refused call whose client is still sending gets its status, then RST_STREAM NO_ERROR (stop uploading)", async () => {
    const c = await rawClient();
    const block = encodeHeaders([":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/UnaryCall", ":authority", "x", "content-type", "application/grpc", "satellite_name", "x", "satellite_org", "y"]);
    c.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block), frame(FrameType.DATA, 0, 1, Buffer.alloc(1000))]));
    const answer = await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1);
    expect(answer.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    const fields = new HpackDecoder().decode(answer.payload);
    expect(fields[fields.indexOf("grpc-status") + 1]).toBe("16");
    const rst = await c.until((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.NO_ERROR);
    expect(c.frames.indexOf(rst)).toBeGreaterThan(c.frames.indexOf(answer));
    c.socket.destroy();
  });

  it("a client that opens and resets streams in a loop (rapid reset) is sent GOAWAY ENHANCE_YOUR_CALM; others are served", async () => {
    const c = await rawClient();
    const block = request();
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(ErrorCode.CANCEL);
    const burst: Buffer[] = [];
    for (let id = 1; id <= 2 * 1200; id += 2) burst.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block), frame(FrameType.RST_STREAM, 0, id, rst));
    c.socket.write(Buffer.concat(burst));
    await goawayThenOthersServed(c, ErrorCode.ENHANCE_YOUR_CALM, 10_000);
  });

  it("a connection that does not begin with the HTTP/2 preface is closed", async () => {
    const socket = net.connect(proxy.port, "127.0.0.1");
    socket.on("error", () => {});
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    socket.resume();
    await new Promise<void>((r) => socket.once("close", () => r()));
  });

  it("a client that floods PINGs without reading the answers is cut off once 1 MiB of them waits unsent; others are served", async () => {
    const flooder = net.connect(proxy.port, "127.0.0.1");
    await new Promise<void>((r) => flooder.once("connect", () => r()));
    flooder.on("error", () => {});
    let closed = false;
    flooder.once("close", () => (closed = true));
    flooder.pause(); // never reads: every PING ACK stays with the proxy once the kernel buffers are full
    flooder.write(Buffer.concat([PREFACE, settingsFrame([]), SETTINGS_ACK]));
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => frame(FrameType.PING, 0, 0, Buffer.alloc(8))));
    let sent = 0;
    // Without the bound the proxy would buffer answers for as long as we send (256 MiB of them here).
    while (!closed && sent < 256 << 20) {
      if (!flooder.write(batch)) await new Promise<void>((r) => (closed ? r() : flooder.once("drain", () => r()).once("close", () => r())));
      sent += batch.length;
    }
    expect(closed).toBe(true);

    const good = await rawClient(proxy.port);
    good.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.alloc(0)))]));
    await good.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0);
    good.socket.destroy();
  }, 60_000);

  it("a protocol error ends only that connection, with GOAWAY, and the proxy serves the next one", async () => {
    const bad = await rawClient();
    // A stream id must be odd when a client opens it.
    bad.socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 2, request()));
    await goawayThenOthersServed(bad, ErrorCode.PROTOCOL_ERROR);
  });

  it("DATA beyond the window the proxy granted resets that stream (FLOW_CONTROL_ERROR), not the connection", async () => {
    // A call waiting for a wake consumes nothing, so the stream's 4 MiB window is all there is.
    const org = await makeOrg(db);
    const { token } = await makeToken(db, org.id);
    const sleeping = await asleepSatellite(db, org.id, upstream.address);
    const c = await rawClient();
    const headers = encodeHeaders([":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/UnaryCall", ":authority", "x", "content-type", "application/grpc", "satellite_name", sleeping.name, "satellite_org", org.id, "satellite_token", token]);
    const chunk = frame(FrameType.DATA, 0, 1, Buffer.alloc(16_384));
    c.socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headers));
    for (let i = 0; i < (4 << 20) / 16_384 + 1; i++) c.socket.write(chunk);
    const rst = await c.until((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    // The connection lives on: a PING is still answered.
    c.socket.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await c.until((f) => f.type === FrameType.PING);
    expect(c.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    c.socket.destroy();
  });
});

describe("satellite connections when the satellite leaves awake", () => {
  it("put to sleep: an open call finishes; failed under it: an open call ends at once with UNAVAILABLE", async () => {
    const sleepy = await rawUpstream();
    const broken = await rawUpstream();
    const org = await makeOrg(db);
    const { token } = await makeToken(db, org.id);
    const open = async (address: string) => {
      const sat = await awakeSatellite(db, org.id, address);
      const c = await rawClient();
      const headers = encodeHeaders([":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/FullDuplexCall", ":authority", "x", "content-type", "application/grpc", "te", "trailers", "satellite_name", sat.name, "satellite_org", org.id, "satellite_token", token]);
      c.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headers), frame(FrameType.DATA, 0, 1, grpcFrame(Buffer.from("a")))]));
      await c.until((f) => f.type === FrameType.DATA && f.streamId === 1);
      return { sat, c };
    };
    const statusOf = (f: { payload: Buffer }) => {
      const fields = new HpackDecoder().decode(f.payload);
      return fields[fields.indexOf("grpc-status") + 1];
    };
    const trailers = (f: Seen) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0;
    try {
      const a = await open(sleepy.address);
      await transitionById(db, a.sat.id, "awake", { to: "stopping", cause: "manual", actor: "system" });
      await new Promise((r) => setTimeout(r, 300));
      a.c.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from("b"))));
      expect(statusOf(await a.c.until(trailers))).toBe("0");
      a.c.socket.destroy();

      const b = await open(broken.address);
      await transitionById(db, b.sat.id, "awake", { to: "failed", cause: "failure", actor: "system", set: { failureReason: "instance was terminated outside the product" } });
      // The client has not finished its request: only the proxy can have ended the call.
      expect(statusOf(await b.c.until(trailers, 3000))).toBe(String(grpc.status.UNAVAILABLE));
      b.c.socket.destroy();
    } finally {
      await sleepy.close();
      await broken.close();
    }
  });
});

describe("connection lifetimes at the front door", () => {
  let short: Awaited<ReturnType<typeof startTestProxy>>;
  beforeAll(async () => {
    short = await startTestProxy({ handshakeTimeoutMs: 600 }, { PROXY_IDLE_CONNECTION_MS: "1000", PROXY_KEEPALIVE_MS: "400" });
  });
  afterAll(async () => {
    await short?.close({ graceMs: 200 });
    if (short) await dropQueueKeys(short.prefix);
  });
  const trailersOn = (id: number) => (f: Seen) => f.type === FrameType.HEADERS && f.streamId === id && (f.flags & Flag.END_STREAM) !== 0;

  it("a connection with no call open for PROXY_IDLE_CONNECTION_MS gets GOAWAY NO_ERROR and is closed; one with a call open is kept", async () => {
    const idle = await rawClient(short.port);
    idle.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.alloc(0)))]));
    await idle.until(trailersOn(1));
    // A build's long call: the request is still open (the echo upstream answers as it reads).
    const busy = await rawClient(short.port);
    busy.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, 0, 1, grpcFrame(Buffer.from("a")))]));
    await busy.until((f) => f.type === FrameType.DATA && f.streamId === 1);

    const goaway = await idle.until((f) => f.type === FrameType.GOAWAY, 4000);
    expect(goaway.payload.readUInt32BE(4)).toBe(ErrorCode.NO_ERROR);
    // The last stream it took is named, so a client knows nothing of its was dropped.
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    await idle.closed;

    await new Promise((r) => setTimeout(r, 500));
    expect(busy.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    busy.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from("b"))));
    await busy.until(trailersOn(1));
    // Once its call has ended, the same rule applies to it.
    await busy.until((f) => f.type === FrameType.GOAWAY, 4000);
    await busy.closed;
  });

  it("a client that stops answering while its call is open is PINGed, then cut off: the satellite's stream ends", async () => {
    const before = upstream.streams.length;
    const alive = await rawClient(short.port);
    const dead = await rawClient(short.port);
    for (const c of [alive, dead]) {
      c.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, 0, 1, grpcFrame(Buffer.from("a")))]));
      await c.until((f) => f.type === FrameType.DATA && f.streamId === 1);
    }
    expect(upstream.streams.length).toBe(before + 2);
    const [aliveUp, deadUp] = upstream.streams.slice(before);
    // A machine that crashed, or a cut cable: nothing more is read, nothing is answered.
    dead.socket.pause();
    const cut = await Promise.race([deadUp!.closed, new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000))]);
    expect(cut).toBe(http2.constants.NGHTTP2_CANCEL);
    dead.socket.destroy();
    // The one that answers its PINGs keeps its call, and finishes it.
    expect(alive.frames.some((f) => f.type === FrameType.PING)).toBe(true);
    alive.socket.write(frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.from("b"))));
    await alive.until(trailersOn(1));
    expect(await aliveUp!.closed).toBe(0);
    alive.socket.destroy();
  });

  it("a gRPC client whose idle connection got GOAWAY reconnects for its next call", async () => {
    const client = testClient(`127.0.0.1:${short.port}`);
    const md = authMetadata(auth[1]!, auth[3]!, auth[5]!);
    try {
      expect(await unary(client, "EmptyCall", {}, md)).toEqual({});
      const channel = client.getChannel();
      expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      // The proxy's GOAWAY (NO_ERROR) puts the channel back to IDLE rather than failing it.
      const until = Date.now() + 5000;
      while (channel.getConnectivityState(false) === grpc.connectivityState.READY && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.IDLE);
      expect(await unary(client, "EmptyCall", {}, md)).toEqual({});
    } finally {
      client.close();
    }
  });

  it("a connection that never completes the HTTP/2 handshake is closed; a new one is served", async () => {
    const silent = net.connect(short.port, "127.0.0.1");
    const prefaceOnly = net.connect(short.port, "127.0.0.1", () => prefaceOnly.write(PREFACE));
    const startedAt = Date.now();
    for (const s of [silent, prefaceOnly]) {
      s.on("error", () => {});
      s.resume();
    }
    await Promise.all([silent, prefaceOnly].map((s) => new Promise<void>((r) => s.once("close", () => r()))));
    expect(Date.now() - startedAt).toBeLessThan(3000);

    const good = await rawClient(short.port);
    good.socket.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, request()), frame(FrameType.DATA, Flag.END_STREAM, 1, grpcFrame(Buffer.alloc(0)))]));
    await good.until(trailersOn(1));
    good.socket.destroy();
  });
});
