// The login token Earthly's CLI gets from /api/v0/account/login is what it sends as
// satellite_token (or authorization: Bearer): the proxy takes it like an API token, within
// its organization only, and stops taking it once its API token is revoked or its creator leaves.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { generateToken, issueLoginToken } from "@satellites/tokens";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMetadata, awakeSatellite, dropQueueKeys, startTestProxy, testClient, unaryStatus, type TestClient } from "./helpers.ts";

const db = testDb();
let backend: Backend;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let client: TestClient;

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  proxy = await startTestProxy({ tokenCacheMs: 0, authLimit: { perAddress: 100_000, perSatellite: 100_000 } });
  client = testClient(`127.0.0.1:${proxy.port}`);
});

afterAll(async () => {
  client?.close();
  await proxy?.close({ graceMs: 500 });
  await backend?.close({ graceMs: 100 });
  if (proxy) await dropQueueKeys(proxy.prefix);
});

/** An organization with a member, the member's API token, and a login made with it. */
async function loggedIn() {
  const org = await makeOrg(db, "login");
  const userId = randomUUID();
  await db.user.create({ data: { id: userId, name: "cli", email: `${userId}@example.test` } });
  await db.member.create({ data: { id: randomUUID(), organizationId: org.id, userId, role: "member" } });
  const t = generateToken();
  const api = await db.apiToken.create({ data: { orgId: org.id, createdById: userId, name: "cli", prefix: t.prefix, hash: t.hash } });
  const login = await issueLoginToken(db, api);
  const sat = await awakeSatellite(db, org.id, backend.address);
  return { org, userId, api, token: login.token, sat };
}

function bearer(name: string, org: string, token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("satellite_name", name);
  md.set("satellite_org", org);
  md.set("authorization", `Bearer ${token}`);
  return md;
}

describe("login tokens at the proxy", () => {
  it("are accepted as satellite_token and as authorization: Bearer", async () => {
    const { org, token, sat } = await loggedIn();
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(sat.name, org.id, token))).toMatchObject({ code: grpc.status.OK });
    expect(await unaryStatus(client, "UnaryCall", {}, bearer(sat.name, org.id, token))).toMatchObject({ code: grpc.status.OK });
  });

  it("reach only their own organization's satellites", async () => {
    const a = await loggedIn();
    const b = await loggedIn();
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(b.sat.name, b.org.id, a.token))).toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(b.sat.name, a.org.id, a.token))).toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("stop working when their API token is revoked", async () => {
    const { org, token, sat, api } = await loggedIn();
    await db.apiToken.update({ where: { id: api.id }, data: { revokedAt: new Date() } });
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(sat.name, org.id, token))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("stop working when the token's creator leaves the organization", async () => {
    const { org, token, sat, userId } = await loggedIn();
    await db.member.deleteMany({ where: { organizationId: org.id, userId } });
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(sat.name, org.id, token))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("stop working once expired", async () => {
    const { org, sat, api } = await loggedIn();
    const old = await issueLoginToken(db, api, new Date(Date.now() - 24 * 3600_000));
    expect(await unaryStatus(client, "UnaryCall", {}, authMetadata(sat.name, org.id, old.token))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });
});
