import type { Db } from "@satellites/db";
import { describe, expect, it } from "vitest";
import { SatelliteDirectory } from "../src/directory.ts";

/** A directory over a stub database that counts its queries and answers when told to. */
function stub() {
  const row = { id: "s1", orgId: "o1", name: "sat", state: "asleep", version: 3, upstream: null, failureReason: null, deletedAt: null };
  const waiting: Array<() => void> = [];
  let queries = 0;
  const db = {
    satellite: {
      findFirst: () => {
        queries++;
        return new Promise((resolve) => waiting.push(() => resolve({ ...row })));
      },
    },
  } as unknown as Db;
  return { directory: new SatelliteDirectory(db, { ttlMs: 30_000, missTtlMs: 2_000 }), answer: () => waiting.splice(0).forEach((f) => f()), queries: () => queries };
}

describe("SatelliteDirectory.lookupFresh", () => {
  it("calls held on one lease write share one read begun after it", async () => {
    const { directory, answer, queries } = stub();
    const writtenAt = performance.now();
    const reads = Array.from({ length: 500 }, () => directory.lookupFresh("o1", "sat", writtenAt));
    expect(queries()).toBe(1);
    answer();
    const got = await Promise.all(reads);
    expect(got.every((r) => r?.id === "s1" && r.state === "asleep")).toBe(true);
  });

  it("never joins a read that began before the caller's lease write", async () => {
    const { directory, answer, queries } = stub();
    const early = directory.lookupFresh("o1", "sat", performance.now());
    await new Promise((r) => setTimeout(r, 2));
    const late = directory.lookupFresh("o1", "sat", performance.now());
    expect(queries()).toBe(2);
    answer();
    await Promise.all([early, late]);
  });
});

// Calls released by a wake remember the woken row a batch per turn; a sleep announced between
// those turns was undone by the later batches: "awake" at the old address for 30 s, calls sent
// to a stopped machine (UNAVAILABLE) instead of waking it.
describe("SatelliteDirectory.remember", () => {
  it("never puts back a record older than a change already announced for its satellite", () => {
    const { directory } = stub();
    const awake = { id: "s1", orgId: "o1", name: "sat", state: "awake", version: 5, upstream: "10.0.0.1:8372", failureReason: null, deleted: false };
    directory.remember(awake);
    expect(directory.cached("o1", "sat")).toMatchObject({ state: "awake" });
    directory.onChange({ id: "s1", orgId: "o1", from: "awake", to: "stopping", version: 6, cause: "idle", at: new Date().toISOString() });
    directory.remember(awake);
    expect(directory.cached("o1", "sat")).toBeUndefined();
    // A newer record than the announcement is remembered as usual.
    directory.remember({ ...awake, version: 8 });
    expect(directory.cached("o1", "sat")).toMatchObject({ version: 8 });
  });
});
