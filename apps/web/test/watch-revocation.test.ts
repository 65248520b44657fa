// Finding 9 of issue 13: `satellite.watch` (SSE) kept delivering events for 30 s after its token
// was revoked. A watch ends within 5 s, with an error the client does not retry, when its token
// is revoked, its creator (or the watching person) is removed from the organization, or the
// session it rides on ends (sign-out, session revoked) — and delivers nothing after that.
import type { Db } from "@satellites/db";
import { transition } from "@satellites/state";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth } from "../src/server/auth.ts";
import { provideServices } from "../src/server/services.ts";
import { handleTrpc } from "../src/server/trpc-http.ts";
import { addMember, newOrg, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

let db: Db;
let owner: TestUser;
let orgId: string;

beforeAll(async () => {
  ({ db } = setup());
  owner = await signUp("watch-owner");
  orgId = await newOrg(db);
  await addMember(db, orgId, owner.id, "owner");
});
afterAll(teardown);

interface SseEvent {
  event: string;
  data: string;
}

/** An SSE watch through the HTTP handler, read event by event as a browser would. */
async function openWatch(headers: Record<string, string>, input: unknown) {
  const ac = new AbortController();
  const url = `http://localhost/api/trpc/satellite.watch?input=${encodeURIComponent(JSON.stringify(input))}`;
  const res = await handleTrpc(new Request(url, { headers, signal: ac.signal }));
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const events: SseEvent[] = [];
  let ended = false;
  let endedAt = 0;
  const pump = (async () => {
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { event: "message", data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) ev.event = line.slice(6).trim();
          else if (line.startsWith("data:")) ev.data += line.slice(5).trim();
        }
        if (ev.data || ev.event !== "message") events.push(ev);
      }
    }
    ended = true;
    endedAt = Date.now();
  })();
  // Live once its subscription is in place: a satellite's watch starts with a snapshot; an
  // organization's has none, so give it a moment after the stream opened.
  const ready = (async () => {
    const end = Date.now() + 5000;
    const wanted = (input as { id?: string }).id ? '"type":"snapshot"' : "reconnectAfterInactivityMs";
    while (!events.some((e) => e.data.includes(wanted)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!(input as { id?: string }).id) await new Promise((r) => setTimeout(r, 300));
  })();
  const changes = () => events.filter((e) => e.event === "message" && e.data.includes('"type":"change"'));
  await ready;
  return {
    events,
    changes,
    get ended() {
      return ended;
    },
    async waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
      const end = Date.now() + ms;
      while (!check()) {
        if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; events: ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    /** Waits for the stream's end; how long after `since` it came. */
    async endWithin(since: number, ms = 10_000): Promise<number> {
      await Promise.race([pump, new Promise((r) => setTimeout(r, ms))]);
      if (!ended) throw new Error(`the watch was still open ${ms} ms after the revocation; events: ${JSON.stringify(events)}`);
      return endedAt - since;
    },
    close() {
      ac.abort();
      void reader.cancel().catch(() => {});
    },
  };
}

type Watch = Awaited<ReturnType<typeof openWatch>>;

/** Proves the watch is live (a change arrives), then revokes and checks how it ended. */
async function revokeAndExpectEnd(watch: Watch, sat: Awaited<ReturnType<typeof satelliteIn>>, revoke: () => Promise<unknown>, code: string): Promise<void> {
  try {
    const moved = await transition(db, { satellite: sat, to: "starting", cause: "manual", actor: "system" });
    if (!moved.won) throw new Error("the satellite did not move");
    await watch.waitFor("a change while access holds", () => watch.changes().length === 1);
    const at = Date.now();
    await revoke();
    // Something happens after the revocation: it must not be delivered.
    await transition(db, { satellite: moved.satellite, to: "awake", cause: "manual", actor: "system" });
    const ms = await watch.endWithin(at);
    expect(ms).toBeLessThan(5000);
    expect(watch.changes()).toHaveLength(1);
    const error = watch.events.find((e) => e.event === "serialized-error");
    expect(error, JSON.stringify(watch.events)).toBeDefined();
    expect(JSON.parse(error!.data)).toMatchObject({ data: { code } });
  } finally {
    watch.close();
  }
}

describe("satellite.watch ends when access is revoked", () => {
  it("its token is revoked", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const t = await tokenFor(db, orgId, owner.id);
    const watch = await openWatch({ authorization: `Bearer ${t.token}` }, { id: sat.id });
    await revokeAndExpectEnd(watch, sat, () => owner.caller.token.revoke({ id: t.id }), "UNAUTHORIZED");
  });

  it("its token's creator is removed from the organization", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const builder = await signUp("watch-builder");
    const memberId = await addMember(db, orgId, builder.id, "member");
    const t = await tokenFor(db, orgId, builder.id);
    const watch = await openWatch({ authorization: `Bearer ${t.token}` }, { orgId });
    await revokeAndExpectEnd(watch, sat, () => owner.caller.member.remove({ memberId }), "UNAUTHORIZED");
  });

  it("the watching person is removed from the organization", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const colleague = await signUp("watch-colleague");
    const memberId = await addMember(db, orgId, colleague.id, "member");
    const watch = await openWatch({ cookie: colleague.cookie }, { orgId });
    await revokeAndExpectEnd(watch, sat, () => owner.caller.member.remove({ memberId }), "FORBIDDEN");
  });

  it("its session signs out", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const person = await signUp("watch-signout");
    await addMember(db, orgId, person.id, "member");
    const watch = await openWatch({ cookie: person.cookie }, { id: sat.id });
    await revokeAndExpectEnd(watch, sat, () => auth().api.signOut({ headers: new Headers({ cookie: person.cookie }) }), "UNAUTHORIZED");
  });

  it("its session is revoked from another device; the person's other session keeps watching", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const person = await signUp("watch-revoked");
    await addMember(db, orgId, person.id, "member");
    const other = await auth().api.signInEmail({ body: { email: person.email, password: "correct horse battery" }, asResponse: true });
    const otherCookie = other.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const session = await auth().api.getSession({ headers: new Headers({ cookie: person.cookie }) });
    const doomed = await openWatch({ cookie: person.cookie }, { id: sat.id });
    const survivor = await openWatch({ cookie: otherCookie }, { id: sat.id });
    try {
      await revokeAndExpectEnd(doomed, sat, () => auth().api.revokeSession({ headers: new Headers({ cookie: otherCookie }), body: { token: session!.session.token } }), "UNAUTHORIZED");
      await survivor.waitFor("both changes on the other session", () => survivor.changes().length === 2);
      expect(survivor.ended).toBe(false);
    } finally {
      survivor.close();
    }
  });

  // Revocations and state changes come on the process's one LISTEN connection, in commit order:
  // a change committed right after a revocation is heard after it, so the stream stays behind
  // the revocation without reading access again for every change it delivers.
  it("hears revocations and state changes on one LISTEN connection, named after the process", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const watch = await openWatch({ cookie: owner.cookie }, { id: sat.id });
    try {
      const rows = await db.$queryRaw<{ name: string }[]>`
        SELECT application_name AS name FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE ${`satellites-listen:${process.pid}:%`}`;
      expect(rows.map((r) => r.name)).toEqual([`satellites-listen:${process.pid}:satellite_state,access_revoked`]);
    } finally {
      watch.close();
    }
  });

  it("delivers a stream of changes without re-reading access for each", async () => {
    const sat = await satelliteIn(db, orgId, "asleep");
    const t = await tokenFor(db, orgId, owner.id);
    const reads = { n: 0 };
    const counting = db.$extends({
      query: {
        apiToken: {
          async findUnique({ args, query }) {
            reads.n++;
            return query(args);
          },
        },
      },
    }) as unknown as Db;
    provideServices({ db: counting });
    const watch = await openWatch({ authorization: `Bearer ${t.token}` }, { id: sat.id });
    try {
      const before = reads.n;
      let s = sat;
      for (let cycle = 0; cycle < 5; cycle++) {
        for (const to of ["starting", "awake", "stopping", "asleep"] as const) {
          const moved = await transition(db, { satellite: s, to, cause: "manual", actor: "system" });
          if (!moved.won) throw new Error(`the satellite did not move to ${to}`);
          s = moved.satellite;
        }
      }
      await watch.waitFor("twenty changes", () => watch.changes().length === 20);
      // Nothing re-read per change: the token's row is read by the periodic backstop at most.
      expect(reads.n - before).toBeLessThanOrEqual(1);
    } finally {
      watch.close();
      provideServices({ db });
    }
  });

  it("a watch of another organization's member is untouched by a removal here", async () => {
    const otherOrg = await newOrg(db);
    const sat = await satelliteIn(db, otherOrg, "asleep");
    const person = await signUp("watch-two-orgs");
    const here = await addMember(db, orgId, person.id, "member");
    await addMember(db, otherOrg, person.id, "member");
    const watch = await openWatch({ cookie: person.cookie }, { orgId: otherOrg });
    try {
      await owner.caller.member.remove({ memberId: here });
      await new Promise((r) => setTimeout(r, 300));
      await transition(db, { satellite: sat, to: "starting", cause: "manual", actor: "system" });
      await watch.waitFor("the change in the other organization", () => watch.changes().length === 1);
      expect(watch.ended).toBe(false);
    } finally {
      watch.close();
    }
  });
});
