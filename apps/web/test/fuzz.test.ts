// Whatever a client sends, no procedure answers 500: random values, random shapes, and
// near-valid inputs with one field gone wrong, against every procedure (fast-check).
import fc from "fast-check";
import type { Db } from "@satellites/db";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appRouter, createCaller } from "../src/server/routers/index.ts";
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
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}

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
      }),
      { numRuns: 40 },
    );
  });
});
