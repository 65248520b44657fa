// A proxy that cannot start (one of its ports is taken) says why and leaves nothing open behind
// it: an embedding program is not kept alive by the database pool, Redis or the listeners the
// proxy had opened before the failure.
import { expect, it } from "vitest";
import { spawnTs } from "./processes.ts";

it.each(["proxy", "admin"])("a proxy whose %s port is taken rejects and closes what it had opened", async (which) => {
  const p = spawnTs("apps/proxy/test/fixtures/start-on-taken-port.ts", { TAKEN_PORT: which });
  const code = await new Promise<number | null | "still running">((resolve) => {
    // tsx compiles the proxy first (seconds on a loaded CI machine); then the exit must follow the rejection.
    const t = setTimeout(() => resolve("still running"), 45_000);
    p.proc.once("exit", (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  if (code === "still running") await p.stop();
  expect(p.output()).toMatch(/rejected: .*EADDRINUSE/);
  expect(code, p.output()).toBe(0);
}, 60_000);
