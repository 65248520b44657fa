// Fixtures for the API tests: real Postgres (the run's test database), real Redis with a
// queue prefix of our own (so no jobs worker picks these jobs up), real better-auth sessions.
import { randomUUID } from "node:crypto";
import { redisConnection, createQueues, type SatelliteQueues } from "@satellites/queue";
import { parseConfig } from "@satellites/config";
import type { Db, SatelliteState } from "@satellites/db";
import { makeSatellite, testDb } from "@satellites/testing";
import { generateToken } from "@satellites/tokens";
import { TRPCError } from "@trpc/server";
import { Redis } from "ioredis";
import { createRateLimits, provideRateLimits } from "../src/server/rate-limits.ts";
import { auth } from "../src/server/auth.ts";
import { provideServices } from "../src/server/services.ts";
import { createCaller } from "../src/server/routers/index.ts";
import { createContext } from "../src/server/trpc.ts";

export type Caller = ReturnType<typeof createCaller>;

let queues: SatelliteQueues | undefined;
let limitsRedis: Redis | undefined;
export const QUEUE_PREFIX = `web-test-${process.pid}`;

export function setup(): { db: Db; queues: SatelliteQueues } {
  const db = testDb();
  queues ??= createQueues(redisConnection(parseConfig().REDIS_URL), QUEUE_PREFIX);
  provideServices({ db, queues });
  // Rate-limit counters of this test file only (other runs share the Redis).
  limitsRedis ??= new Redis(parseConfig().REDIS_URL);
  provideRateLimits(createRateLimits(limitsRedis, QUEUE_PREFIX));
  return { db, queues };
}

export async function teardown(): Promise<void> {
  if (limitsRedis) {
    const keys = await limitsRedis.keys(`${QUEUE_PREFIX}:rl:*`);
    if (keys.length) await limitsRedis.del(...keys);
    await limitsRedis.quit();
    limitsRedis = undefined;
  }
  if (!queues) return;
  await Promise.all(Object.values(queues).filter((q) => typeof q === "object").map((q) => (q as { obliterate(o: { force: boolean }): Promise<void> }).obliterate({ force: true }).catch(() => {})));
  await queues.close();
  queues = undefined;
}

export async function callerWith(headers: Record<string, string> = {}): Promise<Caller> {
  return createCaller(await createContext({ headers: new Headers(headers) }));
}

export interface TestUser {
  id: string;
  email: string;
  cookie: string;
  caller: Caller;
}

/** Signs up through better-auth and keeps the session cookie, as a browser would. */
export async function signUp(label = "user", email = `${label}-${randomUUID().slice(0, 8)}@example.test`): Promise<TestUser> {
  const res = await auth().api.signUpEmail({ body: { email, password: "correct horse battery", name: label }, asResponse: true });
  if (!res.ok) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const body = (await res.json()) as { user: { id: string } };
  return { id: body.user.id, email, cookie, caller: await callerWith({ cookie }) };
}

export async function addMember(db: Db, orgId: string, userId: string, role: "owner" | "admin" | "member"): Promise<string> {
  const id = randomUUID();
  await db.member.create({ data: { id, organizationId: orgId, userId, role } });
  return id;
}

export async function newOrg(db: Db, name = "org"): Promise<string> {
  const id = randomUUID();
  await db.organization.create({ data: { id, name, slug: `${name}-${id.slice(0, 8)}` } });
  return id;
}

/** A token row made directly (the API's own create path is tested separately). */
export async function tokenFor(db: Db, orgId: string, userId: string | null, over: { expiresAt?: Date; revokedAt?: Date } = {}): Promise<{ id: string; token: string; caller: Caller }> {
  const t = generateToken();
  const row = await db.apiToken.create({ data: { orgId, createdById: userId, name: `t-${t.prefix}`, prefix: t.prefix, hash: t.hash, ...over } });
  return { id: row.id, token: t.token, caller: await callerWith({ authorization: `Bearer ${t.token}` }) };
}

export async function satelliteIn(db: Db, orgId: string, state: SatelliteState = "asleep") {
  const s = await makeSatellite(db, orgId, { provider: "local" });
  if (state === "creating") return s;
  // Every other state is reached by a transition, which moves the version on.
  return db.satellite.update({ where: { id: s.id }, data: { state, version: 1, stateChangedAt: new Date(Date.now() - 1000), upstream: state === "awake" ? "127.0.0.1:1" : null } });
}

/** The tRPC error code a call ends with, or "OK". */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}
