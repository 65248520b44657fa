"use client";
// History views shared by the satellite page and the organization's history page: figures,
// a per-day awake/asleep chart, a state timeline, and the table of events.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { dateTime, duration, hours, usd } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import { StateBadge, stateLabel } from "./state.tsx";
import { Button, Card, EmptyState, ErrorState, Field, Input, Select, Spinner, Stat } from "./ui.tsx";
import { HoursChart } from "./hours-chart.tsx";
import { WakeTimeChart } from "./wake-time-chart.tsx";
import { BuildsChart } from "./builds-chart.tsx";
import { StateTimeline } from "./state-timeline.tsx";

const CAUSES = ["launch", "idle", "request", "manual", "schedule", "reconcile", "limits", "delete", "failure"] as const;
const CAUSE_TEXT: Record<string, string> = {
  launch: "Launch",
  idle: "Idle timeout",
  request: "Build request",
  manual: "Manual",
  schedule: "Schedule",
  reconcile: "Reconciler",
  limits: "Limits change",
  delete: "Delete",
  failure: "Failure",
};
const STATES = ["creating", "awake", "stopping", "asleep", "starting", "updating", "deleting", "deleted", "failed"] as const;

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

export function EventsTable({ orgId, satelliteId, showSatellite = false, filters = true }: { orgId?: string; satelliteId?: string; showSatellite?: boolean; filters?: boolean }) {
  const trpc = useTRPC();
  const [cause, setCause] = useState("");
  const [state, setState] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const input = {
    orgId,
    satelliteId,
    limit: 50,
    ...(cause ? { cause: [cause as (typeof CAUSES)[number]] } : {}),
    ...(state ? { state: [state as (typeof STATES)[number]] } : {}),
    ...(from ? { from: new Date(from) } : {}),
    ...(to ? { to: new Date(to) } : {}),
  };
  // An impossible range is said next to the fields, in their words, and never sent.
  const rangeError = from && to && new Date(from) >= new Date(to) ? "Pick a “To” time later than the “From” time" : null;
  const events = useInfiniteQuery(trpc.history.list.infiniteQueryOptions(input, { getNextPageParam: (p) => p.nextCursor, enabled: !rangeError }));
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Card title="Events" description="Every change of state, newest first">
      {filters && (
        <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-4">
          <Field label="Cause">
            {(p) => (
              <Select id={p.id} value={cause} onChange={(e) => setCause(e.target.value)}>
                <option value="">Any cause</option>
                {CAUSES.map((c) => (
                  <option key={c} value={c}>
                    {CAUSE_TEXT[c]}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Field label="New state">
            {(p) => (
              <Select id={p.id} value={state} onChange={(e) => setState(e.target.value)}>
                <option value="">Any state</option>
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {stateLabel(s)}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Field label="From">{(p) => <Input id={p.id} type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />}</Field>
          <Field label="To" error={rangeError}>
            {(p) => <Input id={p.id} type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
          </Field>
        </div>
      )}
      {rangeError ? (
        <p className="text-sm text-slate-500">Fix the time range above to see events.</p>
      ) : events.isLoading ? (
        <Spinner label="Loading events…" />
      ) : events.error ? (
        <ErrorState error={errorMessage(events.error)} retry={isRetryable(events.error) ? () => void events.refetch() : undefined} />
      ) : items.length === 0 ? (
        <EmptyState title="No events">{cause || state || from || to ? "Nothing matches these filters." : "Nothing has happened yet."}</EmptyState>
      ) : (
        <div className="overflow-x-auto" tabIndex={0} role="region" aria-label="History table">
          <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="History events">
            <thead className="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
              <tr>
                <th scope="col" className="py-2 pr-4">When</th>
                {showSatellite && <th scope="col" className="py-2 pr-4">Satellite</th>}
                <th scope="col" className="py-2 pr-4">Change</th>
                {/* When and the change are the key columns; the rest gives way on a phone. */}
                <th scope="col" className="hidden py-2 pr-4 sm:table-cell">Cause</th>
                <th scope="col" className="hidden py-2 pr-4 lg:table-cell">By</th>
                <th scope="col" className="hidden py-2 pr-4 md:table-cell">Took</th>
                <th scope="col" className="hidden py-2 md:table-cell">Error</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {items.map((e) => (
                <tr key={e.id} data-event-to={e.to} data-event-cause={e.cause}>
                  <td className="py-2 pr-4 text-slate-700 sm:whitespace-nowrap">{dateTime(e.finishedAt)}</td>
                  {showSatellite && (
                    <td className="py-2 pr-4">
                      <Link href={`/satellites/${e.satelliteId}`} className="block max-w-[30vw] break-all text-indigo-700 hover:underline lg:max-w-48">
                        {e.satelliteName}
                      </Link>
                    </td>
                  )}
                  <td className="whitespace-nowrap py-2 pr-4">
                    <span className="inline-flex items-center gap-1">
                      {/* On a phone only the state entered: the one before is the row below. */}
                      <span className="hidden items-center gap-1 sm:inline-flex">
                        {e.from ? <StateBadge state={e.from} /> : <span className="text-xs text-slate-500">new</span>}
                        <span aria-label="to">→</span>
                      </span>
                      <StateBadge state={e.to} />
                    </span>
                  </td>
                  <td className="hidden py-2 pr-4 text-slate-700 sm:table-cell">{CAUSE_TEXT[e.cause] ?? e.cause}</td>
                  <td className="hidden py-2 pr-4 break-words text-slate-700 lg:table-cell">{e.actorLabel}</td>
                  <td className="hidden whitespace-nowrap py-2 pr-4 text-slate-700 md:table-cell">{duration(e.durationMs)}</td>
                  <td className="hidden py-2 text-red-700 md:table-cell">
                    {e.error ?? ""}
                    {!e.error && e.note && <span className="text-slate-700">{e.note}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {events.hasNextPage && (
            <div className="pt-3 text-center">
              <Button variant="secondary" busy={events.isFetchingNextPage} onClick={() => void events.fetchNextPage()}>
                Show older events
              </Button>
            </div>
          )}
        </div>
      )}
    </Card>
  );
}
