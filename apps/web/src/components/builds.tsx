"use client";
// Builds as the proxy recorded them: a table (running ones first by nature: newest first, with a
// live duration), filters for the org-wide page (satellite, actor, status, time). Re-read every
// 2 s while shown (records are written by the proxies each second; nothing announces them).
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useState } from "react";
import { bytes, dateTime, duration } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { useOrg } from "./shell.tsx";
import { Badge, Button, Card, EmptyState, ErrorState, Field, Input, PageHeader, Select, Spinner, useNow } from "./ui.tsx";

const STATUSES = ["running", "succeeded", "failed", "cancelled", "lost"] as const;
type Status = (typeof STATUSES)[number];
const STATUS_TEXT: Record<Status, string> = { running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled", lost: "Lost (proxy stopped)" };
const STATUS_TONE: Record<Status, "sky" | "green" | "red" | "amber" | "slate"> = { running: "sky", succeeded: "green", failed: "red", cancelled: "amber", lost: "slate" };

/** How often the builds list is re-read with `pages` pages loaded. */
const pollEvery = (pages = 1) => 2000 * Math.max(1, pages);

export function BuildStatus({ status }: { status: Status }) {
  return (
    <Badge tone={STATUS_TONE[status]}>
      {status === "running" && <span aria-hidden className="mr-1 inline-block h-1.5 w-1.5 animate-pulse rounded-full bg-sky-500" />}
      {STATUS_TEXT[status]}
    </Badge>
  );
}

/** The organization's Builds page. */
export function OrgBuilds() {
  const { orgId, orgName } = useOrg();
  return (
    <>
      <PageHeader title="Builds" description={`Every build on ${orgName}'s satellites: who ran it, how long it took, what it sent, how it ended.`} />
      <BuildsTable orgId={orgId} title="Builds" filters limit={50} />
    </>
  );
}

export function BuildsTable({ orgId, satelliteId, title = "Builds", filters = false, limit = 20 }: { orgId?: string; satelliteId?: string; title?: string; filters?: boolean; limit?: number }) {
  const trpc = useTRPC();
  const now = useNow(1000);
  const [status, setStatus] = useState("");
  const [satellite, setSatellite] = useState("");
  const [actor, setActor] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const fromDate = from ? new Date(from) : undefined;
  const toDate = to ? new Date(to) : undefined;
  const badRange = fromDate && toDate && fromDate >= toDate;
  const input = {
    orgId,
    satelliteId: satelliteId ?? (satellite || undefined),
    limit,
    ...(status ? { status: [status as Status] } : {}),
    ...(actor ? { actor } : {}),
    ...(fromDate && !badRange ? { from: fromDate } : {}),
    ...(toDate && !badRange ? { to: toDate } : {}),
  };
  const builds = useInfiniteQuery(
    trpc.build.list.infiniteQueryOptions(input, {
      getNextPageParam: (p) => p.nextCursor,
      // Builds are not announced: a short build must still be seen running, so poll at the
      // proxies' own pace (they write records every second). A refetch re-reads every page
      // loaded, so with older pages shown it comes less often: one request per 2 s in all.
      refetchInterval: (q) => pollEvery(q.state.data?.pages.length),
    }),
  );
  const items = builds.data?.pages.flatMap((p) => p.items) ?? [];
  const running = items.filter((b) => b.status === "running").length;
  return (
    <Card
      title={title}
      description={running > 0 ? `${running} running now · updated every ${pollEvery(builds.data?.pages.length) / 1000} s` : "Each BuildKit build through the proxy, newest first"}
    >
      {filters && <BuildFilters orgId={orgId} values={{ status, satellite, actor, from, to }} set={{ setStatus, setSatellite, setActor, setFrom, setTo }} />}
      {badRange && <p className="mb-3 text-sm text-red-700">The start of the period must be before its end.</p>}
      {builds.isLoading ? (
        <Spinner label="Loading builds…" />
      ) : builds.error ? (
        <ErrorState error={errorMessage(builds.error)} retry={() => void builds.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState title="No builds">{status || satellite || actor || from || to ? "Nothing matches these filters." : "Builds appear here as they run through the proxy."}</EmptyState>
      ) : (
        <div className="overflow-x-auto" tabIndex={0} role="region" aria-label="Builds table">
          <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label={title}>
            <BuildsHead showSatellite={!satelliteId} />
            <tbody className="divide-y divide-slate-100">
              {items.map((b) => (
                <BuildRow key={b.id} build={b} showSatellite={!satelliteId} now={now} />
              ))}
            </tbody>
          </table>
          {builds.hasNextPage && (
            <div className="pt-3 text-center">
              <Button variant="secondary" busy={builds.isFetchingNextPage} onClick={() => void builds.fetchNextPage()}>
                Show older builds
              </Button>
            </div>
          )}
        </div>
      )}
    </Card>
  );
}

type Build = inferRouterOutputs<AppRouter>["build"]["list"]["items"][number];

function BuildsHead({ showSatellite }: { showSatellite: boolean }) {
  return (
    <thead className="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
      <tr>
        <th scope="col" className="py-2 pr-4">Status</th>
        <th scope="col" className="py-2 pr-4">Started</th>
        {showSatellite && <th scope="col" className="py-2 pr-4">Satellite</th>}
        <th scope="col" className="py-2 pr-4">Duration</th>
        <th scope="col" className="py-2 pr-4">Sent / received</th>
        <th scope="col" className="py-2 pr-4">By</th>
        <th scope="col" className="py-2">Client</th>
      </tr>
    </thead>
  );
}

/** One build, and under a failed one the reason its client was told; a running one's duration counts up with `now`. */
function BuildRow({ build: b, showSatellite, now }: { build: Build; showSatellite: boolean; now: number }) {
  const error = b.status === "failed" ? b.error : null;
  return (
    <>
      <tr data-build-status={b.status} data-build-id={b.id} className={error ? "border-b-0 [&>td]:pb-0" : undefined}>
        <td className="whitespace-nowrap py-2 pr-4">
          <BuildStatus status={b.status} />
          {b.status === "failed" && b.grpcStatus && <span className="ml-2 font-mono text-xs text-red-700">{b.grpcStatus}</span>}
          {b.memoryKills > 0 && (
            <span className="ml-2 text-xs text-red-700" data-build-memory-kills={b.memoryKills} title="The kernel killed processes on the satellite for memory while this build ran: see the satellite's history, and raise its memory limit or size.">
              out of memory
            </span>
          )}
          {b.diskFull && (
            <Link href={`/satellites/${b.satelliteId}#cache`} className="ml-2 text-xs text-red-700 underline hover:text-red-900" data-build-disk-full title="The satellite's disk filled up during this build (BuildKit's answer, or a step's output, said 'no space left on device'): see its build cache, reset it, or raise its disk limit.">
              disk full
            </Link>
          )}
        </td>
        <td className="whitespace-nowrap py-2 pr-4 text-slate-700">{dateTime(b.startedAt)}</td>
        {showSatellite && (
          <td className="max-w-[16rem] truncate py-2 pr-4" title={b.satelliteName}>
            <Link href={`/satellites/${b.satelliteId}`} className="text-indigo-700 hover:underline">
              {b.satelliteName}
            </Link>
          </td>
        )}
        <td className="whitespace-nowrap py-2 pr-4 tabular-nums text-slate-700" data-build-duration>
          {duration(b.status === "running" ? Math.max(b.durationMs, now - new Date(b.startedAt).getTime()) : b.durationMs)}
          {b.wakeWaitMs !== null && (
            <span className="ml-1 text-xs text-slate-500" data-build-wake-wait={b.wakeWaitMs} title="Before it started, the build waited this long for its satellite to wake (not counted in its duration): see the satellite's history for the wake.">
              + {duration(b.wakeWaitMs)} waking
            </span>
          )}
        </td>
        <td className="whitespace-nowrap py-2 pr-4 tabular-nums text-slate-700" data-build-bytes>
          {bytes(b.bytesUp)} / {bytes(b.bytesDown)}
        </td>
        <td className="max-w-[14rem] truncate py-2 pr-4 text-slate-700" title={b.actorLabel}>
          {b.actorLabel}
        </td>
        <td className="whitespace-nowrap py-2 font-mono text-xs text-slate-600">{b.client}</td>
      </tr>
      {error && (
        <tr data-build-error-of={b.id}>
          <td colSpan={showSatellite ? 7 : 6} className="pb-2 pr-4 pt-1">
            <p className="line-clamp-3 whitespace-pre-wrap break-words font-mono text-xs text-red-800" title={error} data-build-error>
              {error}
            </p>
          </td>
        </tr>
      )}
    </>
  );
}

interface FilterValues {
  status: string;
  satellite: string;
  actor: string;
  from: string;
  to: string;
}

function BuildFilters({ orgId, values, set }: { orgId?: string; values: FilterValues; set: Record<"setStatus" | "setSatellite" | "setActor" | "setFrom" | "setTo", (v: string) => void> }) {
  const trpc = useTRPC();
  const satellites = useQuery(trpc.satellite.list.queryOptions({ orgId, limit: 200 }));
  const actors = useQuery(trpc.build.actors.queryOptions({ orgId }));
  return (
    <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-5">
      <Field label="Status">
        {(p) => (
          <Select id={p.id} value={values.status} onChange={(e) => set.setStatus(e.target.value)}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_TEXT[s]}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Field label="Satellite">
        {(p) => (
          <Select id={p.id} value={values.satellite} onChange={(e) => set.setSatellite(e.target.value)}>
            <option value="">Any satellite</option>
            {(satellites.data?.items ?? []).map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Field label="By">
        {(p) => (
          <Select id={p.id} value={values.actor} onChange={(e) => set.setActor(e.target.value)}>
            <option value="">Anyone</option>
            {(actors.data ?? []).map((a) => (
              <option key={a.actor} value={a.actor}>
                {a.label}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Field label="From">{(p) => <Input id={p.id} type="datetime-local" value={values.from} onChange={(e) => set.setFrom(e.target.value)} />}</Field>
      <Field label="To">{(p) => <Input id={p.id} type="datetime-local" value={values.to} onChange={(e) => set.setTo(e.target.value)} />}</Field>
    </div>
  );
}
