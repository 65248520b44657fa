// OOM kills on machines whose kills are read by a pass rather than watched (EC2: the running
// satellites' consoles, one GetConsoleOutput each): one job scheduler for every jobs process, so
// a fleet's consoles are read once per EC2_OOM_WATCH_SECONDS, not once per process.
import type { JobsContext } from "../context.ts";
import { recordKills } from "../machine-events.ts";

/** At most one console read per second of the interval, on average: a small share of EC2's describe budget. */
export async function memoryKillPass(ctx: Pick<JobsContext, "db" | "log" | "metrics" | "provider">, everySeconds: number): Promise<{ reports: number; recorded: number }> {
  const reports = (await ctx.provider.memoryKillPass?.(Math.max(1, everySeconds))) ?? [];
  let recorded = 0;
  for (const report of reports) recorded += await recordKills(ctx, report);
  return { reports: reports.length, recorded };
}
