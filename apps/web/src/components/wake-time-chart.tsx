"use client";
// How long wakes took: successful wakes counted into fixed buckets (history.stats'
// wakeDurations), so a slow tail is visible next to the median and p95 figures.
import { Bar, BarChart, CartesianGrid, LabelList, Tooltip, XAxis, YAxis } from "recharts";
import { ChartFrame, TICK, TOOLTIP_STYLE } from "./chart-frame.tsx";
import { STATE_COLORS } from "./state.tsx";

export interface WakeBucket {
  fromMs: number;
  toMs: number | null;
  wakes: number;
}

const secs = (ms: number) => String(ms / 1000);

export function bucketLabel(b: WakeBucket): string {
  if (b.fromMs === 0 && b.toMs !== null) return `< ${secs(b.toMs)} s`;
  if (b.toMs === null) return `≥ ${secs(b.fromMs)} s`;
  return `${secs(b.fromMs)}–${secs(b.toMs)} s`;
}

export function WakeTimeChart({ buckets }: { buckets: WakeBucket[] }) {
  const data = buckets.map((b) => ({ ...b, label: bucketLabel(b) }));
  const total = buckets.reduce((a, b) => a + b.wakes, 0);
  return (
    <ChartFrame
      testId="wake-times"
      title="How long wakes took (seconds)"
      empty={total === 0 ? "No wakes in this period yet." : null}
      table={
        <table>
          <caption>Number of wakes by how long they took</caption>
          <thead>
            <tr>
              <th scope="col">Wake time</th>
              <th scope="col">Wakes</th>
            </tr>
          </thead>
          <tbody>
            {data.map((b) => (
              <tr key={b.label}>
                <td>{b.label}</td>
                <td>{b.wakes}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      <BarChart responsive style={{ width: "100%", height: 200 }} data={data} margin={{ top: 18, right: 4, bottom: 0, left: -20 }}>
        <CartesianGrid vertical={false} stroke="var(--color-slate-200)" />
        {/* Ticks without the unit (it would crowd a phone's width); the caption names it. */}
        <XAxis dataKey="label" tickFormatter={(l: string) => l.replace(/ s$/, "").replace(/ /g, "")} tick={TICK} stroke="var(--color-slate-300)" interval={0} fontSize={10} />
        <YAxis allowDecimals={false} tick={TICK} stroke="var(--color-slate-300)" width={40} />
        <Tooltip {...TOOLTIP_STYLE} formatter={(v) => [`${Number(v)} ${Number(v) === 1 ? "wake" : "wakes"}`, "Took"]} />
        <Bar dataKey="wakes" name="Wakes" fill={STATE_COLORS.starting} isAnimationActive={false}>
          <LabelList dataKey="wakes" position="top" className="fill-slate-700" fontSize={10} formatter={(v) => (Number(v) > 0 ? String(v) : "")} />
        </Bar>
      </BarChart>
    </ChartFrame>
  );
}
