// The HTTP surface as curl sees it: GET with ?input= for queries, POST for mutations, plain
// JSON both ways, 4xx (never 5xx) for malformed requests, SSE for `watch`.
import { createDb, type Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { provideServices } from "../src/server/services.ts";
import { handleTrpc } from "../src/server/trpc-http.ts";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, tokenFor } from "./helpers.ts";

let db: Db;
let token: string;
let orgId: string;
let satelliteId: string;

// The handler of src/app/api/trpc/[trpc]/route.ts.
const handle = handleTrpc;
const url = (path: string, input?: unknown) => `http://localhost/api/trpc/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

beforeAll(async () => {
  ({ db } = setup());
  const u = await signUp("http");
  orgId = await newOrg(db);
  await addMember(db, orgId, u.id, "owner");
  token = (await tokenFor(db, orgId, u.id)).token;
  satelliteId = (await satelliteIn(db, orgId, "asleep")).id;
});
afterAll(teardown);

describe("HTTP", () => {
  it("query via GET with a bearer token: plain JSON, ISO dates", async () => {
    const res = await handle(new Request(url("satellite.get", { id: satelliteId }), { headers: { authorization: `Bearer ${token}` } }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: { id: string; createdAt: string } } };
    expect(body.result.data.id).toBe(satelliteId);
    expect(body.result.data.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("mutation via POST with a JSON body", async () => {
    const res = await handle(new Request(url("satellite.wake"), { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ id: satelliteId }) }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { data: { outcome: string } } }).result.data.outcome).toBe("waking");
  });

  it("validation errors are 400 with the issues spelled out", async () => {
    const res = await handle(new Request(url("satellite.create"), { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name: "UPPER", size: "giant" }) }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; data: { code: string; issues: { path: string; message: string }[] } } };
    expect(body.error.data.code).toBe("BAD_REQUEST");
    expect(body.error.message).toContain("name: Name may use lowercase letters");
    expect(body.error.message).toContain("size: size must be one of xsmall, small, medium, large, xlarge");
    expect(body.error.data.issues.map((i) => i.path)).toEqual(["name", "size"]);
  });

  it.each([
    ["malformed JSON input", () => new Request(`http://localhost/api/trpc/satellite.list?input=%7Bnot-json`, { headers: { authorization: `Bearer ${token}` } })],
    ["malformed JSON body", () => new Request(url("satellite.wake"), { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{nope" })],
    ["unknown procedure", () => new Request(url("satellite.explode", {}), { headers: { authorization: `Bearer ${token}` } })],
    ["mutation via GET", () => new Request(url("satellite.wake", { id: satelliteId }), { headers: { authorization: `Bearer ${token}` } })],
    ["no credentials", () => new Request(url("satellite.list", {}))],
    ["bad token", () => new Request(url("satellite.list", {}), { headers: { authorization: "Bearer sat_00000000000000000000000000000000" } })],
  ])("%s → 4xx", async (_name, make) => {
    const res = await handle(make());
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it("watch is a server-sent event stream starting with the satellite's state", async () => {
    const ac = new AbortController();
    const res = await handle(new Request(url("satellite.watch", { id: satelliteId }), { headers: { authorization: `Bearer ${token}` }, signal: ac.signal }));
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes('"type":"snapshot"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain(`"id":"${satelliteId}"`);
    ac.abort();
    await reader.cancel().catch(() => {});
  });

  // An outage or a bug is the operator's to read, not the caller's: a driver's message names the
  // database's host, port, user and tables.
  describe("a failure inside the service answers a plain 500; what failed goes to the log", () => {
    const secret = /db\.internal|5432|127\.0\.0\.1|leaky|secret_db|ECONNREFUSED|prisma/i;
    const quiet = () => vi.spyOn(console, "error").mockImplementation(() => {});

    it("in a procedure", async () => {
      const log = quiet();
      const failing = new Proxy(db, {
        get(target, prop) {
          const v = Reflect.get(target, prop) as unknown;
          if (prop !== "satellite") return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          return { findUnique: () => Promise.reject(new Error("connect ECONNREFUSED db.internal.example:5432 (user leaky)")) };
        },
      });
      provideServices({ db: failing });
      try {
        const res = await handle(new Request(url("satellite.get", { id: satelliteId }), { headers: { authorization: `Bearer ${token}` } }));
        expect(res.status).toBe(500);
        const body = await res.text();
        expect(body).not.toMatch(secret);
        expect(body).toMatch(/internal error/i);
        expect(log.mock.calls.flat().map(String).join(" ")).toMatch(/db\.internal\.example/);
      } finally {
        provideServices({ db });
        log.mockRestore();
      }
    });

    it("before the procedure, checking the caller's token (the database down, the caller unauthenticated)", async () => {
      const log = quiet();
      const down = createDb("postgresql://leaky:pw@127.0.0.1:9/secret_db");
      provideServices({ db: down });
      try {
        const res = await handle(new Request(url("satellite.get", { id: satelliteId }), { headers: { authorization: `Bearer sat_${"x".repeat(32)}` } }));
        expect(res.status).toBe(500);
        expect(await res.text()).not.toMatch(secret);
        expect(log).toHaveBeenCalled();
      } finally {
        provideServices({ db });
        log.mockRestore();
        await down.$disconnect();
      }
    });
  });

  // A form on any page can post multipart or urlencoded bodies without a CORS preflight; JSON
  // needs one. Only JSON is taken, so no form can ever stand for an API call.
  it.each([
    ["multipart/form-data", () => { const f = new FormData(); f.set("name", "from a form"); return f; }],
    ["application/x-www-form-urlencoded", () => new URLSearchParams({ name: "from a form" })],
    ["text/plain", () => JSON.stringify({ name: "from a form" })],
  ] as const)("a mutation posted as %s is refused with 415, before it runs", async (_type, body) => {
    const before = await db.organization.count();
    const res = await handle(new Request(url("org.create"), { method: "POST", headers: { authorization: `Bearer ${token}` }, body: body() }));
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/content-type: application\/json/);
    expect(await db.organization.count()).toBe(before);
  });
});
