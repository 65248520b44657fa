"use client";
// History views shared by the satellite page and the organization's history page: figures,
// a per-day awake/asleep chart and a state timeline (the table of events is events-table.tsx).
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { duration, hours, usd } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { Card, ErrorState, Select, Spinner, Stat } from "./ui.tsx";
import { HoursChart } from "./hours-chart.tsx";
import { WakeTimeChart } from "./wake-time-chart.tsx";
import { BuildsChart } from "./builds-chart.tsx";
import { StateTimeline } from "./state-timeline.tsx";

export function StatsCards({ orgId, satelliteId, days = 14 }: { orgId?: string; satelliteId?: string; days?: number }) {
  const trpc = useTRPC();
  const stats = useQuery(trpc.history.stats.queryOptions({ orgId, satelliteId, days }));
  if (stats.isLoading) return <Spinner label="Loading figures…" />;
  if (stats.error) return <ErrorState error={errorMessage(stats.error)} />;
  const s = stats.data!;
  return (
    <div>
      <dl className="grid grid-cols-2 gap-3 lg:grid-cols-5" aria-label={`Figures for the last ${days} days`}>
        <Stat label="Wakes" value={s.wakes} hint={s.failedWakes ? `${s.failedWakes} failed` : `last ${days} days`} />
        <Stat label="Median wake time" value={duration(s.medianMs)} />
        <Stat label="p95 wake time" value={duration(s.p95Ms)} />
        <Stat label="Awake / asleep" value={`${hours(s.awakeHours)} / ${hours(s.asleepHours)}`} hint={`last ${days} days`} />
        <Stat label="Cost avoided" value={usd(s.costAvoidedUsd)} hint="hours asleep × hourly price" />
      </dl>
      <div className="mt-4 grid grid-cols-1 gap-4 lg:grid-cols-2">
        <HoursChart days={s.days} />
        <WakeTimeChart buckets={s.wakeDurations} />
        <div className="lg:col-span-2">
          <BuildsChart orgId={orgId} satelliteId={satelliteId} days={days} />
        </div>
      </div>
    </div>
  );
}

/** One satellite's states over time as coloured bands. */
export function Timeline({ satelliteId }: { satelliteId: string }) {
  const trpc = useTRPC();
  const [days, setDays] = useState(1);
  const tl = useQuery(trpc.history.timeline.queryOptions({ satelliteId, days }));
  const data = tl.data;
  return (
    <Card
      title="Timeline"
      description="When the satellite was awake, asleep or changing state"
      actions={
        <div className="flex items-center gap-2">
          <label htmlFor="tl-range" className="text-xs text-slate-600">
            Range
          </label>
          <Select id="tl-range" className="w-auto py-1 text-xs" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={1}>Last 24 hours</option>
            <option value={7}>Last 7 days</option>
            <option value={30}>Last 30 days</option>
          </Select>
        </div>
      }
    >
      {tl.isLoading ? (
        <Spinner label="Loading timeline…" />
      ) : tl.error ? (
        <ErrorState error={errorMessage(tl.error)} />
      ) : !data || data.intervals.length === 0 ? (
        <p className="text-sm text-slate-500">Nothing happened in this range.</p>
      ) : (
        <StateTimeline intervals={data.intervals} to={data.to} rangeDays={days} />
      )}
    </Card>
  );
}
