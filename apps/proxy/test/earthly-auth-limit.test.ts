// The Earthly API's port counts failed authentications in the same budget as the proxy's port:
// one per source address, shared by every replica (Redis). Before, a client could guess tokens
// there without limit, a database lookup each. A valid token is never refused, not even from the
// guesser's own address mid-flood; over budget, a failure is RESOURCE_EXHAUSTED with when to retry.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { loadEarthlyServices } from "@satellites/earthly-api";
import { generateToken } from "@satellites/tokens";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMetadata, dropQueueKeys, testClient, unaryStatus, uniquePrefix, type TestClient } from "./helpers.ts";
import { startProxyProcess, type Proc } from "./processes.ts";

const db = testDb();
const prefix = uniquePrefix();
const PER_ADDRESS = 6;
let proxies: Array<Proc & { port: number; earthlyApiPort: number }> = [];
let computes: grpc.Client[] = [];
let front: TestClient | undefined;
let org: { id: string };
let valid: string;

beforeAll(async () => {
  const env = { QUEUE_PREFIX: prefix, PROXY_AUTH_FAILURES_PER_ADDRESS: String(PER_ADDRESS), PROXY_AUTH_FAILURES_PER_SATELLITE: "100000" };
  proxies = await Promise.all([startProxyProcess(env), startProxyProcess(env)]);
  const { Compute } = loadEarthlyServices();
  computes = proxies.map((p) => new Compute(`127.0.0.1:${p.earthlyApiPort}`, grpc.credentials.createInsecure()));
  front = testClient(`127.0.0.1:${proxies[0]!.port}`);
  org = await makeOrg(db, "earthly-limits");
  // A member's API token: the Earthly API takes API tokens as well as logins made from them.
  const userId = randomUUID();
  await db.user.create({ data: { id: userId, name: "member", email: `m-${userId.slice(0, 8)}@example.test` } });
  await db.member.create({ data: { id: randomUUID(), organizationId: org.id, userId, role: "member" } });
  const t = generateToken();
  await db.apiToken.create({ data: { orgId: org.id, name: "earthly", prefix: t.prefix, hash: t.hash, createdById: userId } });
  valid = t.token;
}, 120_000);

afterAll(async () => {
  for (const c of computes) c.close();
  front?.close();
  await Promise.all(proxies.map((p) => p.stop()));
  await dropQueueKeys(prefix);
  await db.$disconnect();
});

const bearer = (token: string) => {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
};

function list(client: grpc.Client, token: string): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    (client as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void>).ListSatellites!({ org_id: org.id }, bearer(token), { deadline: Date.now() + 10_000 }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: "" }),
    );
  });
}

const guess = () => "sat_" + randomUUID().replaceAll("-", "").slice(0, 32);

describe("failed authentications on the Earthly API's port", () => {
  it("count per address across replicas and with the proxy's port; a valid token still works mid-flood", async () => {
    const [a, b] = computes as [grpc.Client, grpc.Client];
    const codes: grpc.status[] = [];
    for (let i = 0; i < PER_ADDRESS / 2; i++) codes.push((await list(a, guess())).code, (await list(b, guess())).code);
    expect(codes).toEqual(Array(PER_ADDRESS).fill(grpc.status.UNAUTHENTICATED));
    for (const c of [a, b]) {
      const s = await list(c, guess());
      expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(s.details).toMatch(/^too many failed authentications from this address; retry in \d+ s$/);
    }
    // One budget per address for both front doors.
    expect((await unaryStatus(front!, "EmptyCall", {}, authMetadata("any", org.id, guess()))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const flood = Array.from({ length: 100 }, (_, i) => list(computes[i % 2]!, guess()));
    const legit = Array.from({ length: 10 }, (_, i) => list(computes[i % 2]!, valid));
    expect(new Set((await Promise.all(flood)).map((s) => s.code))).toEqual(new Set([grpc.status.RESOURCE_EXHAUSTED]));
    expect((await Promise.all(legit)).map((s) => s.code)).toEqual(Array(10).fill(grpc.status.OK));
  });
});
