// What the provider's watch reports, acted on: a machine that died on its own gets a prompt
// check (the reconciler records the failure and its reason), and a start waiting for it stops
// waiting (health.ts, requireStarted); OOM kills go into the satellite's history, once however
// many jobs processes watch the same machines.
import type { MachineEvents } from "@satellites/provider";
import { requestCheck } from "@satellites/queue";
import { type MemoryKillReport, recordMemoryKills } from "@satellites/state";
import type { JobsContext } from "./context.ts";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function machineEvents(ctx: Pick<JobsContext, "db" | "queues" | "log" | "metrics" | "deaths">): MachineEvents {
  return {
    death({ instanceId, satelliteId }) {
      ctx.deaths.notify(instanceId);
      requestCheck(ctx.queues, satelliteId).catch((err: unknown) => ctx.log.warn({ satelliteId, err: message(err) }, "could not request a check"));
    },
    memoryKills(report) {
      recordKills(ctx, report).catch((err: unknown) => ctx.log.warn({ satelliteId: report.satelliteId, err: message(err) }, "could not record OOM kills"));
    },
  };
}

/** Records the kills not recorded yet (history, metric, log); how many were new. */
export async function recordKills(ctx: Pick<JobsContext, "db" | "log" | "metrics">, report: MemoryKillReport): Promise<number> {
  const recorded = await recordMemoryKills(ctx.db, report);
  if (!recorded) return 0;
  ctx.metrics.memoryKills.inc(recorded.kills);
  ctx.log.warn({ satelliteId: report.satelliteId, kills: recorded.kills, limitMiB: report.limitMiB, builds: recorded.builds }, "processes killed for memory on a satellite");
  return recorded.kills;
}
