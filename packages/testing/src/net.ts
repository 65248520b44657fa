import net from "node:net";
import { readFileSync } from "node:fs";

// Ports for test processes come from 24000-32767: below Linux's ephemeral range (32768+), so an
// outgoing connection of some other test cannot take the port between this check and the child
// process binding it (a CI run lost a proxy that way), and above the local satellites' ranges
// (21000-23999). Each vitest worker walks its own slice, so two workers do not hand out the
// same port either.
const LOW = 24000;
const HIGH = 32767;
const SLICE = 1000;
const slices = Math.floor((HIGH - LOW + 1) / SLICE);
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
const sliceLow = LOW + (worker % slices) * SLICE;
let next = Math.floor(Math.random() * SLICE);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ host: "127.0.0.1", port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A TCP port free on loopback right now, which nothing else in this test run will pick. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < SLICE; i++) {
    const port = sliceLow + (next++ % SLICE);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${sliceLow}-${sliceLow + SLICE - 1}`);
}

/** Established IPv4 TCP connections whose server side is `port` (from /proc/net/tcp: every process's). */
export function connectionsTo(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .filter((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return state === "01" && local?.endsWith(hex);
    }).length;
}
