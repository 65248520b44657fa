"use client";
// One satellite's states as coloured bands along time. The state it is in now keeps growing
// while the page is open (the right edge is the browser's clock, not the time of the fetch),
// and the chart spans at least an hour, so a satellite created a second ago shows its 0.5 s
// "Creating" as the sliver it is rather than as most of the bar.
import { dateTime, duration } from "@/lib/format.ts";
import { type SatelliteState, STATE_COLORS, stateLabel } from "./state.tsx";
import { LegendSwatch } from "./chart-frame.tsx";
import { useNow } from "./ui.tsx";
import { timelineBands, type Interval } from "@/lib/timeline-bands.ts";

export type { Interval };

/** A band is never drawn thinner than this (of 1000 units), so a short state stays visible. */
const MIN_BAND = 2;

export function StateTimeline({ intervals, to, rangeDays }: { intervals: Interval[]; to: Date | string; rangeDays: number }) {
  const now = useNow(1000);
  const { bands, from, end } = timelineBands(intervals, to, rangeDays, now);
  const span = Math.max(1, end - from);
  const present = [...new Set(bands.map((b) => b.state))];
  return (
    <figure>
      <svg viewBox="0 0 1000 24" preserveAspectRatio="none" className="h-8 w-full rounded" role="img" aria-label={`Timeline with ${bands.length} periods`} data-end={end}>
        <rect x="0" y="0" width="1000" height="24" fill="var(--color-slate-100)" />
        {bands.map((b, i) => {
          const x = Math.max(0, ((b.start - from) / span) * 1000);
          const w = Math.max(MIN_BAND, ((b.end - Math.max(b.start, from)) / span) * 1000);
          return (
            <rect key={i} x={Math.min(x, 1000 - w)} y="0" width={w} height="24" fill={STATE_COLORS[b.state] ?? "#94a3b8"} data-state={b.state}>
              <title>{`${stateLabel(b.state as SatelliteState)}: ${dateTime(new Date(b.start))} → ${b.ongoing ? "now" : dateTime(new Date(b.end))} (${duration(b.end - b.start)})`}</title>
            </rect>
          );
        })}
      </svg>
      <div className="mt-1 flex justify-between text-[10px] text-slate-500">
        <span>{dateTime(new Date(from))}</span>
        <span>now</span>
      </div>
      <figcaption className="mt-2 flex flex-wrap gap-3 text-xs text-slate-600">
        {present.map((s) => (
          <LegendSwatch key={s} color={STATE_COLORS[s] ?? "#94a3b8"} label={stateLabel(s as SatelliteState)} />
        ))}
      </figcaption>
    </figure>
  );
}
