// Whatever a client sends, no procedure answers 500: random values, random shapes, and
// near-valid inputs with one field gone wrong, against every procedure (fast-check). Over
// HTTP (the handlers behind /api/auth and /api/trpc): bodies of 1 KB to 100 MB, batches of 1
// to 1,000 calls, every string field at and past its cap: no 5xx, every refusal names the
// field it refuses, and the process's memory stays bounded.
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { Db } from "@satellites/db";
import { TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIELD_LIMITS } from "../src/lib/fields.ts";
import { handleAuth } from "../src/server/auth-http.ts";
import { PEER_HEADER } from "../src/server/client-address.ts";
import { AUTH_BODY_MAX_BYTES, TRPC_BODY_MAX_BYTES, TRPC_MAX_BATCH } from "../src/server/request-limits.ts";
import { appRouter, createCaller } from "../src/server/routers/index.ts";
import { handleTrpc } from "../src/server/trpc-http.ts";
import { createContext } from "../src/server/trpc.ts";
import { addMember, type Caller, newOrg, satelliteIn, setup, signUp, teardown } from "./helpers.ts";

let db: Db;
let caller: Caller;
let cookie: string;
let orgId: string;
let satelliteId: string;

beforeAll(async () => {
  ({ db } = setup());
  const u = await signUp("fuzzer");
  caller = u.caller;
  cookie = u.cookie;
  orgId = await newOrg(db);
  await addMember(db, orgId, u.id, "owner");
  satelliteId = (await satelliteIn(db, orgId, "asleep")).id;
});
afterAll(teardown);

const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([path, p]) => ({ path, type: p._def.type }));

/** Calls `path` with `input`; returns the error code, "OK", or throws for anything not a TRPCError. */
async function call(path: string, type: string, input: unknown): Promise<string> {
  // A subscription gets a caller of its own whose signal ends the stream, as a disconnect would.
  const ac = new AbortController();
  const c = type === "subscription" ? createCaller(await createContext({ headers: new Headers({ cookie }) }), { signal: ac.signal }) : caller;
  const fn = path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], c) as (i: unknown) => Promise<unknown>;
  try {
    const r = await fn(input);
    if (type === "subscription") {
      // Pull one event (or give up quickly on a quiet stream) so the generator's checks run.
      const it = (r as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      const first = it.next();
      await Promise.race([first, new Promise((res) => setTimeout(res, 50))]);
      ac.abort();
      await first;
      await it.return?.();
    }
    return "OK";
  } catch (err) {
    if (err instanceof TRPCError) {
      lastInputError = err.cause instanceof ZodError ? err.message : null;
      return err.code;
    }
    throw err;
  }
}
/** The message of the last refusal of the input itself (zod), if it was one. */
let lastInputError: string | null = null;

// Values a hostile or confused client might send in any field.
const weird = fc.oneof(
  fc.anything(),
  fc.string({ maxLength: 300 }),
  fc.constantFrom("", " ", "\u0000", "'; DROP TABLE satellite; --", "../../etc/passwd", "💥".repeat(50), "sat_" + "A".repeat(32), "NaN", "-1", "1e309", "9".repeat(40)),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, Number.MAX_SAFE_INTEGER, -2147483649, 2 ** 53 + 1, 1.5),
  fc.date({ noInvalidDate: false }),
);
const FIELDS = ["orgId", "id", "satelliteId", "name", "size", "platform", "idleTimeoutSeconds", "force", "limits", "cursor", "limit", "search", "state", "cause", "from", "to", "days", "expiresInDays", "email", "role", "memberId", "invitationId"];
const shaped = fc.dictionary(fc.constantFrom(...FIELDS), weird, { maxKeys: 6 });

describe.each(procedures)("$path", ({ path, type }) => {
  it("never answers INTERNAL_SERVER_ERROR", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(weird, shaped), async (input) => {
        const code = await call(path, type, input);
        expect(code).not.toBe("INTERNAL_SERVER_ERROR");
      }),
      { numRuns: 40 },
    );
  });

  it("never answers INTERNAL_SERVER_ERROR for near-valid inputs", async () => {
    const valid: Record<string, unknown> = { orgId, id: satelliteId, satelliteId, name: "fuzz-sat", size: "small", platform: "amd64", limits: { cpuPercent: 50 }, email: "f@example.test", role: "member", days: 7 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FIELDS), weird, async (field, value) => {
        const code = await call(path, type, { ...valid, [field]: value });
        expect(code).not.toBe("INTERNAL_SERVER_ERROR");
        // A refusal of an object input names the field it refuses ("name: …").
        if (code === "BAD_REQUEST" && lastInputError !== null) expect(lastInputError).toMatch(/^[\w.]+: /);
      }),
      { numRuns: 40 },
    );
  });
});

// ---- over HTTP ----

let client = 0;
/** Each request from an address of its own: the rate limits are tested elsewhere. */
const fresh = () => ({ [PEER_HEADER]: `198.19.${(client >> 8) & 255}.${client++ & 255}` });

/** `bytes` of a JSON document `{"name":"aaa…"}` (valid below the cap) streamed in 64 KiB chunks; only what is read is made. */
function jsonBody(bytes: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  const head = new TextEncoder().encode('{"name":"');
  const tail = new TextEncoder().encode('"}');
  const fill = new Uint8Array(65536).fill(0x61);
  let sent = 0;
  return {
    body: new ReadableStream({
      pull(c) {
        if (sent >= bytes) return c.close();
        const left = bytes - sent;
        const part = sent === 0 ? head.subarray(0, Math.min(head.byteLength, left)) : left <= tail.byteLength ? tail.subarray(tail.byteLength - left) : fill.subarray(0, Math.min(fill.byteLength, left - tail.byteLength));
        sent += part.byteLength;
        c.enqueue(part);
      },
    }),
    pulled: () => sent,
  };
}

async function post(handler: (r: Request) => Promise<Response>, url: string, body: BodyInit, headers: Record<string, string>): Promise<{ status: number; message: string }> {
  const res = await handler(new Request(url, { method: "POST", headers: { "content-type": "application/json", origin: "http://localhost:3000", ...fresh(), ...headers }, body, duplex: "half" } as RequestInit));
  const json = (await res.json().catch(() => ({}))) as { message?: string; error?: { message?: string } };
  return { status: res.status, message: json.message ?? json.error?.message ?? "" };
}

const ENDPOINTS = [
  { name: "sign-up", handler: handleAuth, url: "http://localhost:3000/api/auth/sign-up/email", cap: AUTH_BODY_MAX_BYTES },
  { name: "sign-in", handler: handleAuth, url: "http://localhost:3000/api/auth/sign-in/email", cap: AUTH_BODY_MAX_BYTES },
  { name: "org.create", handler: handleTrpc, url: "http://localhost:3000/api/trpc/org.create", cap: TRPC_BODY_MAX_BYTES },
  { name: "token.create", handler: handleTrpc, url: "http://localhost:3000/api/trpc/token.create", cap: TRPC_BODY_MAX_BYTES },
];

describe("HTTP bodies, batches and field caps", () => {
  it("bodies of 1 KB to 100 MB, with or without Content-Length: no 5xx, refusals name the field, reading stops at the cap, memory bounded", async () => {
    // Warm up first (module loading, JIT), so the growth measured is what the bodies cost.
    for (const ep of ENDPOINTS) for (const bytes of [2048, ep.cap + 1]) await post(ep.handler, ep.url, jsonBody(bytes).body, { cookie });
    const rssBefore = process.memoryUsage().rss;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.integer({ min: 1024, max: 100 * 1024 * 1024 }), fc.boolean(), async (ep, bytes, declared) => {
        const b = jsonBody(bytes);
        const { status, message } = await post(ep.handler, ep.url, b.body, { cookie, ...(declared ? { "content-length": String(bytes) } : {}) });
        expect(status).toBeLessThan(500);
        expect(status).toBeGreaterThanOrEqual(400);
        if (bytes > ep.cap) {
          expect(status).toBe(413);
          expect(message).toMatch(/^body: /);
          // Declared: never read (a stream makes its first chunk unasked); streamed: read just past the cap.
          expect(b.pulled()).toBeLessThanOrEqual(declared ? 65536 : ep.cap + 2 * 65536);
        } else {
          // A name of that size is over every name cap: refused by name (sign-in: the missing email).
          expect(message).toMatch(/^(name|email|password): |Name must be at most|Email is required/i);
        }
      }),
      { numRuns: 60 },
    );
    // 60 bodies of up to 100 MB (about 3 GB offered); measured growth on this machine: 10-30 MB.
    const growth = process.memoryUsage().rss - rssBefore;
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  });

  it("batches of 1 to 1,000 calls: no 5xx; past the cap refused naming the batch, before any call runs", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), async (n) => {
        const paths = Array(n).fill("org.list").join(",");
        const res = await handleTrpc(new Request(`http://localhost:3000/api/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify({}))}`, { headers: { cookie, ...fresh() } }));
        expect(res.status).toBeLessThan(500);
        if (n > TRPC_MAX_BATCH) {
          expect(res.status).toBe(413);
          expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`batch: at most ${TRPC_MAX_BATCH} calls per request (got ${n})`);
        } else {
          expect(res.status).toBe(200);
          expect((await res.json()) as unknown[]).toHaveLength(n);
        }
      }),
      { numRuns: 40 },
    );
  });

  // Every string field a person types, where it is sent, and its cap.
  const FIELDS_AT_CAP = [
    { where: "sign-up", field: "name", max: FIELD_LIMITS.personName.max, send: (v: string) => post(handleAuth, ENDPOINTS[0]!.url, JSON.stringify({ name: v, email: `cap-${randomUUID()}@example.test`, password: "correct horse battery" }), {}) },
    { where: "sign-up", field: "email", max: FIELD_LIMITS.email.max, send: (v: string) => post(handleAuth, ENDPOINTS[0]!.url, JSON.stringify({ name: "Cap", email: v, password: "correct horse battery" }), {}) },
    { where: "sign-up", field: "password", max: FIELD_LIMITS.password.max, send: (v: string) => post(handleAuth, ENDPOINTS[0]!.url, JSON.stringify({ name: "Cap", email: `pw-${randomUUID()}@example.test`, password: v }), {}) },
    { where: "org.create", field: "name", max: FIELD_LIMITS.orgName.max, send: (v: string) => post(handleTrpc, "http://localhost:3000/api/trpc/org.create", JSON.stringify({ name: v }), { cookie }) },
    { where: "org.update", field: "name", max: FIELD_LIMITS.orgName.max, send: (v: string) => post(handleTrpc, "http://localhost:3000/api/trpc/org.update", JSON.stringify({ orgId, name: v }), { cookie }) },
    { where: "token.create", field: "name", max: FIELD_LIMITS.tokenName.max, send: (v: string) => post(handleTrpc, "http://localhost:3000/api/trpc/token.create", JSON.stringify({ orgId, name: v }), { cookie }) },
    { where: "satellite.create", field: "name", max: FIELD_LIMITS.satelliteName.max, send: (v: string) => post(handleTrpc, "http://localhost:3000/api/trpc/satellite.create", JSON.stringify({ orgId, name: v, size: "small" }), { cookie }) },
    { where: "member.invite", field: "email", max: FIELD_LIMITS.email.max, send: (v: string) => post(handleTrpc, "http://localhost:3000/api/trpc/member.invite", JSON.stringify({ orgId, email: v }), { cookie }) },
  ];
  /** A value of exactly `length` characters that is otherwise valid for the field. */
  const valueOf = (field: string, length: number, unit: string) => {
    const random = Math.random().toString(36).slice(2, 8);
    if (field === "email") return `${random}${unit.repeat(Math.max(0, length - random.length - "@example.test".length))}@example.test`.slice(-length);
    return `${random}${unit.repeat(Math.max(0, length - random.length))}`.slice(0, length);
  };

  it.each(FIELDS_AT_CAP)("$where $field: at its cap accepted, past it refused naming the field", async ({ field, max, send }) => {
    const unit = field === "email" ? "e" : "a";
    const at = await send(valueOf(field, max, unit));
    expect(at.status, at.message).toBe(200);
    expect(at.message).not.toMatch(new RegExp(`^${field}: .*at most`));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: max + 1, max: max + 5000 }), fc.constantFrom("", "\u0000", "\u001b", "\n"), async (length, control) => {
        const past = await send(valueOf(field, length, unit));
        expect(past.status).toBe(400);
        expect(past.message).toMatch(new RegExp(`^${field}: `));
        if (field !== "password" && control) {
          const bad = await send(valueOf(field, Math.min(max, 20), unit).replace(/^./, control));
          expect(bad.status).toBe(400);
          expect(bad.message).toMatch(new RegExp(`^${field}: .*(control characters|valid)`));
        }
      }),
      { numRuns: 15 },
    );
  });
});
