// OOM kills on machines whose kills are read by a pass rather than watched (EC2: the running
// satellites' consoles, one GetConsoleOutput each): one job scheduler for every jobs process, so
// a fleet's consoles are read once per EC2_OOM_WATCH_SECONDS, not once per process.
import type { JobsContext } from "../context.ts";
import { recordKills } from "../machine-events.ts";

/**
 * At most one console read per second of the interval, on average: a small share of EC2's
 * describe budget. The pass's turn is its interval's number since the epoch, the same whichever
 * process runs it, so consecutive passes read consecutive shares of a large fleet.
 */
export async function memoryKillPass(ctx: Pick<JobsContext, "db" | "log" | "metrics" | "provider">, everySeconds: number, now = Date.now()): Promise<{ reports: number; recorded: number }> {
  const every = Math.max(1, everySeconds);
  const reports = (await ctx.provider.memoryKillPass?.(every, Math.floor(now / (every * 1000)))) ?? [];
  let recorded = 0;
  for (const report of reports) recorded += await recordKills(ctx, report);
  return { reports: reports.length, recorded };
}
