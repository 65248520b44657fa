"use client";
// The table of state changes, newest first, for one satellite or a whole organization, with
// filters by cause, new state and time range, and older pages on demand.
import { useInfiniteQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useState } from "react";
import { dateTime, duration } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { StateBadge, stateLabel } from "./state.tsx";
import { Button, Card, EmptyState, ErrorState, Field, Input, Select, Spinner } from "./ui.tsx";

const CAUSES = ["launch", "idle", "request", "manual", "schedule", "reconcile", "limits", "delete", "failure", "memory"] as const;
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
  memory: "Out of memory",
};
const STATES = ["creating", "awake", "stopping", "asleep", "starting", "updating", "deleting", "deleted", "failed"] as const;

type HistoryEvent = inferRouterOutputs<AppRouter>["history"]["list"]["items"][number];

/** The filters' values as typed ("" is "any"). */
interface Filters {
  cause: string;
  state: string;
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { cause: "", state: "", from: "", to: "" };

export function EventsTable({ orgId, satelliteId, showSatellite = false, filters = true }: { orgId?: string; satelliteId?: string; showSatellite?: boolean; filters?: boolean }) {
  const trpc = useTRPC();
  const [f, setFilters] = useState<Filters>(NO_FILTERS);
  const input = {
    orgId,
    satelliteId,
    limit: 50,
    ...(f.cause ? { cause: [f.cause as (typeof CAUSES)[number]] } : {}),
    ...(f.state ? { state: [f.state as (typeof STATES)[number]] } : {}),
    ...(f.from ? { from: new Date(f.from) } : {}),
    ...(f.to ? { to: new Date(f.to) } : {}),
  };
  // An impossible range is said next to the fields, in their words, and never sent.
  const rangeError = f.from && f.to && new Date(f.from) >= new Date(f.to) ? "Pick a “To” time later than the “From” time" : null;
  const events = useInfiniteQuery(trpc.history.list.infiniteQueryOptions(input, { getNextPageParam: (p) => p.nextCursor, enabled: !rangeError }));
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  const filtered = f.cause || f.state || f.from || f.to;
  return (
    <Card title="Events" description="Every change of state, newest first">
      {filters && <EventFilters value={f} onChange={(change) => setFilters((old) => ({ ...old, ...change }))} rangeError={rangeError} />}
      {rangeError ? (
        <p className="text-sm text-slate-500">Fix the time range above to see events.</p>
      ) : events.isLoading ? (
        <Spinner label="Loading events…" />
      ) : events.error ? (
        <ErrorState error={errorMessage(events.error)} retry={isRetryable(events.error) ? () => void events.refetch() : undefined} />
      ) : items.length === 0 ? (
        <EmptyState title="No events">{filtered ? "Nothing matches these filters." : "Nothing has happened yet."}</EmptyState>
      ) : (
        <div className="overflow-x-auto" tabIndex={0} role="region" aria-label="History table">
          <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="History events">
            <EventsHead showSatellite={showSatellite} />
            <tbody className="divide-y divide-slate-100">
              {items.map((e) => (
                <EventRow key={e.id} event={e} showSatellite={showSatellite} />
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

function EventFilters({ value: f, onChange, rangeError }: { value: Filters; onChange: (change: Partial<Filters>) => void; rangeError: string | null }) {
  return (
    <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-4">
      <Field label="Cause">
        {(p) => (
          <Select id={p.id} value={f.cause} onChange={(e) => onChange({ cause: e.target.value })}>
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
          <Select id={p.id} value={f.state} onChange={(e) => onChange({ state: e.target.value })}>
            <option value="">Any state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {stateLabel(s)}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Field label="From">{(p) => <Input id={p.id} type="datetime-local" value={f.from} onChange={(e) => onChange({ from: e.target.value })} />}</Field>
      <Field label="To" error={rangeError}>
        {(p) => <Input id={p.id} type="datetime-local" value={f.to} onChange={(e) => onChange({ to: e.target.value })} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
      </Field>
    </div>
  );
}

function EventsHead({ showSatellite }: { showSatellite: boolean }) {
  return (
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
  );
}

function EventRow({ event: e, showSatellite }: { event: HistoryEvent; showSatellite: boolean }) {
  return (
    <tr data-event-to={e.to} data-event-cause={e.cause}>
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
  );
}
