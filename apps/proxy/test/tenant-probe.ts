// A legitimate tenant, in a process of its own (so the attacker's work in the test process does
// not count as the proxy's): EmptyCall after EmptyCall through the proxy. On "mark" (stdin) it
// prints the p99 in ms of the calls since the previous mark, as one JSON line, and starts over.
// Usage: node --import tsx tenant-probe.ts <host:port> <satellite_name> <satellite_org> <token>
import { createInterface } from "node:readline";
import { authMetadata, testClient, unaryStatus } from "./helpers.ts";

const [address, name, org, token] = process.argv.slice(2) as [string, string, string, string];
const client = testClient(address);
let latencies: number[] = [];
let failures = 0;
let running = true;

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line !== "mark") return;
  const s = [...latencies].sort((a, b) => a - b);
  const p99 = s.length ? s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] : null;
  process.stdout.write(`${JSON.stringify({ p99, calls: s.length, failures })}\n`);
  latencies = [];
  failures = 0;
});
process.stdin.on("end", () => (running = false));

while (running) {
  const t = performance.now();
  const st = await unaryStatus(client, "EmptyCall", {}, authMetadata(name, org, token));
  if (st.code === 0) latencies.push(performance.now() - t);
  else {
    failures++;
    // Why, on the test's output: a failure under attack is the finding to explain.
    process.stderr.write(`tenant call failed: ${JSON.stringify(st)}\n`);
  }
}
client.close();
process.exit(0);
