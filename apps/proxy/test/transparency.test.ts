// The gRPC interop cases through the proxy against the built-in TestService backend, plus what
// only the upstream side can see: resets, repeated headers, exact bytes, large messages.
import { createHash, randomBytes } from "node:crypto";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  authMetadata,
  awakeSatellite,
  dropQueueKeys,
  grpcFrame,
  makeToken,
  rawCall,
  rawUpstream,
  startTestProxy,
  testClient,
  unary,
  unaryStatus,
  type RecordedStream,
  type TestClient,
} from "./helpers.ts";

const db = testDb();
let backend: Backend;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let client: TestClient;
let md: () => grpc.Metadata;
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let rawAuth: http2.OutgoingHttpHeaders;
let onRaw: (s: RecordedStream) => void = () => {};

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  raw = await rawUpstream((s) => onRaw(s));
  proxy = await startTestProxy();
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, backend.address);
  const rawSat = await awakeSatellite(db, org.id, raw.address);
  md = () => authMetadata(sat.name, org.id, token);
  rawAuth = { satellite_name: rawSat.name, satellite_org: org.id, satellite_token: token };
  client = testClient(`127.0.0.1:${proxy.port}`);
});

afterAll(async () => {
  client?.close();
  await proxy?.close({ graceMs: 500 });
  await backend?.close({ graceMs: 100 });
  await raw?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

function collect<T>(call: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    call.on("data", (d: T) => out.push(d));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

function callStatus(call: grpc.Call): Promise<grpc.StatusObject> {
  return new Promise((resolve) => call.on("status", resolve));
}

type Payload = { body: Buffer };
type Res = { payload?: Payload; aggregated_payload_size?: number };

describe("interop cases through the proxy", () => {
  it("empty_unary", async () => {
    expect(await unary(client, "EmptyCall", {}, md())).toEqual({});
  });

  it("large_unary", async () => {
    const res = await unary<Res>(client, "UnaryCall", { response_size: 314159, payload: { body: Buffer.alloc(271828) } }, md());
    expect(res.payload?.body.length).toBe(314159);
  });

  it("client_streaming", async () => {
    const res = await new Promise<Res>((resolve, reject) => {
      const call = (client.StreamingInputCall as (m: grpc.Metadata, cb: (e: Error | null, r: Res) => void) => grpc.ClientWritableStream<unknown>)(md(), (e, r) => (e ? reject(e) : resolve(r)));
      for (const n of [27182, 8, 1828, 45904]) call.write({ payload: { body: Buffer.alloc(n) } });
      call.end();
    });
    expect(Number(res.aggregated_payload_size)).toBe(74922);
  });

  it("server_streaming", async () => {
    const sizes = [31415, 9, 2653, 58979];
    const call = (client.StreamingOutputCall as (r: unknown, m: grpc.Metadata) => grpc.ClientReadableStream<Res>)({ response_parameters: sizes.map((size) => ({ size })) }, md());
    const out = await collect(call);
    expect(out.map((r) => r.payload?.body.length)).toEqual(sizes);
  });

  it("ping_pong", async () => {
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(md());
    const reqs = [27182, 8, 1828, 45904];
    const resps = [31415, 9, 2653, 58979];
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const next = new Promise<Res>((resolve) => call.once("data", resolve));
      call.write({ response_parameters: [{ size: resps[i] }], payload: { body: Buffer.alloc(reqs[i]!) } });
      got.push((await next).payload?.body.length ?? -1);
    }
    const status = callStatus(call);
    call.end();
    expect(got).toEqual(resps);
    expect((await status).code).toBe(grpc.status.OK);
  });

  it("empty_stream", async () => {
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(md());
    const done = collect(call);
    call.end();
    expect(await done).toEqual([]);
  });

  it("custom_metadata (unary and full duplex)", async () => {
    const trailing = Buffer.from([0xab, 0xab, 0xab]);
    const withEcho = () => {
      const m = md();
      m.set("x-grpc-test-echo-initial", "test_initial_metadata_value");
      m.set("x-grpc-test-echo-trailing-bin", trailing);
      return m;
    };
    const seen = await new Promise<{ initial: grpc.Metadata; trailing: grpc.Metadata }>((resolve, reject) => {
      let initial: grpc.Metadata | undefined;
      const call = (client.UnaryCall as (r: unknown, m: grpc.Metadata, cb: (e: Error | null) => void) => grpc.ClientUnaryCall)(
        { response_size: 314159, payload: { body: Buffer.alloc(271828) } },
        withEcho(),
        (e) => e && reject(e),
      );
      call.on("metadata", (m) => (initial = m));
      call.on("status", (s) => resolve({ initial: initial!, trailing: s.metadata }));
    });
    expect(seen.initial.get("x-grpc-test-echo-initial")).toEqual(["test_initial_metadata_value"]);
    expect(seen.trailing.get("x-grpc-test-echo-trailing-bin")).toEqual([trailing]);

    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(withEcho());
    const initial = new Promise<grpc.Metadata>((r) => call.on("metadata", r));
    const status = callStatus(call);
    call.on("data", () => {});
    call.write({ response_parameters: [{ size: 314159 }], payload: { body: Buffer.alloc(271828) } });
    call.end();
    expect((await initial).get("x-grpc-test-echo-initial")).toEqual(["test_initial_metadata_value"]);
    expect((await status).metadata.get("x-grpc-test-echo-trailing-bin")).toEqual([trailing]);
  });

  it("status_code_and_message (unary and full duplex)", async () => {
    const s = await unaryStatus(client, "UnaryCall", { response_status: { code: 2, message: "test status message" } }, md());
    expect(s).toEqual({ code: 2, details: "test status message" });
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(md());
    call.on("error", () => {});
    const status = callStatus(call);
    call.write({ response_status: { code: 2, message: "test status message" } });
    call.end();
    const st = await status;
    expect([st.code, st.details]).toEqual([2, "test status message"]);
  });

  it("special_status_message", async () => {
    const message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    expect(await unaryStatus(client, "UnaryCall", { response_status: { code: 2, message } }, md())).toEqual({ code: 2, details: message });
  });

  it("unimplemented_method", async () => {
    expect((await unaryStatus(client, "UnimplementedCall", {}, md())).code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("unimplemented_service", async () => {
    const code = await new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        "/grpc.testing.UnimplementedService/UnimplementedCall",
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        md(),
        (err) => resolve(err?.code ?? 0),
      );
    });
    expect(code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("cancel_after_begin", async () => {
    const call = (client.StreamingInputCall as (m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<unknown>)(md(), () => {});
    const status = callStatus(call);
    call.cancel();
    expect((await status).code).toBe(grpc.status.CANCELLED);
  });

  it("cancel_after_first_response", async () => {
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(md());
    call.on("error", () => {});
    const status = callStatus(call);
    const first = new Promise((r) => call.once("data", r));
    call.write({ response_parameters: [{ size: 31415 }], payload: { body: Buffer.alloc(27182) } });
    await first;
    call.cancel();
    expect((await status).code).toBe(grpc.status.CANCELLED);
  });

  it("timeout_on_sleeping_server", async () => {
    const call = (client.FullDuplexCall as (m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, Res>)(md(), { deadline: Date.now() + 1 });
    call.on("error", () => {});
    call.on("data", () => {});
    const status = callStatus(call);
    call.write({ payload: { body: Buffer.alloc(27182) } });
    expect((await status).code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it("20 MiB messages both ways (grpc-js against the backend)", async () => {
    const size = 20 << 20;
    const res = await unary<Res>(client, "UnaryCall", { response_size: size, payload: { body: Buffer.alloc(size, 7) } }, md());
    expect(res.payload?.body.length).toBe(size);
  });
});

describe("what the upstream sees", () => {
  it("a client CANCEL reaches the upstream as RST_STREAM CANCEL", async () => {
    let seen!: RecordedStream;
    const arrived = new Promise<void>((resolve) => {
      onRaw = (s) => {
        seen = s;
        s.stream.respond({ ":status": 200, "content-type": "application/grpc" });
        s.stream.write(grpcFrame(Buffer.from("first")));
        resolve();
      };
    });
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(rawMetadata());
    call.on("error", () => {});
    call.on("data", () => call.cancel());
    call.write({});
    await arrived;
    expect(await seen.closed).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("an upstream reset reaches the client as the same reset", async () => {
    onRaw = (s) => {
      s.stream.respond({ ":status": 200, "content-type": "application/grpc" });
      s.stream.write(grpcFrame(Buffer.alloc(0)), () => s.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    };
    // The client keeps its side open, so only a reset can end the call.
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, Res>)(rawMetadata());
    call.on("error", () => {});
    call.on("data", () => {});
    const status = callStatus(call);
    call.write({});
    const st = await status;
    // grpc-js's reading of RST_STREAM REFUSED_STREAM.
    expect(st.code).toBe(grpc.status.UNAVAILABLE);
    expect(st.details).toMatch(/refused/i);
  });

  it("repeated headers arrive as separate values both ways; auth metadata never arrives; grpc-timeout is forwarded", async () => {
    let seen!: RecordedStream;
    onRaw = (s) => {
      seen = s;
      s.stream.respond({ ":status": 200, "content-type": "application/grpc", "x-repeated": ["one", "two"] }, { waitForTrailers: true });
      s.stream.on("wantTrailers", () => s.stream.sendTrailers({ "grpc-status": "0", "x-trailer": ["t1", "t2"] }));
      s.stream.end(grpcFrame(Buffer.from("ok")));
      s.stream.resume();
    };
    const methods = ["/moby.filesync.v1.FileSync/DiffCopy", "/moby.filesync.v1.FileSync/TarStream", "/moby.buildkit.secrets.v1.Secrets/GetSecret"];
    const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...rawAuth, "x-docker-expose-session-grpc-method": methods, "grpc-timeout": "30S" }, grpcFrame(Buffer.alloc(0)));
    const pairs = (raw: string[], name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1] === name);
    expect(pairs(seen.rawHeaders, "x-docker-expose-session-grpc-method")).toEqual(methods);
    for (const k of ["satellite_name", "satellite_org", "satellite_token", "authorization"]) expect(seen.headers[k]).toBeUndefined();
    expect(JSON.stringify(seen.rawHeaders)).not.toContain(String(rawAuth.satellite_token));
    const timeout = String(seen.headers["grpc-timeout"]);
    expect(timeout).toMatch(/^\d+[um]$/);
    expect(pairs(res.rawHeaders, "x-repeated")).toEqual(["one", "two"]);
    expect(res.trailers?.["x-trailer"]).toBe("t1, t2");
    expect(res.trailers?.["grpc-status"]).toBe("0");
  });

  it("trailers-only stays trailers-only, with status, message and -bin trailers unchanged", async () => {
    onRaw = (s) => {
      s.stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "no%20way", "x-detail-bin": "AAEC" }, { endStream: true });
    };
    const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...rawAuth }, grpcFrame(Buffer.alloc(0)));
    expect(res.trailersOnly).toBe(true);
    expect(res.headers["grpc-status"]).toBe("7");
    expect(res.headers["grpc-message"]).toBe("no%20way");
    expect(res.headers["x-detail-bin"]).toBe("AAEC");
  });

  it("an upstream that ends without trailers is an error", async () => {
    onRaw = (s) => {
      s.stream.respond({ ":status": 200, "content-type": "application/grpc" });
      s.stream.end(grpcFrame(Buffer.from("partial")));
      s.stream.resume();
    };
    const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...rawAuth }, grpcFrame(Buffer.alloc(0)));
    expect(res.trailers?.["grpc-status"]).toBe(String(grpc.status.INTERNAL));
  });

  it("passes 20 MiB each way byte for byte, compression flags included", async () => {
    let upstreamHash = "";
    onRaw = (s) => {
      const h = createHash("sha256");
      s.stream.on("data", (c: Buffer) => h.update(c));
      s.stream.on("end", () => (upstreamHash = h.digest("hex")));
      echoRaw(s.stream);
    };
    const body = Buffer.concat([grpcFrame(randomBytes(20 << 20), true), grpcFrame(randomBytes(1000), false)]);
    const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...rawAuth }, body);
    const sent = createHash("sha256").update(body).digest("hex");
    expect(upstreamHash).toBe(sent);
    expect(createHash("sha256").update(res.body).digest("hex")).toBe(sent);
    expect(res.trailers?.["grpc-status"]).toBe("0");
  });
});

describe("bounded memory", () => {
  it("a client that stops reading holds the satellite back: the proxy buffers no more than its windows", async () => {
    const TOTAL = 96 << 20;
    const message = grpcFrame(Buffer.alloc((1 << 20) - 5, 7));
    let accepted = 0;
    onRaw = (s) => {
      s.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      s.stream.on("wantTrailers", () => s.stream.sendTrailers({ "grpc-status": "0" }));
      // Writes as fast as the transport takes them; `accepted` is what left this process's hands.
      const pump = (): void => {
        while (accepted < TOTAL) {
          accepted += message.length;
          if (!s.stream.write(message)) return void s.stream.once("drain", pump);
        }
        s.stream.end();
      };
      pump();
    };
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    session.on("error", () => {});
    const req = session.request({ ":method": "POST", ":path": "/grpc.testing.TestService/StreamingOutputCall", "content-type": "application/grpc", te: "trailers", ...rawAuth });
    req.on("error", () => {});
    let received = 0;
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on("trailers", (t) => (trailers = t));
    const closed = new Promise<void>((r) => req.on("close", () => r()));
    req.end(grpcFrame(Buffer.alloc(0)));
    req.on("data", (c: Buffer) => {
      received += c.length;
      // Stop reading after the first message: no more window updates from this client.
      if (received >= 1 << 20 && received - c.length < 1 << 20) req.pause();
    });
    await new Promise((r) => setTimeout(r, 1500));
    const stalledAt = accepted;
    await new Promise((r) => setTimeout(r, 500));
    // The satellite was held back, not drained into the proxy: what it could hand over is the
    // client's window and ours (4 MiB per stream) plus socket buffers — far less than TOTAL.
    expect(accepted).toBe(stalledAt);
    expect(accepted).toBeLessThan(24 << 20);
    req.resume();
    await closed;
    session.close();
    expect(received).toBe(TOTAL);
    expect(trailers?.["grpc-status"]).toBe("0");
  });
});

function rawMetadata(): grpc.Metadata {
  return authMetadata(String(rawAuth.satellite_name), String(rawAuth.satellite_org), String(rawAuth.satellite_token));
}

function echoRaw(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.pipe(stream);
}
