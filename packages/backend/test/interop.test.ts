import { createHook } from "node:async_hooks";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamingOutputCallResponse } from "../src/messages.ts";
import { startBackend, type Backend } from "../src/server.ts";
import { bodyLength, collect, testClient, unary, type TestClient } from "./client.ts";

const MiB = 1 << 20;
const ECHO_INITIAL = "x-grpc-test-echo-initial";
const ECHO_TRAILING = "x-grpc-test-echo-trailing-bin";
// The interop spec's own sizes.
const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];

function payload(size: number): { body: Buffer } {
  return { body: Buffer.alloc(size) };
}

function echoMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(ECHO_INITIAL, "test_initial_metadata_value");
  md.set(ECHO_TRAILING, Buffer.from([0xab, 0xab, 0xab]));
  return md;
}

function expectEchoed(initial: grpc.Metadata | undefined, trailing: grpc.Metadata | undefined): void {
  expect(initial?.get(ECHO_INITIAL)).toEqual(["test_initial_metadata_value"]);
  expect(trailing?.get(ECHO_TRAILING)).toEqual([Buffer.from([0xab, 0xab, 0xab])]);
}

/**
 * Counts live timers armed for exactly `ms`, so a test can pick a distinctive interval and see
 * whether the server cleared it. (Node keeps a timer's delay in `_idleTimeout`.)
 */
function watchTimers(ms: number): { live(): number; stop(): void } {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type === "Timeout" && (resource as { _idleTimeout?: unknown })._idleTimeout === ms) live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return { live: () => live.size, stop: () => hook.disable() };
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

let backend: Backend;
let client: TestClient;

beforeAll(async () => {
  backend = await startBackend({ port: 0 });
  client = testClient(backend.address);
});

afterAll(async () => {
  client.close();
  await backend.close();
});

describe("TestService unary methods", () => {
  it("EmptyCall returns Empty", async () => {
    const { err, res } = await unary(client.EmptyCall.bind(client), {});
    expect(err).toBeNull();
    expect(res).toEqual({});
  });

  it("UnaryCall answers with response_size zero bytes", async () => {
    const { err, res } = await unary(client.UnaryCall.bind(client), { response_size: 314159, payload: payload(271828) });
    expect(err).toBeNull();
    expect(res?.payload?.type).toBe("COMPRESSABLE");
    const body = Buffer.from(res?.payload?.body ?? []);
    expect(body.equals(Buffer.alloc(314159))).toBe(true);
  });

  it("UnaryCall moves 20 MiB each way", async () => {
    const { err, res } = await unary(client.UnaryCall.bind(client), {
      response_size: 20 * MiB,
      payload: payload(20 * MiB),
    });
    expect(err).toBeNull();
    expect(res && bodyLength(res)).toBe(20 * MiB);
  });

  it("CacheableUnaryCall behaves like UnaryCall", async () => {
    const { err, res } = await unary(client.CacheableUnaryCall.bind(client), { response_size: 10 });
    expect(err).toBeNull();
    expect(res && bodyLength(res)).toBe(10);
  });

  it("UnaryCall fails with the requested status and message", async () => {
    const message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    const { err } = await unary(client.UnaryCall.bind(client), { response_status: { code: 2, message } });
    expect(err?.code).toBe(grpc.status.UNKNOWN);
    expect(err?.details).toBe(message);
  });

  it("UnaryCall echoes initial and trailing metadata, on success and on failure", async () => {
    const ok = await unary(client.UnaryCall.bind(client), { response_size: 1 }, echoMetadata());
    expect(ok.err).toBeNull();
    expectEchoed(ok.initial, ok.trailing);
    const failed = await unary(
      client.UnaryCall.bind(client),
      { response_status: { code: grpc.status.ABORTED, message: "no" } },
      echoMetadata(),
    );
    expect(failed.err?.code).toBe(grpc.status.ABORTED);
    expectEchoed(failed.initial, failed.trailing);
  });

  it("UnimplementedCall is UNIMPLEMENTED", async () => {
    const { err } = await unary(client.UnimplementedCall.bind(client), {});
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe("TestService streaming methods", () => {
  it("StreamingOutputCall sends one response per response_parameters entry, paced by interval_us", async () => {
    const started = Date.now();
    const { messages, status, initial } = await collect(
      client.StreamingOutputCall(
        { response_parameters: RESPONSE_SIZES.map((size) => ({ size, interval_us: 20_000 })) },
        echoMetadata(),
      ),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map(bodyLength)).toEqual(RESPONSE_SIZES);
    expectEchoed(initial, status.metadata);
  });

  it("StreamingOutputCall streams 20 MiB responses", async () => {
    const { messages, status } = await collect(
      client.StreamingOutputCall({ response_parameters: [{ size: 20 * MiB }, { size: 20 * MiB }] }),
    );
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map(bodyLength)).toEqual([20 * MiB, 20 * MiB]);
  });

  it("StreamingInputCall sums the payload sizes it receives, 20 MiB messages included", async () => {
    const run = (sizes: number[]) =>
      new Promise<{ size: number | undefined; trailing: grpc.Metadata | undefined }>((resolve, reject) => {
        let size: number | undefined;
        const call = client.StreamingInputCall(echoMetadata(), {}, (err, res) => {
          if (err) reject(err);
          size = res?.aggregated_payload_size;
        });
        call.on("status", (s: grpc.StatusObject) => resolve({ size, trailing: s.metadata }));
        for (const n of sizes) call.write({ payload: payload(n) });
        call.end();
      });
    const small = await run(REQUEST_SIZES);
    expect(small.size).toBe(74922);
    expect(small.trailing?.get(ECHO_TRAILING)).toEqual([Buffer.from([0xab, 0xab, 0xab])]);
    expect((await run([20 * MiB, 1])).size).toBe(20 * MiB + 1);
  });

  it("FullDuplexCall ping-pongs one response per request and ends when the client does", async () => {
    const call = client.FullDuplexCall(echoMetadata());
    const outcome = collect(call);
    const responses: StreamingOutputCallResponse[] = [];
    call.on("data", (m: StreamingOutputCallResponse) => responses.push(m));
    for (const [i, size] of RESPONSE_SIZES.entries()) {
      call.write({ response_parameters: [{ size }], payload: payload(REQUEST_SIZES[i] ?? 0) });
      await until(() => responses.length === i + 1);
    }
    call.end();
    const { messages, status, initial } = await outcome;
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map(bodyLength)).toEqual(RESPONSE_SIZES);
    expectEchoed(initial, status.metadata);
  });

  it("FullDuplexCall with no requests ends cleanly", async () => {
    const call = client.FullDuplexCall();
    call.end();
    const { messages, status } = await collect(call);
    expect(status.code).toBe(grpc.status.OK);
    expect(messages).toEqual([]);
  });

  it("FullDuplexCall fails with a requested status, echoing metadata", async () => {
    const call = client.FullDuplexCall(echoMetadata());
    call.write({ response_parameters: [{ size: 5 }] });
    call.write({ response_status: { code: grpc.status.FAILED_PRECONDITION, message: "test status message" } });
    call.end();
    const { messages, status, initial } = await collect(call);
    expect(messages.map(bodyLength)).toEqual([5]);
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toBe("test status message");
    expectEchoed(initial, status.metadata);
  });

  it("HalfDuplexCall holds every response until the client ends", async () => {
    const call = client.HalfDuplexCall();
    const outcome = collect(call);
    let early = 0;
    call.on("data", () => early++);
    for (const size of RESPONSE_SIZES) call.write({ response_parameters: [{ size }] });
    await new Promise((r) => setTimeout(r, 100));
    expect(early).toBe(0);
    call.end();
    const { messages, status } = await outcome;
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map(bodyLength)).toEqual(RESPONSE_SIZES);
  });
});

describe("client cancellation", () => {
  it("mid-stream clears the server's pending interval timer", async () => {
    const timers = watchTimers(29_999.999);
    try {
      const call = client.StreamingOutputCall({
        response_parameters: [{ size: 1 }, { size: 1, interval_us: 29_999_999 }],
      });
      const outcome = collect(call);
      await new Promise((r) => call.once("data", r));
      await until(() => timers.live() === 1);
      call.cancel();
      expect((await outcome).status.code).toBe(grpc.status.CANCELLED);
      await until(() => timers.live() === 0);
    } finally {
      timers.stop();
    }
  });

  it("while the server waits on backpressure or an interval leaves it healthy", async () => {
    const stalled = client.StreamingOutputCall({
      response_parameters: Array.from({ length: 200 }, () => ({ size: MiB })),
    });
    const stalledOutcome = collect(stalled);
    await new Promise((r) => stalled.once("data", r));
    stalled.pause();
    await new Promise((r) => setTimeout(r, 50));
    stalled.cancel();
    stalled.resume();

    const duplex = client.FullDuplexCall();
    const duplexOutcome = collect(duplex);
    duplex.write({ response_parameters: [{ size: 1 }, { size: 1, interval_us: 30_000_000 }] });
    await new Promise((r) => duplex.once("data", r));
    duplex.cancel();

    expect((await stalledOutcome).status.code).toBe(grpc.status.CANCELLED);
    expect((await duplexOutcome).status.code).toBe(grpc.status.CANCELLED);
    const after = await unary(client.UnaryCall.bind(client), { response_size: 3 });
    expect(after.err).toBeNull();
  });
});
