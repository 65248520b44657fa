// The short chaos run of `npm test` (the long one: `npm run chaos`, docs/lifecycle.md): its own
// Postgres and Redis, the EC2 emulator with faults, two proxies and two jobs processes, 60
// seeded intents with SIGKILLs and restarts, then every invariant counter must be 0. The seed
// is CHAOS_SEED (default 1), so a failure replays with `npm run chaos -- --seed N --intents 60`.
import { expect, it } from "vitest";
import { runChaos } from "./chaos/run.ts";

const seed = Number(process.env.CHAOS_SEED ?? 1);

it(`chaos (seed ${seed}, 60 intents): nothing stuck, orphaned, cut or mismatched; history valid`, { timeout: 600_000 }, async () => {
  const { counters, findings } = await runChaos({ seed, intents: 60, reconcileMs: 10_000, maxSatellites: 8, log: (l) => process.stderr.write(`[chaos] ${l}\n`) });
  console.log(JSON.stringify(counters));
  expect(counters.intents).toBe(60);
  // Every kind of fault happened (the plan guarantees one of each).
  for (const k of ["kills", "redis_restarts", "pg_restarts", "ec2_faults"]) expect(counters[k]).toBeGreaterThan(0);
  expect(findings).toEqual({ stuck: [], orphans: [], history_violations: [], builds_cut_by_sleep: [], calls_without_clear_status: [], limits_mismatch: [] });
});
