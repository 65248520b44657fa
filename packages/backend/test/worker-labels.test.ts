// Worker labels through ListWorkers, over a real gRPC socket: a daemon labelled with the wanted
// value is ready, one labelled otherwise is not, and one that is not BuildKit (no ListWorkers) or
// was configured before labels existed is taken as it is. (Real BuildKits: user-data-buildkit.test.)
import { afterAll, expect, it } from "vitest";
import { carriesLabel, waitHealthy } from "../src/probe.ts";
import { startBackend, type Backend } from "../src/server.ts";
import { decodeWorkerLabels, encodeListWorkers } from "../src/worker-labels.ts";

const started: Backend[] = [];
afterAll(async () => {
  await Promise.all(started.map((b) => b.close({ graceMs: 100 })));
});
const backend = async (workerLabels?: Record<string, string>) => {
  const b = await startBackend({ log: () => {}, ...(workerLabels && { workerLabels }) });
  started.push(b);
  return b.address;
};

it("decodes what it encodes, several workers and labels each", () => {
  const workers: { id: string; labels: Record<string, string> }[] = [{ id: "a", labels: { "satellites.limits": "abc", "org.mobyproject.buildkit.worker.executor": "oci" } }, { id: "b", labels: {} }];
  expect(decodeWorkerLabels(encodeListWorkers(workers))).toEqual(workers.map((w) => w.labels));
});

it("a daemon carrying the wanted label is ready; one carrying another value is not", async () => {
  const address = await backend({ "satellites.limits": "new", other: "x" });
  expect(await carriesLabel(address, { timeoutMs: 2000 }, { key: "satellites.limits", value: "new" })).toBe(true);
  expect(await carriesLabel(address, { timeoutMs: 2000 }, { key: "satellites.limits", value: "old" })).toBe(false);
  expect(await waitHealthy(address, { totalMs: 800, workerLabel: { key: "satellites.limits", value: "old" } })).toBe(false);
});

it("a daemon without the label, or without ListWorkers, is taken as it is", async () => {
  expect(await carriesLabel(await backend({ other: "x" }), { timeoutMs: 2000 }, { key: "satellites.limits", value: "new" })).toBe(true);
  expect(await carriesLabel(await backend(), { timeoutMs: 2000 }, { key: "satellites.limits", value: "new" })).toBe(true);
});
