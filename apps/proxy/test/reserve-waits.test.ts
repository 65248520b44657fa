// Which build takes an Earthly reserve (and its wait): the next of the same actor on the same
// satellite, one build per reserve, within a minute; no other actor's or satellite's — whichever
// replica answered the reserve (the notes are in the real Redis, each replica with its own
// connection). Such a build, named by its user agent as bare grpc-go, is the Earthly CLI's.
import { randomUUID } from "node:crypto";
import { redisConnection } from "@satellites/queue";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { clientAfterReserve, ReserveWaits } from "../src/reserve-waits.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
let a: Redis;
let b: Redis;

beforeAll(() => {
  a = redisConnection(REDIS_URL);
  b = redisConnection(REDIS_URL);
});
afterAll(() => {
  a?.disconnect();
  b?.disconnect();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("one build per reserve, oldest first, whichever replica noted it; only the same actor and satellite", async () => {
  const [replicaA, replicaB] = [new ReserveWaits(a), new ReserveWaits(b)];
  const s1 = randomUUID();
  const s2 = randomUUID();
  await replicaA.note({ actor: "token:a", satelliteId: s1, waitedMs: 2_000 });
  await replicaB.note({ actor: "token:a", satelliteId: s1, waitedMs: 2_100 });
  await replicaA.note({ actor: "token:a", satelliteId: s1, waitedMs: 0 });
  expect(await replicaB.claim("token:b", s1)).toBeUndefined();
  expect(await replicaB.claim("token:a", s2)).toBeUndefined();
  expect(await replicaB.claim("token:a", s1)).toBe(2_000);
  expect(await replicaA.claim("token:a", s1)).toBe(2_100);
  // A reserve of an awake satellite: no wait, but a reserve all the same.
  expect(await replicaB.claim("token:a", s1)).toBe(0);
  expect(await replicaA.claim("token:a", s1)).toBeUndefined();
});

it("two replicas claiming at once take a reserve once", async () => {
  const s = randomUUID();
  const replicas = [new ReserveWaits(a), new ReserveWaits(b)];
  await replicas[0]!.note({ actor: "token:a", satelliteId: s, waitedMs: 900 });
  const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => replicas[i % 2]!.claim("token:a", s)));
  expect(claims.filter((c) => c !== undefined)).toEqual([900]);
});

it("a reserve older than the window is not a build's; what the key holds expires with it", async () => {
  const s = randomUUID();
  const waits = new ReserveWaits(a, { windowMs: 300 });
  await waits.note({ actor: "token:a", satelliteId: s, waitedMs: 2_000 });
  await sleep(150);
  await waits.note({ actor: "token:a", satelliteId: s, waitedMs: 3_000 });
  await sleep(200);
  // The first has expired; the second is taken.
  expect(await waits.claim("token:a", s)).toBe(3_000);
  expect(await waits.claim("token:a", s)).toBeUndefined();
  await waits.note({ actor: "token:a", satelliteId: s, waitedMs: 1 });
  await sleep(400);
  expect(await a.exists(`satellites:earthly-reserves:${s}:token:a`)).toBe(0);
});

it("keeps at most 64 unclaimed reserves per actor and satellite, the latest", async () => {
  const s = randomUUID();
  const waits = new ReserveWaits(a);
  for (let i = 0; i < 70; i++) await waits.note({ actor: "token:a", satelliteId: s, waitedMs: i });
  expect(await waits.claim("token:a", s)).toBe(6);
});

it("Redis away: a claim gives up within 2 s and finds none (the build keeps its user agent's name); a note does not throw", async () => {
  const gone = redisConnection("redis://127.0.0.1:1");
  gone.on("error", () => {});
  const waits = new ReserveWaits(gone);
  void waits.note({ actor: "token:a", satelliteId: randomUUID(), waitedMs: 5 });
  const began = Date.now();
  expect(await waits.claim("token:a", randomUUID())).toBeUndefined();
  expect(Date.now() - began).toBeLessThan(3_000);
  gone.disconnect();
}, 10_000);

it("a build after a reserve with grpc-go's bare user agent (or none) is the Earthly CLI's; a client that names itself keeps its name", () => {
  expect(clientAfterReserve("grpc-go 1.62.1")).toBe("earthly");
  expect(clientAfterReserve("unknown")).toBe("earthly");
  expect(clientAfterReserve("earthbuild 0.8.16")).toBe("earthbuild 0.8.16");
  expect(clientAfterReserve("buildctl 0.24.0")).toBe("buildctl 0.24.0");
});
