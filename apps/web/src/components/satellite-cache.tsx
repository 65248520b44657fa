"use client";
// A satellite's BuildKit cache (size and its share of the disk limit, entries, when measured;
// Measure; Reset for admins, after a confirmation). Measuring and resetting are done by the jobs
// process; the card re-reads the cache every second until the job's outcome shows (a newer
// measurement or a newer failed one, with its reason; or a newer reset).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { useEffect, useRef, useState } from "react";
import { bytes, relative } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { Alert, Button, Card, ConfirmDialog, ErrorState, Spinner, useNow } from "./ui.tsx";

type Cache = inferRouterOutputs<AppRouter>["satellite"]["cache"];
type Job = "measure" | "reset";

/** The cache as last read, and the measure/reset jobs: which one is running until its outcome shows. */
function useCacheJobs(id: string, onResetAsked: () => void) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [pending, setPending] = useState<Job | null>(null);
  const cache = useQuery(trpc.satellite.cache.queryOptions({ id }, { refetchInterval: pending ? 1000 : 15_000 }));
  const since = useRef(0);
  // When this page last asked for a measurement: a failed one shows only if it answers that
  // (the jobs process also measures on its own, after builds, and may find the satellite asleep).
  const [measureAsked, setMeasureAsked] = useState(0);
  const measure = useMutation(trpc.satellite.measureCache.mutationOptions({ onSuccess: () => setPending("measure") }));
  const reset = useMutation(
    trpc.satellite.resetCache.mutationOptions({
      onSuccess: () => {
        onResetAsked();
        setPending("reset");
      },
    }),
  );
  const c = cache.data;
  useEffect(() => {
    if (!pending || !c) return;
    const after = (at: Date | string | null | undefined) => !!at && new Date(at).getTime() > since.current;
    const done = pending === "measure" ? after(c.measuredAt) || after(c.measureFailed?.at) : after(c.lastReset?.at);
    if (done) {
      setPending(null);
      void queryClient.invalidateQueries({ queryKey: trpc.history.pathKey() });
    }
  }, [c, pending, queryClient, trpc]);
  const failed = c?.measureFailed;
  return {
    cache,
    pending,
    measure,
    reset,
    measureFailed: failed && measureAsked && new Date(failed.at).getTime() > measureAsked ? failed.reason : null,
    start(what: Job) {
      since.current = Date.now() - 1000;
      if (what === "measure") {
        setMeasureAsked(since.current);
        measure.mutate({ id });
      } else reset.mutate({ id });
    },
  };
}

export function CacheCard({ id, state, canReset }: { id: string; state: string; canReset: boolean }) {
  const [confirming, setConfirming] = useState(false);
  const { cache, pending, measure, reset, measureFailed, start } = useCacheJobs(id, () => setConfirming(false));
  const c = cache.data;
  const awake = state === "awake";
  return (
    <Card
      id="cache"
      title="Build cache"
      description="BuildKit's cache on the satellite's disk: what makes its builds fast. Measured at each sleep, every few minutes after builds, and when you ask."
      actions={
        awake && (
          <div className="flex gap-2">
            <Button variant="secondary" busy={pending === "measure" || measure.isPending} onClick={() => start("measure")}>
              Measure
            </Button>
            {canReset && (
              <Button variant="danger" disabled={pending === "reset" || (c?.runningBuilds ?? 0) > 0} onClick={() => setConfirming(true)}>
                Reset cache
              </Button>
            )}
          </div>
        )
      }
    >
      {cache.isLoading ? (
        <Spinner label="Loading cache…" />
      ) : cache.error || !c ? (
        <ErrorState error={errorMessage(cache.error)} retry={() => void cache.refetch()} />
      ) : (
        <div className="space-y-3 text-sm">
          <CacheFigures cache={c} />
          {c.bytes !== null && c.bytes >= NEAR_LIMIT * c.limitBytes && <NearLimit />}
          {c.outOfDiskBuilds.count > 0 && <OutOfDiskBuilds builds={c.outOfDiskBuilds} />}
          {pending && (
            <p role="status" className="inline-flex items-center gap-2 text-slate-600">
              <Spinner /> {pending === "measure" ? "Measuring…" : "Resetting the cache…"}
            </p>
          )}
          {canReset && awake && c.runningBuilds > 0 && <p className="text-slate-600">A build is running: the cache can be reset once it has finished.</p>}
          {!awake && <p className="text-slate-600">The cache can be measured and reset while the satellite is awake.</p>}
          {measureFailed && !pending && <Alert>Could not measure the cache: {measureFailed}</Alert>}
          {c.lastReset && <LastReset reset={c.lastReset} />}
          {(measure.error ?? reset.error) && <Alert>{errorMessage(measure.error ?? reset.error)}</Alert>}
        </div>
      )}
      <ConfirmDialog
        open={confirming}
        onClose={() => setConfirming(false)}
        title="Reset the build cache?"
        confirm="Reset cache"
        keep="Keep the cache"
        busy={reset.isPending}
        error={reset.error && errorMessage(reset.error)}
        onConfirm={() => start("reset")}
      >
        Every cached layer and build context on this satellite is deleted ({bytes(c?.bytes)}). The next builds start cold and take longer. Builds cannot be running meanwhile.
      </ConfirmDialog>
    </Card>
  );
}

/** From this share of its disk limit on, the card says the cache is near it. */
const NEAR_LIMIT = 0.9;

/** Size (and its share of the disk limit), entries, and when measured. */
function CacheFigures({ cache: c }: { cache: Cache }) {
  const now = useNow(10_000);
  const share = c.bytes === null ? null : c.bytes / c.limitBytes;
  return (
    <>
      <dl className="grid grid-cols-3 gap-4">
        <div>
          <dt className="text-xs font-medium text-slate-500">Size</dt>
          <dd className="mt-0.5 text-lg font-semibold tabular-nums text-slate-900" data-cache-bytes={c.bytes ?? ""}>
            {c.bytes === null ? "not measured yet" : bytes(c.bytes)}
          </dd>
          {share !== null && <LimitShare share={share} limitBytes={c.limitBytes} />}
        </div>
        <div>
          <dt className="text-xs font-medium text-slate-500">Entries</dt>
          <dd className="mt-0.5 text-lg font-semibold tabular-nums text-slate-900">{c.entries ?? "—"}</dd>
        </div>
        <div>
          <dt className="text-xs font-medium text-slate-500">Measured</dt>
          <dd className="mt-0.5 text-slate-700">{relative(c.measuredAt, now)}</dd>
        </div>
      </dl>
    </>
  );
}

/** The cache's share of the disk limit, as words and a bar. */
function LimitShare({ share, limitBytes }: { share: number; limitBytes: number }) {
  const percent = Math.round(share * 100);
  const near = share >= NEAR_LIMIT;
  return (
    <dd className="mt-1 text-xs text-slate-600" data-cache-share={percent}>
      of {bytes(limitBytes)} ({percent}%)
      <span className="mt-1 block h-1.5 w-full overflow-hidden rounded bg-slate-100" aria-hidden>
        <span className={`block h-full ${near ? "bg-amber-500" : "bg-indigo-500"}`} style={{ width: `${Math.min(100, percent)}%` }} />
      </span>
    </dd>
  );
}

/**
 * Near the limit, BuildKit's garbage collection drops the least recently used entries (colder
 * builds), and a build that writes more than is left fails with "no space left on device".
 */
function NearLimit() {
  return (
    <p className="rounded-md bg-amber-50 px-3 py-2 text-amber-900 ring-1 ring-amber-200" data-cache-near-limit>
      The cache is near its disk limit. Older entries are dropped to make room, and a build that writes more than is left fails with &ldquo;no space left on device&rdquo;. Reset the cache, or raise &ldquo;Disk for cache&rdquo; under Limits.
    </p>
  );
}

/** Builds that ran out of disk lately: the reason a user opened this card, usually. */
function OutOfDiskBuilds({ builds }: { builds: Cache["outOfDiskBuilds"] }) {
  const now = useNow(10_000);
  const n = builds.count;
  return (
    <p className="rounded-md bg-red-50 px-3 py-2 text-red-900 ring-1 ring-red-200" data-cache-out-of-disk={n}>
      {n === 1 ? "1 build" : `${n} builds`} ran out of disk in the last 7 days (the last began {relative(builds.lastAt, now)}); they are marked &ldquo;disk full&rdquo; under Builds. Reset the cache, or raise &ldquo;Disk for cache&rdquo; under Limits.
    </p>
  );
}

function LastReset({ reset: r }: { reset: NonNullable<Cache["lastReset"]> }) {
  const now = useNow(10_000);
  return (
    <p className={r.error ? "text-red-700" : "text-slate-600"} data-cache-last-reset>
      Last reset {relative(r.at, now)}: {r.error ?? `${bytes(r.beforeBytes)} → ${bytes(r.afterBytes)}`}
    </p>
  );
}
