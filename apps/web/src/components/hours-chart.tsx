"use client";
// Hours awake and asleep per UTC day, stacked. The vertical axis starts at a full day (24 h),
// so a satellite awake for 8 minutes shows a sliver, not a full bar; the whole organization's
// figures can exceed 24 h a day (several satellites) and then the axis grows with them.
import { Bar, BarChart, CartesianGrid, LabelList, Tooltip, XAxis, YAxis } from "recharts";
import { hoursExact } from "@/lib/format.ts";
import { type DayHours, hoursDomainTop } from "@/lib/hours-scale.ts";
import { ChartFrame, dayLabel, LegendSwatch, TICK, TOOLTIP_STYLE } from "./chart-frame.tsx";
import { STATE_COLORS } from "./state.tsx";


export function HoursChart({ days }: { days: DayHours[] }) {
  const empty = days.every((d) => d.awakeHours + d.asleepHours === 0);
  const top = hoursDomainTop(days);
  const ticks = Array.from({ length: 5 }, (_, i) => (top / 4) * i);
  return (
    <ChartFrame
      testId="hours"
      title="Hours awake and asleep per day (UTC)"
      legend={
        <>
          <LegendSwatch color={STATE_COLORS.awake!} label="awake" />
          <LegendSwatch color={STATE_COLORS.asleep!} label="asleep" />
        </>
      }
      empty={empty ? "No time awake or asleep recorded in this period yet." : null}
      table={
        <table>
          <caption>Hours awake and asleep per day</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Awake</th>
              <th scope="col">Asleep</th>
            </tr>
          </thead>
          <tbody>
            {days.map((d) => (
              <tr key={d.day}>
                <td>{d.day}</td>
                <td>{hoursExact(d.awakeHours)}</td>
                <td>{hoursExact(d.asleepHours)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      <BarChart responsive style={{ width: "100%", height: 220 }} data={labelled(days)} margin={{ top: 18, right: 4, bottom: 0, left: -12 }}>
        <CartesianGrid vertical={false} stroke="var(--color-slate-200)" />
        <XAxis dataKey="day" tickFormatter={dayLabel} tick={TICK} stroke="var(--color-slate-300)" minTickGap={8} />
        <YAxis domain={[0, top]} ticks={ticks} allowDataOverflow={false} tickFormatter={(h: number) => `${h} h`} tick={TICK} stroke="var(--color-slate-300)" width={48} />
        <Tooltip {...TOOLTIP_STYLE} labelFormatter={(d) => dayLabel(String(d))} formatter={(v, name) => [hoursExact(Number(v)), name]} />
        {/* The value people look for, time awake (what it cost), above each day's bar: on the top
            segment of the stack, as Recharts draws no label for a segment of zero height. */}
        <Bar dataKey="awakeHours" name="Awake" stackId="day" fill={STATE_COLORS.awake} isAnimationActive={false}>
          <LabelList dataKey="awakeLabel" position="top" className="fill-slate-700" fontSize={10} />
        </Bar>
        <Bar dataKey="asleepHours" name="Asleep" stackId="day" fill={STATE_COLORS.asleep} isAnimationActive={false}>
          <LabelList dataKey="asleepLabel" position="top" className="fill-slate-700" fontSize={10} />
        </Bar>
      </BarChart>
    </ChartFrame>
  );
}

/** Each day with its label on the top non-empty segment (plain fields: a LabelList reads a key). */
function labelled(days: DayHours[]) {
  return days.map((d) => {
    const label = d.awakeHours > 0 ? hoursShort(d.awakeHours) : "";
    return { ...d, awakeLabel: d.asleepHours === 0 ? label : "", asleepLabel: d.asleepHours > 0 ? label : "" };
  });
}

/** Short enough to sit above a narrow bar: "8m", "2.5h", "14h". */
function hoursShort(h: number): string {
  if (h < 1) return `${Math.max(1, Math.round(h * 60))}m`;
  return h < 10 ? `${h.toFixed(1)}h` : `${Math.round(h)}h`;
}
