import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHealth, waitHealthy } from "../src/probe.ts";
import { startBackend, type Backend } from "../src/server.ts";
import { testClient, unary } from "./client.ts";

/** A port nothing listens on (briefly bound by us, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const address = srv.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  await new Promise((r) => srv.close(r));
  return address.port;
}

let backend: Backend;
beforeAll(async () => {
  backend = await startBackend({ port: 0 });
});
afterAll(() => backend.close());

describe("probeHealth", () => {
  it("reports SERVING for the server and the TestService, SERVICE_UNKNOWN for anything else", async () => {
    expect(await probeHealth(backend.address, { timeoutMs: 2000 })).toBe("SERVING");
    expect(await probeHealth(backend.address, { timeoutMs: 2000, service: "grpc.testing.TestService" })).toBe(
      "SERVING",
    );
    expect(await probeHealth(backend.address, { timeoutMs: 2000, service: "nope.Nothing" })).toBe("SERVICE_UNKNOWN");
  });

  it("reports UNREACHABLE for a closed port within its timeout", async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    expect(await probeHealth(address, { timeoutMs: 1500 })).toBe("UNREACHABLE");
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("reports UNREACHABLE when the deadline passes without an answer", async () => {
    // Accepts TCP but never speaks HTTP/2, like a half-booted machine.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    try {
      const started = Date.now();
      expect(await probeHealth(`127.0.0.1:${address.port}`, { timeoutMs: 300 })).toBe("UNREACHABLE");
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      silent.close();
      // Drop the probe's still-open socket so close() can finish.
      await new Promise((r) => setTimeout(r, 10));
    }
  });
});

describe("waitHealthy", () => {
  it("resolves true at once for a serving backend", async () => {
    const started = Date.now();
    expect(await waitHealthy(backend.address, { totalMs: 3000 })).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("resolves false after totalMs when nothing listens", async () => {
    const started = Date.now();
    expect(await waitHealthy(`127.0.0.1:${await closedPort()}`, { totalMs: 600 })).toBe(false);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(1500);
  });

  it("notices a backend that comes up while it polls", async () => {
    const port = await closedPort();
    const waiting = waitHealthy(`127.0.0.1:${port}`, { totalMs: 5000 });
    await new Promise((r) => setTimeout(r, 400));
    const late = await startBackend({ port });
    try {
      const started = Date.now();
      expect(await waiting).toBe(true);
      // Polling backs off to at most 500 ms, so the wake-up is noticed promptly.
      expect(Date.now() - started).toBeLessThan(1200);
    } finally {
      await late.close();
    }
  });

  it("stops early when aborted", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    expect(await waitHealthy(`127.0.0.1:${await closedPort()}`, { totalMs: 5000, signal: ac.signal })).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("startBackend", () => {
  it("serves health only, saying so once, when the interop protos are missing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "no-protos-"));
    const lines: string[] = [];
    const bare = await startBackend({ port: 0, protoRoot: empty, log: (l) => lines.push(l) });
    const client = testClient(bare.address);
    try {
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("health only");
      expect(await probeHealth(bare.address, { timeoutMs: 2000 })).toBe("SERVING");
      expect(await probeHealth(bare.address, { timeoutMs: 2000, service: "grpc.testing.TestService" })).toBe(
        "SERVICE_UNKNOWN",
      );
      const { err } = await unary(client.UnaryCall.bind(client), { response_size: 1 });
      expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
      await bare.close();
      rmSync(empty, { recursive: true });
    }
  });

  it("rejects with a clear message when the port is taken", async () => {
    await expect(startBackend({ port: backend.port })).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });

  it("stops answering after close, even with a call still open", async () => {
    const other = await startBackend({ port: 0 });
    const client = testClient(other.address);
    const stream = client.StreamingOutputCall({
      response_parameters: [{ size: 1 }, { size: 1, interval_us: 60_000_000 }],
    });
    stream.on("error", () => {});
    await new Promise((r) => stream.once("data", r));
    const started = Date.now();
    await other.close({ graceMs: 300 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await probeHealth(other.address, { timeoutMs: 1000 })).toBe("UNREACHABLE");
    client.close();
  });
});
