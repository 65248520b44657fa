// Bounded input: bodies, batches, every name and email capped, control characters refused
// with the field named, database errors answered as 400/404/409 without internals.
import type { Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { handleAuth } from "../src/server/auth-http.ts";
import { PEER_HEADER } from "../src/server/client-address.ts";
import { AUTH_BODY_MAX_BYTES, TRPC_BODY_MAX_BYTES, TRPC_MAX_BATCH } from "../src/server/request-limits.ts";
import { handleTrpc } from "../src/server/trpc-http.ts";
import { addMember, newOrg, setup, signUp, teardown } from "./helpers.ts";

let db: Db;
let cookie: string;
let orgId: string;
let peer = 0;

beforeAll(async () => {
  ({ db } = setup());
  const u = await signUp("limits");
  cookie = u.cookie;
  orgId = await newOrg(db);
  await addMember(db, orgId, u.id, "owner");
});
afterAll(teardown);

// Each request from its own address, so the sign-up limit stays out of these tests.
const from = () => ({ [PEER_HEADER]: `198.18.${peer >> 8}.${peer++ & 255}` });

function signUpReq(body: BodyInit, headers: Record<string, string> = {}) {
  return handleAuth(new Request("http://localhost:3000/api/auth/sign-up/email", { method: "POST", headers: { "content-type": "application/json", origin: "http://localhost:3000", ...from(), ...headers }, body, ...(body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit));
}
const account = (over: Record<string, unknown>) => JSON.stringify({ name: "Ada", email: `ada-${Math.random().toString(36).slice(2)}@example.test`, password: "correct horse battery", ...over });

/** A body of `bytes` streamed in 64 KiB chunks, counting what was pulled. */
function stream(bytes: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  const chunk = new Uint8Array(65536).fill(0x61);
  return {
    body: new ReadableStream({
      pull(c) {
        if (sent >= bytes) return c.close();
        const n = Math.min(chunk.byteLength, bytes - sent);
        sent += n;
        c.enqueue(chunk.subarray(0, n));
      },
    }),
    pulled: () => sent,
  };
}

const trpc = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
  handleTrpc(new Request(`http://localhost:3000/api/trpc/${path}`, { ...init, headers: { "content-type": "application/json", cookie, ...from(), ...init.headers } } as RequestInit));

describe("sign-up input", () => {
  it("a 50 MB name is refused by its Content-Length, before it is read", async () => {
    const res = await signUpReq(account({ name: "x".repeat(50 * 1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { message: string }).message).toMatch(/^body: .*at most 16 KiB/);
  });

  it("a streamed body without Content-Length stops being read just past the cap", async () => {
    const s = stream(100 * 1024 * 1024);
    const res = await signUpReq(s.body);
    expect(res.status).toBe(413);
    expect(s.pulled()).toBeLessThan(AUTH_BODY_MAX_BYTES + 3 * 65536);
  });

  it.each([
    ["name", { name: "n".repeat(101) }, /^name: Name must be at most 100 characters/],
    ["name", { name: "Ada\u0000Lovelace" }, /^name: Name must not contain control characters/],
    ["email", { email: `${"e".repeat(1000)}@example.test` }, /^email: Email must be at most 254 characters/],
    ["email", { email: "a\u0000@example.test" }, /^email: Email must not contain control characters/],
  ])("%s out of bounds → 400 naming it, nothing stored, nothing logged", async (_field, over, message) => {
    const errors = vi.spyOn(console, "error");
    const email = (over as { email?: string }).email ?? `nul-${Date.now()}@example.test`;
    const res = await signUpReq(account({ ...over, email }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(message);
    expect(await db.user.count({ where: { email: email.replaceAll("\u0000", "") } })).toBe(0);
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });
});

describe("tRPC input", () => {
  it("a body past the cap is refused with 413 naming the body", async () => {
    const res = await trpc("org.create", { method: "POST", body: JSON.stringify({ name: "x".repeat(TRPC_BODY_MAX_BYTES) }) });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { message: string; data: { code: string } } };
    expect(body.error.data.code).toBe("PAYLOAD_TOO_LARGE");
    expect(body.error.message).toMatch(/^body: /);
  });

  it("a batch past the cap is refused before anything runs", async () => {
    const n = 500;
    const paths = Array(n).fill("org.create").join(",");
    const input = Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { name: `batch ${i}` }]));
    const before = await db.organization.count();
    const res = await trpc(`${paths}?batch=1`, { method: "POST", body: JSON.stringify(input) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`batch: at most ${TRPC_MAX_BATCH} calls per request (got ${n})`);
    expect(await db.organization.count()).toBe(before);
  });

  it("an organization name with NUL is a 400 naming the field, without a stack trace in the log", async () => {
    const errors = vi.spyOn(console, "error");
    const res = await trpc("org.create", { method: "POST", body: JSON.stringify({ name: "evil\u0000org" }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("name: Name must not contain control characters");
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });

  it("history.list with a cursor past bigint's range is a 400, not Prisma's 500", async () => {
    const res = await trpc(`history.list?input=${encodeURIComponent(JSON.stringify({ orgId, cursor: "1_9999999999999999999" }))}`);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain("cursor is not valid");
    expect(text).not.toMatch(/prisma|invalid `|\bat \//i);
  });

  it("10 concurrent org.create with one name: each answered 200 or a clean 409, every organization whole, slugs distinct", async () => {
    // Names are not unique (a taken slug gets a suffix); what a race may not do is answer 5xx,
    // leak the database's wording, or leave an organization without its owner.
    const name = `Race ${Date.now()}`;
    const statuses = await Promise.all(Array.from({ length: 10 }, () => trpc("org.create", { method: "POST", body: JSON.stringify({ name }) }).then(async (r) => [r.status, await r.text()] as const)));
    for (const [s, text] of statuses) {
      expect([200, 409]).toContain(s);
      if (s === 409) expect(text).not.toMatch(/prisma|constraint|stack/i);
    }
    const created = statuses.filter(([s]) => s === 200).length;
    expect(created).toBeGreaterThanOrEqual(1);
    const orgs = await db.organization.findMany({ where: { name }, select: { slug: true, members: { select: { role: true } } } });
    expect(orgs).toHaveLength(created);
    expect(new Set(orgs.map((o) => o.slug)).size).toBe(created);
    for (const o of orgs) expect(o.members.map((m) => m.role)).toEqual(["owner"]);
  });
});

describe("better-auth's other sign-up fields", () => {
  it.each([
    ["image", { image: "https://example.test/\u0000.png" }],
    ["image", { image: `https://example.test/${"i".repeat(3000)}` }],
  ])("%s out of bounds → 400 naming it, without a stack trace", async (field, over) => {
    const errors = vi.spyOn(console, "error");
    const res = await signUpReq(account(over));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(new RegExp(`^${field}: `));
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });
});

describe("sign-up races", () => {
  it("10 concurrent sign-ups with one email: one account, the rest 4xx, no error logged", async () => {
    const errors = vi.spyOn(console, "error");
    const email = `race-${Date.now()}@example.test`;
    const statuses = await Promise.all(Array.from({ length: 10 }, () => signUpReq(JSON.stringify({ name: "Race", email, password: "correct horse battery" })).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s >= 400 && s < 500)).toHaveLength(9);
    expect(await db.user.count({ where: { email } })).toBe(1);
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });
});

// Postgres refuses a NUL in any text it is asked to compare or store (22021), which better-auth's
// adapter turns into an empty 500 and an error in the log. Every place better-auth reads a
// secret or a value from outside: the body, the query string and the path.
describe("a NUL anywhere better-auth reads input: a 400, never a 500", () => {
  const auth = (path: string, init: { method?: string; body?: unknown; cookie?: string } = {}) =>
    handleAuth(
      new Request(`http://localhost:3000/api/auth${path}`, {
        method: init.method ?? "POST",
        headers: { "content-type": "application/json", origin: "http://localhost:3000", ...from(), ...(init.cookie ? { cookie: init.cookie } : {}) },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      }),
    );
  it.each([
    ["POST /reset-password (token in the body)", "/reset-password", { body: { token: "\u0000", newPassword: "correct horse battery" } }],
    ["POST /reset-password (token in the query)", "/reset-password?token=%00", { body: { newPassword: "correct horse battery" } }],
    ["GET /reset-password/:token", "/reset-password/%00?callbackURL=%2F", { method: "GET" }],
    ["GET /verify-email", "/verify-email?token=%00", { method: "GET" }],
    ["POST /revoke-session", "/revoke-session", { body: { token: "a\u0000b" }, signedIn: true }],
    ["POST /change-password", "/change-password", { body: { currentPassword: "x\u0000y", newPassword: "correct horse battery" }, signedIn: true }],
  ] as const)("%s", async (_what, path, opts) => {
    const errors = vi.spyOn(console, "error");
    const res = await auth(path, { ...opts, ...("signedIn" in opts ? { cookie } : {}) });
    expect(res.status).toBeLessThan(500);
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });
});

describe("what counts as a character", () => {
  // The forms count what a person sees (code points, as Postgres does); the server must count
  // the same, or a name the form accepts (64 emoji: 128 UTF-16 units) is refused on sending.
  it("the server's limit and the form's count agree: 64 emoji are a 64-character name, 65 are too many", async () => {
    const { tokenName, tooLong, FIELD_LIMITS } = await import("../src/lib/fields.ts");
    const max = FIELD_LIMITS.tokenName.max;
    const fits = "🚀".repeat(max);
    expect(tooLong("The name", fits, max)).toBeNull();
    expect(tokenName.safeParse(fits).success).toBe(true);
    const over = "🚀".repeat(max + 1);
    expect(tooLong("The name", over, max)).toMatch(/at most 64 characters; this one has 65/);
    const r = tokenName.safeParse(over);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe("Name must be at most 64 characters");
  });
});
