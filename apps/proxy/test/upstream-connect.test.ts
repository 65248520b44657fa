// The proxy's HTTP/2 session to a satellite, on its own: a session that goes away in the middle
// of connecting (a wake that failed, a satellite cut off) must end quietly, never with an
// exception thrown out of node:http2's event (which would stop the whole proxy process).
import { expect, it } from "vitest";
import { connectUpstream } from "../src/upstream-connect.ts";
import { rawUpstream } from "./helpers.ts";

const OPTIONS = { streamWindow: 4 << 20, sessionWindow: 32 << 20, maxHeaderListBytes: 64 << 10 };

it("a session destroyed as it connects closes without an uncaught exception", async () => {
  const raw = await rawUpstream();
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  process.prependListener("uncaughtException", onUncaught);
  try {
    const session = connectUpstream({ satelliteId: "00000000-0000-4000-8000-000000000000", address: raw.address }, OPTIONS);
    // Destroyed by whoever hears `connect` first (the pool's drop, in the proxy).
    session.prependOnceListener("connect", () => session.destroy());
    await new Promise((r) => session.once("close", r));
    await new Promise((r) => setImmediate(r));
    expect(uncaught).toEqual([]);
  } finally {
    process.off("uncaughtException", onUncaught);
    await raw.close();
  }
});
