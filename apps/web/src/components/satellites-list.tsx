"use client";
// The organization's satellites with live state, a search, and the create dialog.
import { useInfiniteQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useDeferredValue, useState } from "react";
import { mib, relative, seconds } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { CreateSatelliteDialog } from "./create-satellite.tsx";
import { useLiveSatellites } from "./live.ts";
import { useOrg } from "./shell.tsx";
import { type SatelliteState, StateBadge, stateLabel } from "./state.tsx";
import { Button, EmptyState, ErrorState, Input, PageHeader, Spinner, useNow } from "./ui.tsx";

type ListPage = inferRouterOutputs<AppRouter>["satellite"]["list"];
type SatelliteRow = ListPage["items"][number];

export function SatellitesList() {
  const { orgId, isAdmin } = useOrg();
  const trpc = useTRPC();
  const [search, setSearch] = useState("");
  const deferred = useDeferredValue(search.trim().toLowerCase());
  const [creating, setCreating] = useState(false);
  const [announce, setAnnounce] = useState("");
  const list = useInfiniteQuery(trpc.satellite.list.infiniteQueryOptions({ orgId, search: deferred || undefined, limit: 100 }, { getNextPageParam: (p) => p.nextCursor }));
  const names = new Map(list.data?.pages.flatMap((p) => p.items.map((s) => [s.id, s.name] as const)));
  const live = useLiveSatellites({ orgId }, (e) => {
    const name = names.get(e.id);
    if (name) setAnnounce(`${name} is now ${stateLabel(e.to as SatelliteState).toLowerCase()}`);
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const create = isAdmin ? () => setCreating(true) : undefined;

  return (
    <>
      <PageHeader
        title="Satellites"
        description="Build machines of this organization. They sleep when idle and wake when a build arrives."
        actions={create ? <Button onClick={create}>Create satellite</Button> : <p className="text-xs text-slate-500">Only admins and owners can create satellites.</p>}
      />
      <p aria-live="polite" className="sr-only">
        {announce}
      </p>
      <Toolbar search={search} onSearch={setSearch} counts={list.data?.pages[0]?.counts ?? null} liveStatus={live.status} />
      {list.isLoading ? (
        <Spinner label="Loading satellites…" />
      ) : list.error ? (
        <ErrorState error={errorMessage(list.error)} retry={isRetryable(list.error) ? () => void list.refetch() : undefined} />
      ) : items.length === 0 ? (
        <NoSatellites searched={Boolean(deferred)} create={create} />
      ) : (
        <SatellitesTable items={items} more={list.hasNextPage ? { busy: list.isFetchingNextPage, load: () => void list.fetchNextPage() } : undefined} />
      )}
      <CreateSatelliteDialog open={creating} onClose={() => setCreating(false)} />
    </>
  );
}

/** The search, the count per state, and whether live updates are flowing. */
function Toolbar({ search, onSearch, counts, liveStatus }: { search: string; onSearch: (s: string) => void; counts: ListPage["counts"] | null; liveStatus: string }) {
  return (
    <div className="mb-4 flex flex-wrap items-center gap-3">
      <div className="w-full max-w-xs">
        <label htmlFor="sat-search" className="sr-only">
          Search satellites by name
        </label>
        <Input id="sat-search" type="search" placeholder="Search by name" value={search} onChange={(e) => onSearch(e.target.value)} />
      </div>
      {counts && (
        <ul className="flex flex-wrap gap-2 text-xs text-slate-600" aria-label="Satellites by state">
          {Object.entries(counts).map(([state, n]) => (
            <li key={state} className="rounded-full bg-white px-2 py-0.5 ring-1 ring-slate-200">
              {stateLabel(state as SatelliteState)}: <strong>{n}</strong>
            </li>
          ))}
        </ul>
      )}
      <span className="ml-auto text-xs text-slate-500" aria-hidden="true">
        {liveStatus === "pending" ? "● Live" : liveStatus === "connecting" ? "Connecting…" : liveStatus === "error" ? "Live updates paused" : ""}
      </span>
    </div>
  );
}

function NoSatellites({ searched, create }: { searched: boolean; create: (() => void) | undefined }) {
  if (searched) return <EmptyState title="No satellite matches">Try another name.</EmptyState>;
  return (
    <EmptyState title="No satellites yet" action={create ? <Button onClick={create}>Create your first satellite</Button> : undefined}>
      A satellite is a build machine with a persistent cache. Create one, then point the Earthly CLI at it.
    </EmptyState>
  );
}

function SatellitesTable({ items, more }: { items: SatelliteRow[]; more: { busy: boolean; load: () => void } | undefined }) {
  const now = useNow(15_000);
  return (
    <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
      <table className="min-w-full divide-y divide-slate-200 text-sm">
        <caption className="sr-only">Satellites</caption>
        <thead className="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
          <tr>
            <th scope="col" className="px-4 py-3">Name</th>
            <th scope="col" className="px-4 py-3">State</th>
            {/* Name, state and last use are the key columns: the others give way on a phone. */}
            <th scope="col" className="hidden px-4 py-3 md:table-cell">Size</th>
            <th scope="col" className="hidden px-4 py-3 lg:table-cell">Platform</th>
            <th scope="col" className="hidden px-4 py-3 lg:table-cell">Idle timeout</th>
            <th scope="col" className="px-4 py-3">Last used</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {items.map((s) => (
            <tr key={s.id} className="hover:bg-slate-50" data-satellite={s.name}>
              <td className="px-4 py-3 font-medium">
                {/* A block of bounded width: a table cell's own max-width is not honoured. */}
                <Link href={`/satellites/${s.id}`} className="block max-w-[40vw] break-all text-indigo-700 hover:underline lg:max-w-xs">
                  {s.name}
                </Link>
              </td>
              <td className="px-4 py-3">
                <StateBadge state={s.state} />
              </td>
              <td className="hidden px-4 py-3 text-slate-700 md:table-cell">
                {s.size} <span className="hidden text-slate-500 2xl:inline">· {s.specs.vcpu} vCPU · {mib(s.specs.memoryMiB)}</span>
              </td>
              <td className="hidden px-4 py-3 text-slate-700 lg:table-cell">{s.platform}</td>
              <td className="hidden px-4 py-3 text-slate-700 lg:table-cell">{seconds(s.limits.idleTimeoutSeconds)}</td>
              <td className="whitespace-nowrap px-4 py-3 text-slate-700">{relative(s.lastActivityAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {more && (
        <div className="border-t border-slate-100 p-3 text-center">
          <Button variant="secondary" busy={more.busy} onClick={more.load}>
            Show more
          </Button>
        </div>
      )}
    </div>
  );
}
