"use client";
// Builds per UTC day (stacked by outcome, left axis) and how long they took (median and 95th
// percentile of the day's finished builds, right axis), from `build.stats`.
import { useQuery } from "@tanstack/react-query";
import { Bar, CartesianGrid, ComposedChart, LabelList, Line, Tooltip, XAxis, YAxis } from "recharts";
import { duration } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { ChartFrame, dayLabel, LegendSwatch, TICK, TOOLTIP_STYLE } from "./chart-frame.tsx";
import { ErrorState, Spinner } from "./ui.tsx";

const COLORS = { succeeded: "#10b981", failed: "#dc2626", cancelled: "#94a3b8", other: "#0ea5e9", p50: "#6366f1", p95: "#f59e0b" } as const;
const SEGMENTS = [
  ["succeeded", "Succeeded"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
  ["other", "Running or lost"],
] as const;
type Segment = (typeof SEGMENTS)[number][0];
type Row = Record<Segment, number> & { builds: number };
/** The highest non-empty segment of a day's stack, which carries the day's label. */
const topSegment = (d: Row): Segment | null => [...SEGMENTS].reverse().find(([k]) => d[k] > 0)?.[0] ?? null;

/** The day's count as a plain field of its top segment (`succeededLabel`, …): a LabelList reads a key. */
function withLabels<T extends Row>(d: T) {
  const top = topSegment(d);
  return { ...d, ...Object.fromEntries(SEGMENTS.map(([k]) => [`${k}Label`, k === top ? String(d.builds) : ""])) };
}

/** Seconds on the duration axis; minutes once builds are long. */
const axisDuration = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

export function BuildsChart({ orgId, satelliteId, days = 14 }: { orgId?: string; satelliteId?: string; days?: number }) {
  const trpc = useTRPC();
  const stats = useQuery(trpc.build.stats.queryOptions({ orgId, satelliteId, days }));
  if (stats.isLoading) return <Spinner label="Loading builds…" />;
  if (stats.error) return <ErrorState error={errorMessage(stats.error)} />;
  const rows = stats.data!.days.map((d) => withLabels({ ...d, other: Math.max(0, d.builds - d.succeeded - d.failed - d.cancelled) }));
  const total = rows.reduce((a, d) => a + d.builds, 0);
  return (
    <ChartFrame
      testId="builds"
      title="Builds per day and how long they took (UTC)"
      legend={
        <>
          <LegendSwatch color={COLORS.succeeded} label="succeeded" />
          <LegendSwatch color={COLORS.failed} label="failed" />
          <LegendSwatch color={COLORS.p50} label="median time" />
          <LegendSwatch color={COLORS.p95} label="p95 time" />
        </>
      }
      empty={total === 0 ? "No builds in this period yet." : null}
      table={
        <table>
          <caption>Builds per day and their durations</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Builds</th>
              <th scope="col">Succeeded</th>
              <th scope="col">Failed</th>
              <th scope="col">Cancelled</th>
              <th scope="col">Median duration</th>
              <th scope="col">p95 duration</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => (
              <tr key={d.day}>
                <td>{d.day}</td>
                <td>{d.builds}</td>
                <td>{d.succeeded}</td>
                <td>{d.failed}</td>
                <td>{d.cancelled}</td>
                <td>{duration(d.p50DurationMs)}</td>
                <td>{duration(d.p95DurationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      <ComposedChart responsive style={{ width: "100%", height: 220 }} data={rows} margin={{ top: 18, right: 0, bottom: 0, left: -12 }}>
        <CartesianGrid vertical={false} stroke="var(--color-slate-200)" />
        <XAxis dataKey="day" tickFormatter={dayLabel} tick={TICK} stroke="var(--color-slate-300)" minTickGap={8} />
        <YAxis yAxisId="n" allowDecimals={false} tick={TICK} stroke="var(--color-slate-300)" width={40} />
        <YAxis yAxisId="ms" orientation="right" tickFormatter={axisDuration} tick={TICK} stroke="var(--color-slate-300)" width={52} />
        <Tooltip
          {...TOOLTIP_STYLE}
          labelFormatter={(d) => dayLabel(String(d))}
          formatter={(v, name) => [String(name).includes("time") ? duration(v == null ? null : Number(v)) : String(v), name]}
        />
        {/* The day's count above the stack: on its top segment (Recharts labels no zero-height segment). */}
        {SEGMENTS.map(([key, name]) => (
          <Bar key={key} yAxisId="n" dataKey={key} name={name} stackId="b" fill={COLORS[key]} isAnimationActive={false}>
            <LabelList dataKey={`${key}Label`} position="top" className="fill-slate-700" fontSize={10} />
          </Bar>
        ))}
        <Line yAxisId="ms" dataKey="p50DurationMs" name="Median time" stroke={COLORS.p50} strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
        <Line yAxisId="ms" dataKey="p95DurationMs" name="p95 time" stroke={COLORS.p95} strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
      </ComposedChart>
    </ChartFrame>
  );
}
