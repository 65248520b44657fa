"use client";
// History views shared by the satellite page and the organization's history page: figures,
// a per-day awake/asleep chart, a state timeline, and the table of events.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { dateTime, duration, hours, usd } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { type SatelliteState, STATE_COLORS, StateBadge, stateLabel } from "./state.tsx";
import { Button, Card, EmptyState, ErrorState, Field, Input, Select, Spinner, Stat } from "./ui.tsx";

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
      <DailyChart days={s.days} />
    </div>
  );
}

/** Awake and asleep hours per day as stacked bars, with the numbers in a table for screen readers. */
function DailyChart({ days }: { days: { day: string; awakeHours: number; asleepHours: number }[] }) {
  const max = Math.max(1 / 60, ...days.map((d) => d.awakeHours + d.asleepHours));
  const empty = days.every((d) => d.awakeHours + d.asleepHours === 0);
  const w = 100 / Math.max(1, days.length);
  return (
    <figure className="mt-4 rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200">
      <figcaption className="mb-2 flex items-center justify-between text-xs text-slate-600">
        <span className="font-semibold text-slate-900">Hours awake and asleep per day (UTC)</span>
        <span className="flex gap-3">
          <span><span aria-hidden="true" className="mr-1 inline-block size-2 rounded-sm" style={{ background: STATE_COLORS.awake }} />awake</span>
          <span><span aria-hidden="true" className="mr-1 inline-block size-2 rounded-sm" style={{ background: STATE_COLORS.asleep }} />asleep</span>
        </span>
      </figcaption>
      {empty && <p className="py-6 text-center text-sm text-slate-500">No time awake or asleep recorded in this period yet.</p>}
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" className={`h-32 w-full ${empty ? "hidden" : ""}`} aria-hidden="true">
        {days.map((d, i) => {
          const a = (d.awakeHours / max) * 38;
          const s = (d.asleepHours / max) * 38;
          return (
            <g key={d.day}>
              <rect x={i * w + w * 0.15} width={w * 0.7} y={40 - a} height={a} fill={STATE_COLORS.awake} />
              <rect x={i * w + w * 0.15} width={w * 0.7} y={40 - a - s} height={s} fill={STATE_COLORS.asleep} />
            </g>
          );
        })}
      </svg>
      <div className="mt-1 flex justify-between text-[10px] text-slate-500" aria-hidden="true">
        <span>{days[0]?.day}</span>
        <span>{days[days.length - 1]?.day}</span>
      </div>
      <table className="sr-only">
        <caption>Hours awake and asleep per day</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Awake hours</th>
            <th scope="col">Asleep hours</th>
          </tr>
        </thead>
        <tbody>
          {days.map((d) => (
            <tr key={d.day}>
              <td>{d.day}</td>
              <td>{d.awakeHours.toFixed(2)}</td>
              <td>{d.asleepHours.toFixed(2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** One satellite's states over time as coloured bands. */
export function Timeline({ satelliteId }: { satelliteId: string }) {
  const trpc = useTRPC();
  const [days, setDays] = useState(1);
  const tl = useQuery(trpc.history.timeline.queryOptions({ satelliteId, days }));
  const data = tl.data;
  // Zoom to the data: a satellite younger than the range fills the chart instead of a sliver.
  const firstStart = data?.intervals[0] ? new Date(data.intervals[0].start).getTime() : 0;
  const from = data ? Math.max(new Date(data.from).getTime(), firstStart) : 0;
  const span = data ? Math.max(1, new Date(data.to).getTime() - from) : 1;
  const present = data ? [...new Set(data.intervals.map((i) => i.state))] : [];
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
        <figure>
          <svg viewBox="0 0 1000 24" preserveAspectRatio="none" className="h-8 w-full rounded" role="img" aria-label={`Timeline with ${data.intervals.length} periods`}>
            <rect x="0" y="0" width="1000" height="24" fill="#f1f5f9" />
            {data.intervals.map((iv, i) => {
              const x = Math.max(0, ((new Date(iv.start).getTime() - from) / span) * 1000);
              const wdt = Math.max(1, ((new Date(iv.end).getTime() - new Date(iv.start).getTime()) / span) * 1000);
              return (
                <rect key={i} x={x} y="0" width={wdt} height="24" fill={STATE_COLORS[iv.state] ?? "#94a3b8"}>
                  <title>{`${stateLabel(iv.state as SatelliteState)}: ${dateTime(iv.start)} → ${dateTime(iv.end)} (${duration(new Date(iv.end).getTime() - new Date(iv.start).getTime())})`}</title>
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
              <span key={s}>
                <span aria-hidden="true" className="mr-1 inline-block size-2 rounded-sm" style={{ background: STATE_COLORS[s] }} />
                {stateLabel(s as SatelliteState)}
              </span>
            ))}
          </figcaption>
        </figure>
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
  const events = useInfiniteQuery(trpc.history.list.infiniteQueryOptions(input, { getNextPageParam: (p) => p.nextCursor }));
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
          <Field label="To">{(p) => <Input id={p.id} type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />}</Field>
        </div>
      )}
      {events.isLoading ? (
        <Spinner label="Loading events…" />
      ) : events.error ? (
        <ErrorState error={errorMessage(events.error)} retry={() => void events.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState title="No events">{cause || state || from || to ? "Nothing matches these filters." : "Nothing has happened yet."}</EmptyState>
      ) : (
        <div className="overflow-x-auto">
          <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="History events">
            <thead className="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
              <tr>
                <th scope="col" className="py-2 pr-4">When</th>
                {showSatellite && <th scope="col" className="py-2 pr-4">Satellite</th>}
                <th scope="col" className="py-2 pr-4">Change</th>
                <th scope="col" className="py-2 pr-4">Cause</th>
                <th scope="col" className="py-2 pr-4">By</th>
                <th scope="col" className="py-2 pr-4">Took</th>
                <th scope="col" className="py-2">Error</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {items.map((e) => (
                <tr key={e.id} data-event-to={e.to} data-event-cause={e.cause}>
                  <td className="whitespace-nowrap py-2 pr-4 text-slate-700">{dateTime(e.finishedAt)}</td>
                  {showSatellite && (
                    <td className="py-2 pr-4">
                      <Link href={`/satellites/${e.satelliteId}`} className="text-indigo-700 hover:underline">
                        {e.satelliteName}
                      </Link>
                    </td>
                  )}
                  <td className="whitespace-nowrap py-2 pr-4">
                    <span className="inline-flex items-center gap-1">
                      {e.from ? <StateBadge state={e.from} /> : <span className="text-xs text-slate-500">new</span>}
                      <span aria-label="to">→</span>
                      <StateBadge state={e.to} />
                    </span>
                  </td>
                  <td className="py-2 pr-4 text-slate-700">{CAUSE_TEXT[e.cause] ?? e.cause}</td>
                  <td className="py-2 pr-4 text-slate-700">{e.actorLabel}</td>
                  <td className="whitespace-nowrap py-2 pr-4 text-slate-700">{duration(e.durationMs)}</td>
                  <td className="py-2 text-red-700">{e.error ?? ""}</td>
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
