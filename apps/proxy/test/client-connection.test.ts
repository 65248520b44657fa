// Which build of a client connection is told it waited for a wake: the first, with the longest
// wait of the connection's calls held with it (its Solve may not have been among them); later
// builds only their own; and not a wait long past.
import type http2 from "node:http2";
import { afterEach, expect, it, vi } from "vitest";
import { ClientConnection } from "../src/client-connection.ts";

const connection = () => new ClientConnection({ encrypted: false } as unknown as http2.ServerHttp2Session, "127.0.0.1", () => {});

afterEach(() => {
  vi.useRealTimers();
});

it("the first build takes the longest wait of its connection's calls, or its own if longer; later builds their own", () => {
  const conn = connection();
  conn.noteWakeWait(300);
  conn.noteWakeWait(420);
  conn.noteWakeWait(100);
  expect(conn.wakeWaitFor(0)).toEqual({ ms: 420, takesReserve: false });
  expect(conn.wakeWaitFor(0)).toEqual({ ms: 0, takesReserve: false });
  expect(conn.wakeWaitFor(250).ms).toBe(250);
  const other = connection();
  other.noteWakeWait(300);
  expect(other.wakeWaitFor(900).ms).toBe(900);
  expect(connection().wakeWaitFor(0)).toEqual({ ms: 0, takesReserve: true });
});

it("a wait more than a minute before the connection's first build is not that build's", () => {
  vi.useFakeTimers({ now: 1_000_000 });
  const conn = connection();
  conn.noteWakeWait(2_000);
  vi.setSystemTime(1_000_000 + 61_000);
  expect(conn.wakeWaitFor(0).ms).toBe(0);
  const recent = connection();
  recent.noteWakeWait(2_000);
  vi.setSystemTime(1_000_000 + 61_000 + 59_000);
  expect(recent.wakeWaitFor(0).ms).toBe(2_000);
});

it("the Earthly reserve a connection's builds follow is claimed once, by its first build; its wait goes to that build when none of its own calls waited", async () => {
  let claims = 0;
  const claim = async () => {
    claims++;
    return 1_500;
  };
  const conn = connection();
  expect(await conn.reserveOf(claim)).toBe(1_500);
  expect(conn.wakeWaitFor(0)).toEqual({ ms: 0, takesReserve: true });
  // A second build on the connection: the same reserve (the same CLI run), not claimed again, and not its wait.
  expect(await conn.reserveOf(claim)).toBe(1_500);
  expect(conn.wakeWaitFor(0)).toEqual({ ms: 0, takesReserve: false });
  expect(claims).toBe(1);
  // None: looked up once too.
  const none = connection();
  const nothing = async () => {
    claims++;
    return undefined;
  };
  expect(await none.reserveOf(nothing)).toBeUndefined();
  expect(await none.reserveOf(nothing)).toBeUndefined();
  expect(claims).toBe(2);
  // The connection's own wait wins over the reserve's.
  const waited = connection();
  waited.noteWakeWait(700);
  expect(waited.wakeWaitFor(0)).toEqual({ ms: 700, takesReserve: false });
});
