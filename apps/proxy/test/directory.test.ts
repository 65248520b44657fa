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
