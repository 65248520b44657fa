// Readiness of a daemon that serves no grpc.health.v1 (BuildKit before v0.13): the probe falls
// back to moby.buildkit.v1.Control/ListWorkers, as Earthly and Depot do. The daemon here is a
// grpc-js server with only that method (raw bytes: a real BuildKit answer is not decoded).
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { probeHealth, probeReady, waitHealthy } from "../src/probe.ts";

const raw = { path: "/moby.buildkit.v1.Control/ListWorkers", requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };

async function daemon(workers: Buffer): Promise<{ address: string; server: grpc.Server; calls: () => number }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService({ ListWorkers: raw } as grpc.ServiceDefinition, {
    ListWorkers: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls += 1;
      cb(null, workers);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { address: `127.0.0.1:${port}`, server, calls: () => calls };
}

describe("probe of a daemon without the health service", () => {
  const servers: grpc.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.forceShutdown();
  });

  it("is ready once ListWorkers answers with a worker", async () => {
    // ListWorkersResponse{record: [WorkerRecord{ID: "w1"}]}: field 1 (message) holding field 1 (string).
    const d = await daemon(Buffer.from([0x0a, 0x04, 0x0a, 0x02, 0x77, 0x31]));
    servers.push(d.server);
    expect(await probeHealth(d.address, { timeoutMs: 2000 })).toBe("UNKNOWN");
    expect(await probeReady(d.address, { timeoutMs: 2000 })).toBe("SERVING");
    expect(await waitHealthy(d.address, { totalMs: 3000 })).toBe(true);
    expect(d.calls()).toBeGreaterThanOrEqual(2);
  });

  it("is not ready while the daemon has no worker", async () => {
    const d = await daemon(Buffer.alloc(0));
    servers.push(d.server);
    expect(await probeReady(d.address, { timeoutMs: 2000 })).toBe("NOT_SERVING");
    expect(await waitHealthy(d.address, { totalMs: 800 })).toBe(false);
  });
});
