// EC2's API limits are per account: two jobs processes together must stay under them, not
// each one. Two real worker processes wake 80 satellites at once against the emulator's token
// buckets (AWS's numbers), instances taking 20 s to boot, so every wake polls DescribeInstances
// meanwhile — more than the account's 20 per second together. The emulator records when each
// call arrived. Paced per process, the two would send twice the account's rate, drain the
// describe bucket and meet RequestLimitExceeded; paced account-wide (the Redis-backed limiter
// they share), no call is throttled and no window sees more than the account's rate.
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultLimits, limitColumns } from "@satellites/catalog";
import { AWS_RATES, EMULATOR_AMIS, type Emulator } from "@satellites/ec2-emulator";
import { TEST_CREDENTIALS } from "@satellites/ec2-emulator/testing";
import { requestWake } from "@satellites/lifecycle";
import { createEc2Provider } from "@satellites/provider/ec2";
import { createSatellite, transition } from "@satellites/state";
import { makeOrg } from "@satellites/testing";
import { loadOrCreateCa } from "@satellites/pki";
import { processCaDir } from "@satellites/testing/satellite-tls";
import { ec2World } from "./ec2-world.ts";
import type { JobsWorld } from "./harness.ts";

const N = 80;
let emu: Emulator;
let world: JobsWorld;
beforeAll(async () => {
  ({ emu, world } = await ec2World({ tiny: true, throttle: false }));
});
afterAll(async () => {
  await world?.close();
  await emu?.close();
});

/** The most calls in any window of `ms` (sliding, starting at each call). */
function busiest(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[j]! <= times[i]! - ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

async function wakesDone(adminPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("satellites_jobs_total{") && l.includes('queue="wake"') && l.includes('outcome="awake"'));
  return Number(line?.split(" ").pop() ?? 0);
}

it(`two jobs processes waking ${N} satellites share the account's EC2 rate: no call throttled, no window over the rate`, { timeout: 400_000 }, async () => {
  const db = world.db;
  const org = await makeOrg(db, "pace");
  const provider = createEc2Provider({
    region: "us-east-1", endpoint: emu.endpoint, credentials: TEST_CREDENTIALS, amiAmd64: EMULATOR_AMIS.amd64, amiArm64: EMULATOR_AMIS.arm64,
    satellitePort: emu.satellitePort, hibernate: false, ca: await loadOrCreateCa(processCaDir()),
  });
  const ids: string[] = [];
  const pending = Array.from({ length: N }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        let { satellite: sat } = await createSatellite(db, { orgId: org.id, name: `pace-${i}`, platform: "amd64", size: "xsmall", provider: "ec2", actor: "system", ...limitColumns(defaultLimits("xsmall")) });
        const launched = await provider.launch({ satelliteId: sat.id, orgId: org.id, name: sat.name, platform: "amd64", size: "xsmall", limits: defaultLimits("xsmall"), hibernate: false });
        await provider.stop(launched.instanceId, { hibernate: false });
        for (const [to, cause] of [["awake", "launch"], ["stopping", "idle"], ["asleep", "idle"]] as const) {
          sat = (await transition(db, { satellite: sat, to, cause, actor: "system", set: { instanceId: launched.instanceId } })).satellite!;
        }
        ids.push(sat.id);
      }
    }),
  );
  await provider.close?.();
  // From here on the account's buckets are AWS's, and the emulator counts afresh.
  for (const cls of ["RunInstances", "StartInstances", "mutating", "describe"] as const) emu.control.setThrottle(cls, AWS_RATES[cls]);
  emu.control.reset();
  emu.control.setTimings({ pendingMs: 20_000 });

  const workers = [await world.start(), await world.start()];
  const outcomes = await Promise.all(ids.map((id) => requestWake(db, world.queues, id, { cause: "request", actor: "token:pace" })));
  expect(outcomes.filter((o) => o.kind === "waking" && o.started)).toHaveLength(N);
  await expect.poll(async () => db.satellite.count({ where: { id: { in: ids }, state: "awake" } }), { timeout: 300_000, interval: 1000 }).toBe(N);

  const stats = emu.control.stats();
  const starts = emu.control.requestTimes("StartInstances");
  const describes = emu.control.requestTimes("DescribeInstances");
  const report = {
    start_calls: starts.length,
    start_busiest_5s: busiest(starts, 5000),
    describe_calls: describes.length,
    describe_busiest_5s: busiest(describes, 5000),
    throttled: stats.throttled,
  };
  console.log(`ec2 pace across two workers: ${JSON.stringify(report)}`);
  // Both processes really shared the work (their own metrics say how many wakes each did).
  const woke = await Promise.all(workers.map((w) => wakesDone(w.adminPort)));
  console.log(`wakes done per worker: ${woke.join(", ")}`);
  expect(woke.every((n) => n > 0)).toBe(true);
  expect(starts.length).toBeGreaterThanOrEqual(N);
  // The limiter's windows are fixed (1 s) and not aligned with ours: over 5 s at most 6 of them.
  // And the emulator counts a call when it arrives, not when the limiter granted it: calls granted
  // at a window's end reach it a few milliseconds later, so a 5 s span of arrivals can hold
  // grants of a 7th window (seen in CI: 13 StartInstances in 5 s). Paced per process instead,
  // the two would send twice the 6 windows' worth.
  expect(report.start_busiest_5s).toBeLessThanOrEqual(AWS_RATES.StartInstances.perSecond * 7);
  expect(report.describe_busiest_5s).toBeLessThanOrEqual(AWS_RATES.describe.perSecond * 7);
  // The demand did reach the account's rate (so a per-process pace, twice it, would have shown).
  expect(report.describe_busiest_5s).toBeGreaterThanOrEqual(AWS_RATES.describe.perSecond * 4);
  expect(stats.throttled).toEqual({});
  for (const w of workers) await w.stop();
});
