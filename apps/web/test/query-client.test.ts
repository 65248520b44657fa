// The dashboard's query client against the race behind stale pages: a change announced while a
// query's first load is still on the wire (that load read the old state) must still be shown.
import { QueryObserver } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { makeQueryClient } from "../src/lib/query-client.ts";

/** A "server" whose answers can be held on the wire after they were read. */
function slowServer() {
  let state = "asleep";
  let release: () => void = () => {};
  let held = Promise.resolve();
  return {
    set: (s: string) => (state = s),
    hold: () => (held = new Promise<void>((r) => (release = r))),
    release: () => release(),
    read: async () => {
      const answer = state; // read now, delivered later
      await held;
      return answer;
    },
  };
}

describe("makeQueryClient", () => {
  it("re-reads a query whose first load was under way when it was invalidated", async () => {
    const qc = makeQueryClient();
    const server = slowServer();
    server.hold();
    const observer = new QueryObserver(qc, { queryKey: ["satellite"], queryFn: server.read, retry: false });
    const seen: (string | undefined)[] = [];
    const stop = observer.subscribe((r) => seen.push(r.data));
    await new Promise((r) => setTimeout(r, 20)); // the first load has read "asleep"
    server.set("awake");
    void qc.invalidateQueries({ queryKey: ["satellite"] }); // the live stream's announcement
    server.release();
    await expect.poll(() => observer.getCurrentResult().data, { timeout: 2000 }).toBe("awake");
    // What the page showed, in order: the old state, then the new one.
    expect(seen.filter((d, i) => d !== undefined && d !== seen[i - 1])).toEqual(["asleep", "awake"]);
    stop();
    qc.clear();
  });

  it("an invalidation of a loaded query, or of none under way, costs no extra read", async () => {
    const qc = makeQueryClient();
    let reads = 0;
    const observer = new QueryObserver(qc, { queryKey: ["list"], queryFn: async () => ++reads, retry: false });
    const stop = observer.subscribe(() => {});
    await expect.poll(() => observer.getCurrentResult().data).toBe(1);
    await qc.invalidateQueries({ queryKey: ["list"] });
    await qc.invalidateQueries({ queryKey: ["other"] });
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(2);
    stop();
    qc.clear();
  });
});
