// What the provider's watch reports, acted on: a machine that died on its own gets a prompt
// check (the reconciler records the failure and its reason), and a start waiting for it stops
// waiting (health.ts, requireStarted); OOM kills go into the satellite's history, once however
// many jobs processes watch the same machines.
import type { MachineEvents } from "@satellites/provider";
import { requestCheck } from "@satellites/queue";
import { recordMemoryKills } from "@satellites/state";
import type { JobsContext } from "./context.ts";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function machineEvents(ctx: Pick<JobsContext, "db" | "queues" | "log" | "metrics" | "deaths">): MachineEvents {
  return {
    death({ instanceId, satelliteId }) {
      ctx.deaths.notify(instanceId);
      requestCheck(ctx.queues, satelliteId).catch((err: unknown) => ctx.log.warn({ satelliteId, err: message(err) }, "could not request a check"));
    },
    memoryKills(report) {
      recordMemoryKills(ctx.db, report)
        .then((recorded) => {
          if (!recorded) return;
          ctx.metrics.memoryKills.inc(recorded.kills);
          ctx.log.warn({ satelliteId: report.satelliteId, kills: recorded.kills, limitMiB: report.limitMiB, builds: recorded.builds }, "processes killed for memory on a satellite");
        })
        .catch((err: unknown) => ctx.log.warn({ satelliteId: report.satelliteId, err: message(err) }, "could not record OOM kills"));
    },
  };
}
