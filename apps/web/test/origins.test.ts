// With PUBLIC_URL set, the dashboard's origin is that URL alone. The loopback origins trusted
// by default (for `npm start` without PUBLIC_URL) would otherwise let anyone ask for a victim's
// password reset with `redirectTo: http://localhost:3000/…`: the genuine mail's link then hands
// the reset token to whatever listens on the victim's own port 3000 (a developer's machine).
import type { Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleAuth } from "../src/server/auth-http.ts";
import { PEER_HEADER } from "../src/server/client-address.ts";
import { setup, signUp, teardown, type TestUser } from "./helpers.ts";

const PUBLIC = "https://satellites.example";
let db: Db;
let victim: TestUser;
let peer = 0;

beforeAll(async () => {
  // Before anything reads the configuration (it is parsed once per process).
  process.env.PUBLIC_URL = PUBLIC;
  ({ db } = setup());
  victim = await signUp("reset-victim");
});
afterAll(teardown);

const post = (path: string, body: unknown, origin: string, cookie?: string) =>
  handleAuth(
    new Request(`${PUBLIC}/api/auth${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", origin, [PEER_HEADER]: `198.19.0.${++peer}`, ...(cookie ? { cookie } : {}) },
      body: JSON.stringify(body),
    }),
  );

const resetMails = () => db.mailOutbox.count({ where: { to: victim.email, subject: { contains: "Reset" } } });

describe("trusted origins with PUBLIC_URL set", () => {
  it("a password reset redirecting to a loopback origin is refused, and no mail is sent", async () => {
    for (const redirectTo of ["http://localhost:3000/steal", "http://127.0.0.1:3000/steal"]) {
      const res = await post("/request-password-reset", { email: victim.email, redirectTo }, PUBLIC);
      expect(res.status).toBe(403);
    }
    expect(await resetMails()).toBe(0);
    const ok = await post("/request-password-reset", { email: victim.email, redirectTo: `${PUBLIC}/reset-password` }, PUBLIC);
    expect(ok.status).toBe(200);
    // Sent after the answer, which waits for no mail server; and that one alone.
    await expect.poll(resetMails).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(await resetMails()).toBe(1);
  });

  it("a change posted with the session's cookie from a loopback origin is refused", async () => {
    const rename = (origin: string) => post("/update-user", { name: `Renamed from ${origin}` }, origin, victim.cookie);
    expect((await rename("http://localhost:3000")).status).toBe(403);
    expect((await rename("http://127.0.0.1:3000")).status).toBe(403);
    expect((await db.user.findUniqueOrThrow({ where: { id: victim.id } })).name).toBe("reset-victim");
    expect((await rename(PUBLIC)).status).toBe(200);
  });
});
