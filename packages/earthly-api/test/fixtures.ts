// A running Earthly API against the run's database, a real grpc-js client from our .proto
// files, and organizations with people and login tokens to call it with.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { parseConfig } from "@satellites/config";
import type { Db, Satellite, SatelliteState } from "@satellites/db";
import { type State, transition } from "@satellites/state";
import { makeOrg, makeSatellite, testDatabaseUrl, testDb, testQueues } from "@satellites/testing";
import { generateToken, issueLoginToken } from "@satellites/tokens";
import { type EarthlyApi, type EarthlyApiDeps, loadEarthlyServices, startEarthlyApi } from "../src/index.ts";

export const PUBLIC_ADDRESS = "satellites.example.test:8372";

export interface Harness {
  db: Db;
  api: EarthlyApi;
  queues: ReturnType<typeof testQueues>;
  compute: grpc.Client;
  client(service: "Billing" | "LogStream" | "Analytics"): grpc.Client;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}, deps: EarthlyApiDeps = {}): Promise<Harness> {
  const db = testDb();
  const queues = testQueues();
  const config = parseConfig({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: process.env.REDIS_URL, QUEUE_PREFIX: queues.prefix, PROXY_PUBLIC_ADDRESS: PUBLIC_ADDRESS, ...env });
  const api = await startEarthlyApi(config, { host: "127.0.0.1", port: 0, tokenCacheMs: 0, onError: (err) => console.error(err), ...deps });
  const services = loadEarthlyServices();
  const address = `127.0.0.1:${api.port}`;
  const clients: grpc.Client[] = [];
  const make = (C: grpc.ServiceClientConstructor) => {
    const c = new C(address, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };
  return {
    db,
    api,
    queues,
    compute: make(services.Compute),
    client: (s) => make(services[s]),
    async close() {
      clients.forEach((c) => c.close());
      await api.close();
      await queues.close();
    },
  };
}

export interface Person {
  userId: string;
  email: string;
  apiTokenId: string;
  /** A login token, as the CLI holds after `earthly account login`. */
  token: string;
}

export async function person(db: Db, orgId: string, role: "member" | "admin" | "owner"): Promise<Person> {
  const userId = randomUUID();
  const email = `${role}-${userId.slice(0, 8)}@example.test`;
  await db.user.create({ data: { id: userId, name: role, email } });
  await db.member.create({ data: { id: randomUUID(), organizationId: orgId, userId, role } });
  const t = generateToken();
  const row = await db.apiToken.create({ data: { orgId, createdById: userId, name: "cli", prefix: t.prefix, hash: t.hash } });
  const { token } = await issueLoginToken(db, row);
  return { userId, email, apiTokenId: row.id, token };
}

export async function org(db: Db): Promise<{ id: string; slug: string }> {
  return makeOrg(db, "earthly");
}

export function auth(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

export function unary<T = Record<string, unknown>>(client: grpc.Client, method: string, req: object, md: grpc.Metadata, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void>)[method]!(req, md, { deadline: Date.now() + timeoutMs }, (err, v) =>
      err ? reject(err) : resolve(v),
    );
  });
}

export async function rejection(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

/** A server stream of statuses, read as it comes: `next()` waits for the next message. */
export class StatusStream {
  readonly statuses: number[] = [];
  readonly done: Promise<{ error: grpc.ServiceError | null }>;
  private waiters: (() => void)[] = [];
  readonly call: grpc.ClientReadableStream<{ status: number }>;

  constructor(client: grpc.Client, method: string, req: object, md: grpc.Metadata) {
    this.call = (client as unknown as Record<string, (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<{ status: number }>>)[method]!(req, md);
    this.call.on("data", (m: { status: number }) => {
      this.statuses.push(m.status);
      this.waiters.splice(0).forEach((w) => w());
    });
    this.done = new Promise((resolve) => {
      this.call.on("error", (error: grpc.ServiceError) => resolve({ error }));
      this.call.on("end", () => resolve({ error: null }));
    });
  }

  /** Resolves once `count` statuses have arrived (fails the test after 10 s). */
  async seen(count: number): Promise<number[]> {
    const deadline = Date.now() + 10_000;
    while (this.statuses.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${JSON.stringify(this.statuses)} after 10 s, wanted ${count}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 200))]);
    }
    return this.statuses.slice();
  }
}

export async function satelliteIn(db: Db, orgId: string, state: SatelliteState, name = `sat-${randomUUID().slice(0, 8)}`): Promise<Satellite> {
  const s = await makeSatellite(db, orgId, { name });
  if (state === "creating") return s;
  return db.satellite.update({ where: { id: s.id }, data: { state, version: 1, upstream: state === "awake" ? "127.0.0.1:1" : null } });
}

/** A committed, announced state change, as the jobs worker makes them. */
export async function move(db: Db, id: string, to: State, set: Record<string, unknown> = {}): Promise<void> {
  const satellite = await db.satellite.findUniqueOrThrow({ where: { id } });
  const cause = to === "failed" ? "failure" : to === "deleting" ? "delete" : "manual";
  const r = await transition(db, { satellite, to, cause, actor: "system", set: { ...(to === "awake" ? { upstream: "127.0.0.1:1" } : {}), ...set } });
  if (!r.won) throw new Error(`transition of ${id} to ${to} lost`);
}
