// The chaos suite's checks must be able to fail: each is shown a world with the defect it
// looks for (and the same world without it).
import { defaultLimits, limitColumns } from "@satellites/catalog";
import type { Satellite, SatelliteEvent } from "@satellites/db";
import type { InstanceSnapshot } from "@satellites/ec2-emulator";
import { renderUserData } from "@satellites/provider/user-data";
import { expect, it } from "vitest";
import type { CallRecord } from "./calls.ts";
import { cutBySleep, historyProblems, limitsMismatches, orphans } from "./invariants.ts";

const t0 = new Date("2026-12-01T10:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);

function sat(over: Partial<Satellite> = {}): Satellite {
  return {
    id: "s1", orgId: "o", name: "c1", liveName: "c1", platform: "amd64", size: "small", state: "awake", version: 3, stateChangedAt: t0,
    provider: "ec2", instanceId: "i-1", upstream: "127.0.0.1:1", hibernate: true, ...limitColumns(defaultLimits("small", 60)),
    limitsPending: false, limitsVersion: 0, limitsAppliedVersion: 0, limitsEnforced: true, wakeRequested: false, lastActivityAt: null, failureReason: null,
    reconciledAt: null, createdAt: t0, updatedAt: t0, deletedAt: null, ...over,
  } as Satellite;
}

function inst(over: Partial<InstanceSnapshot> = {}): InstanceSnapshot {
  const userData = Buffer.from(renderUserData(defaultLimits("small", 60), { platform: "amd64", size: "small", satellitePort: 8372 })).toString("base64");
  return {
    instanceId: "i-1", state: "running", instanceType: "t3.medium", architecture: "x86_64", privateIp: "127.0.0.2", hibernationConfigured: true, hibernated: false,
    userData, tags: { "satellites:id": "s1" }, volumes: [], pid: 1, process: "running", processStarts: 1, ...over,
  } as InstanceSnapshot;
}

let eventId = 0n;
const ev = (from: SatelliteEvent["from"], to: SatelliteEvent["to"], cause: SatelliteEvent["cause"], s = 0): SatelliteEvent =>
  ({ id: ++eventId, satelliteId: "s1", orgId: "o", from, to, cause, actor: "system", startedAt: at(s), finishedAt: at(s), durationMs: null, error: null, detail: null }) as SatelliteEvent;

it("orphans: a machine no live satellite names, two machines for one satellite, a satellite naming a machine that is gone", () => {
  expect(orphans([sat()], [inst()])).toEqual([]);
  expect(orphans([sat({ state: "deleted", instanceId: "i-1" })], [inst()])).toHaveLength(1);
  expect(orphans([sat()], [inst(), inst({ instanceId: "i-2" })])).toHaveLength(2); // i-2 unnamed + two for s1
  expect(orphans([sat()], [inst({ state: "terminated" })])).toHaveLength(1);
  expect(orphans([sat({ state: "deleted" })], [inst({ state: "terminated" })])).toEqual([]);
});

it("history: must start at creating, chain, use allowed edges and end at the current state", () => {
  const good = [ev(null, "creating", "launch"), ev("creating", "awake", "launch"), ev("awake", "stopping", "idle"), ev("stopping", "asleep", "idle")];
  expect(historyProblems(sat({ state: "asleep" }), good)).toEqual([]);
  expect(historyProblems(sat({ state: "awake" }), good)).toHaveLength(1); // ends elsewhere
  expect(historyProblems(sat({ state: "asleep" }), [good[0]!, good[1]!, good[3]!])).toHaveLength(1); // gap
  expect(historyProblems(sat({ state: "awake" }), [good[0]!, good[1]!, ev("awake", "stopping", "request"), ev("stopping", "awake", "idle")])).toHaveLength(1); // a proxy cannot sleep one
  expect(historyProblems(sat(), [])).toHaveLength(1);
});

it("builds cut by sleep: a served stream that ended badly while its satellite fell asleep, unless its proxy was killed", () => {
  const stream: CallRecord = { kind: "stream", satelliteId: "s1", proxy: 0, began: at(0).getTime(), servedAt: at(1).getTime(), ended: at(10).getTime(), code: 14, details: "", sent: 5, echoed: 3 };
  const slept = new Map([["s1", [ev("awake", "stopping", "idle", 5), ev("stopping", "asleep", "idle", 9)]]]);
  expect(cutBySleep([stream], [], slept)).toHaveLength(1);
  expect(cutBySleep([{ ...stream, code: 0 }], [], slept)).toEqual([]);
  expect(cutBySleep([stream], [{ proxy: 0, at: at(8).getTime() }], slept)).toEqual([]);
  expect(cutBySleep([stream], [], new Map([["s1", [ev("awake", "deleting", "delete", 9)]]]))).toEqual([]);
});

it("limits: the machine must run the committed limits unless they are pending, and the satellite's size", () => {
  expect(limitsMismatches([sat()], [inst()], 8372)).toEqual([]);
  expect(limitsMismatches([sat({ limitCpuPercent: 50 })], [inst()], 8372)).toHaveLength(1);
  expect(limitsMismatches([sat({ limitCpuPercent: 50, limitsPending: true })], [inst()], 8372)).toEqual([]);
  expect(limitsMismatches([sat({ limitOomScoreAdj: 0 })], [inst()], 8372)).toHaveLength(1);
  expect(limitsMismatches([sat({ size: "medium", limitMemoryMiB: defaultLimits("small", 60).memoryMiB })], [inst()], 8372)).toHaveLength(1);
});
