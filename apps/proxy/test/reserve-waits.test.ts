// Which build takes an Earthly reserve (and its wait): the next of the same actor on the same
// satellite, one build per reserve, within a minute; no other actor's or satellite's. Such a
// build, named by its user agent as bare grpc-go, is the Earthly CLI's.
import { afterEach, expect, it, vi } from "vitest";
import { clientAfterReserve, ReserveWaits } from "../src/reserve-waits.ts";

afterEach(() => {
  vi.useRealTimers();
});

it("one build per reserve, oldest first; only the same actor and satellite", () => {
  const waits = new ReserveWaits();
  waits.note({ actor: "token:a", satelliteId: "s1", waitedMs: 2_000 });
  waits.note({ actor: "token:a", satelliteId: "s1", waitedMs: 2_100 });
  waits.note({ actor: "token:a", satelliteId: "s1", waitedMs: 0 });
  expect(waits.claim("token:b", "s1")).toBeUndefined();
  expect(waits.claim("token:a", "s2")).toBeUndefined();
  expect(waits.claim("token:a", "s1")).toBe(2_000);
  expect(waits.claim("token:a", "s1")).toBe(2_100);
  // A reserve of an awake satellite: no wait, but a reserve all the same.
  expect(waits.claim("token:a", "s1")).toBe(0);
  expect(waits.claim("token:a", "s1")).toBeUndefined();
});

it("a build after a reserve with grpc-go's bare user agent (or none) is the Earthly CLI's; a client that names itself keeps its name", () => {
  expect(clientAfterReserve("grpc-go 1.62.1")).toBe("earthly");
  expect(clientAfterReserve("unknown")).toBe("earthly");
  expect(clientAfterReserve("earthbuild 0.8.16")).toBe("earthbuild 0.8.16");
  expect(clientAfterReserve("buildctl 0.24.0")).toBe("buildctl 0.24.0");
});

it("a reserve more than a minute old is not a build's", () => {
  vi.useFakeTimers({ now: 1_000_000 });
  const waits = new ReserveWaits();
  waits.note({ actor: "token:a", satelliteId: "s1", waitedMs: 2_000 });
  vi.setSystemTime(1_000_000 + 30_000);
  waits.note({ actor: "token:a", satelliteId: "s1", waitedMs: 3_000 });
  vi.setSystemTime(1_000_000 + 61_000);
  // The first has expired; the second is taken.
  expect(waits.claim("token:a", "s1")).toBe(3_000);
  expect(waits.claim("token:a", "s1")).toBeUndefined();
});

it("holds at most 10,000 unclaimed reserves, dropping expired ones first", () => {
  vi.useFakeTimers({ now: 1_000_000 });
  const waits = new ReserveWaits();
  for (let i = 0; i < 10_000; i++) waits.note({ actor: `token:${i}`, satelliteId: "s", waitedMs: 1 });
  waits.note({ actor: "token:late", satelliteId: "s", waitedMs: 5 });
  expect(waits.claim("token:late", "s")).toBeUndefined();
  vi.setSystemTime(1_000_000 + 61_000);
  waits.note({ actor: "token:later", satelliteId: "s", waitedMs: 7 });
  expect(waits.claim("token:later", "s")).toBe(7);
});
