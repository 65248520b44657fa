// Keep-warm schedules (satellite.getSchedule / satellite.setSchedule): weekly windows in a time
// zone during which the satellite is awake. Reading needs a member (like the satellite); saving
// needs an admin or owner (like limits). The web only records the schedule and when the jobs
// process should act; the schedule scan there does the waking (docs/lifecycle.md).
import { changes, recordAudit } from "@satellites/audit";
import type { Satellite, SatelliteSchedule } from "@satellites/db";
import { saveSchedule } from "@satellites/lifecycle";
import { describeSchedule, nextPeriodAfter, periodAt, type Schedule, scheduleSchema, WAKE_LEAD_MS } from "@satellites/schedule";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireSatellite } from "../access.ts";
import { idSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { authedProcedure, whoOf } from "../trpc.ts";

function scheduleOf(row: SatelliteSchedule): Schedule {
  return { timeZone: row.timeZone, windows: row.windows as unknown as Schedule["windows"] };
}

/** What the page and the API show: the schedule, and what it will do next. */
export function scheduleView(row: SatelliteSchedule | null, sat: Satellite, now = new Date()) {
  if (!row) return { schedule: null, wakeLeadSeconds: WAKE_LEAD_MS / 1000, nextWakeAt: null, keptAwakeUntil: null, currentWindow: null, nextWindow: null, nextSleepAt: null };
  const schedule = scheduleOf(row);
  const current = periodAt(schedule, now);
  const keptAwakeUntil = row.awakeUntil && row.awakeUntil > now ? row.awakeUntil : null;
  // Awake: the earliest it can sleep is when both the window's hold and the idle timeout allow.
  const idleEnds = new Date((sat.lastActivityAt ?? sat.stateChangedAt).getTime() + sat.idleTimeoutSeconds * 1000);
  const nextSleepAt = sat.state === "awake" ? new Date(Math.max(idleEnds.getTime(), keptAwakeUntil?.getTime() ?? 0, now.getTime())) : null;
  return {
    schedule: { ...schedule, summary: describeSchedule(schedule) },
    wakeLeadSeconds: WAKE_LEAD_MS / 1000,
    /** When the jobs process next asks for a wake (a due one is shown as now). */
    nextWakeAt: row.wakeAt > now ? row.wakeAt : now,
    keptAwakeUntil,
    currentWindow: current && current.opensAt <= now ? current : null,
    nextWindow: nextPeriodAfter(schedule, now),
    nextSleepAt,
  };
}

export const scheduleProcedures = {
  getSchedule: authedProcedure.input(z.object({ id: idSchema("id") })).query(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "view satellites", { allowDeleted: true });
    const row = await db().satelliteSchedule.findUnique({ where: { satelliteId: satellite.id } });
    return scheduleView(row, satellite);
  }),

  setSchedule: authedProcedure
    .input(z.object({ id: idSchema("id"), schedule: scheduleSchema.nullable() }))
    .mutation(async ({ ctx, input }) => {
      const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "change keep-warm schedules");
      if (satellite.state === "deleting") throw new TRPCError({ code: "PRECONDITION_FAILED", message: "The satellite is being deleted" });
      // One transaction: the schedule and its audit record commit together.
      const row = await db().$transaction(async (tx) => {
        const before = await tx.satelliteSchedule.findUnique({ where: { satelliteId: satellite.id } });
        const saved = await saveSchedule(tx, satellite.id, input.schedule);
        const from = before ? describeSchedule(scheduleOf(before)) : null;
        const to = input.schedule ? describeSchedule(input.schedule) : null;
        const changed = changes({ schedule: from }, { schedule: to });
        if (Object.keys(changed).length) {
          await recordAudit(tx, { orgId: satellite.orgId, ...whoOf(ctx), action: "satellite.schedule", targetType: "satellite", targetId: satellite.id, detail: { name: satellite.name, ...changed } });
        }
        return saved;
      });
      return scheduleView(row, satellite);
    }),
};
