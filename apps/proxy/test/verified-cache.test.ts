// The credential cache both authenticators share: one query per credential however many calls
// wait, a failing check is UNAVAILABLE and not remembered, and a revocation announced while a
// check is in flight is not undone by what that check read before it.
import { expect, it } from "vitest";
import { GrpcError, Status } from "../src/grpc.ts";
import { VerifiedCache } from "../src/verified-cache.ts";

type Id = { id: string } | null;

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

it("concurrent checks of one credential share one query, and the answer is kept for the TTL", async () => {
  const cache = new VerifiedCache<Id>(60_000, "cannot check");
  let queries = 0;
  const d = deferred<Id>();
  const run = () => {
    queries++;
    return d.promise;
  };
  const calls = Array.from({ length: 20 }, () => cache.check("tok", run, null));
  expect(cache.fresh("tok")).toBeUndefined();
  d.resolve({ id: "t1" });
  expect(await Promise.all(calls)).toEqual(Array(20).fill({ id: "t1" }));
  expect(queries).toBe(1);
  expect(cache.fresh("tok")).toEqual({ answer: { id: "t1" } });
  // A refusal is an answer too (null): kept, and told apart from "nothing cached".
  await cache.check("bad", async () => null, null);
  expect(cache.fresh("bad")).toEqual({ answer: null });
  expect(cache.fresh("tok", Date.now() + 61_000)).toBeUndefined();
});

it("a failing check is UNAVAILABLE for every waiter and is not remembered", async () => {
  const cache = new VerifiedCache<Id>(60_000, "cannot check the token right now; retry");
  const d = deferred<Id>();
  const calls = [cache.check("tok", () => d.promise, null), cache.check("tok", () => d.promise, null)];
  d.reject(new Error("connection refused"));
  for (const c of calls) {
    const err = await c.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrpcError);
    expect(err).toMatchObject({ code: Status.UNAVAILABLE, message: "cannot check the token right now; retry" });
  }
  expect(cache.fresh("tok")).toBeUndefined();
  expect(await cache.check("tok", async () => ({ id: "t1" }), null)).toEqual({ id: "t1" });
});

it("a revocation announced while a check is in flight: that check's answer is not cached", async () => {
  const cache = new VerifiedCache<Id>(60_000, "cannot check");
  const d = deferred<Id>();
  const inFlight = cache.check("tok", () => d.promise, null);
  // The check read the token as valid just before it was revoked; the announcement arrives first.
  cache.forget((a) => a?.id === "t1");
  d.resolve({ id: "t1" });
  expect(await inFlight).toEqual({ id: "t1" });
  expect(cache.fresh("tok")).toBeUndefined();
  // Answers already cached for other credentials stay; the revoked one is dropped.
  await cache.check("other", async () => ({ id: "t2" }), null);
  await cache.check("tok", async () => ({ id: "t1" }), null);
  cache.forget((a) => a?.id === "t1");
  expect(cache.fresh("tok")).toBeUndefined();
  expect(cache.fresh("other")).toEqual({ answer: { id: "t2" } });
});

// A flood of distinct tokens within the TTL: the sweep past 10,000 entries removed only expired
// ones, so the map grew with the flood (and every later insertion scanned all of it).
it("a flood of distinct credentials within the TTL keeps the cache bounded; the newest answers stay", async () => {
  const cache = new VerifiedCache<Id>(60_000, "cannot check");
  for (let i = 0; i < 30_000; i++) await cache.check(`flood-${i}`, async () => null, null);
  expect(cache.size).toBeLessThanOrEqual(10_000);
  expect(cache.fresh("flood-29999")).toEqual({ answer: null });
  await cache.check("valid", async () => ({ id: "t" }), null);
  expect(cache.fresh("valid")).toEqual({ answer: { id: "t" } });
});
