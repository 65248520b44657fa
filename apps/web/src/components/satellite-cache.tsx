"use client";
// A satellite's BuildKit cache (size, entries, when measured; Measure; Reset for admins, after a
// confirmation) and its daemon's log, live-tailed while the page is open. Measuring and resetting
// are done by the jobs process; the page hears of the result through the satellite's live
// announcements and re-reads the cache then.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { bytes, relative } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { Alert, Button, Card, Dialog, ErrorState, Spinner, useNow } from "./ui.tsx";

export function CacheCard({ id, state, canReset }: { id: string; state: string; canReset: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow(10_000);
  const [pending, setPending] = useState<"measure" | "reset" | null>(null);
  const [confirming, setConfirming] = useState(false);
  // While a job runs, re-read every second until its outcome shows (a measurement, or a reset event).
  const cache = useQuery(trpc.satellite.cache.queryOptions({ id }, { refetchInterval: pending ? 1000 : 15_000 }));
  const since = useRef(0);
  const measure = useMutation(trpc.satellite.measureCache.mutationOptions({ onSuccess: () => setPending("measure") }));
  const reset = useMutation(
    trpc.satellite.resetCache.mutationOptions({
      onSuccess: () => {
        setConfirming(false);
        setPending("reset");
      },
    }),
  );
  const c = cache.data;
  useEffect(() => {
    if (!pending || !c) return;
    const done = pending === "measure" ? c.measuredAt && new Date(c.measuredAt).getTime() > since.current : c.lastReset && new Date(c.lastReset.at).getTime() > since.current;
    if (done) {
      setPending(null);
      void queryClient.invalidateQueries({ queryKey: trpc.history.pathKey() });
    }
  }, [c, pending, queryClient, trpc]);
  const start = (what: "measure" | "reset") => {
    since.current = Date.now() - 1000;
    if (what === "measure") measure.mutate({ id });
    else reset.mutate({ id });
  };
  const awake = state === "awake";
  return (
    <Card
      title="Build cache"
      description="BuildKit's cache on the satellite's disk: what makes its builds fast. Measured at each sleep and when you ask."
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
          <dl className="grid grid-cols-3 gap-4">
            <div>
              <dt className="text-xs font-medium text-slate-500">Size</dt>
              <dd className="mt-0.5 text-lg font-semibold tabular-nums text-slate-900" data-cache-bytes={c.bytes ?? ""}>
                {c.bytes === null ? "not measured yet" : bytes(c.bytes)}
              </dd>
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
          {pending && (
            <p role="status" className="inline-flex items-center gap-2 text-slate-600">
              <Spinner /> {pending === "measure" ? "Measuring…" : "Resetting the cache…"}
            </p>
          )}
          {canReset && awake && c.runningBuilds > 0 && <p className="text-slate-600">A build is running: the cache can be reset once it has finished.</p>}
          {!awake && <p className="text-slate-600">The cache can be measured and reset while the satellite is awake.</p>}
          {c.lastReset && (
            <p className={c.lastReset.error ? "text-red-700" : "text-slate-600"} data-cache-last-reset>
              Last reset {relative(c.lastReset.at, now)}: {c.lastReset.error ?? `${bytes(c.lastReset.beforeBytes)} → ${bytes(c.lastReset.afterBytes)}`}
            </p>
          )}
          {(measure.error ?? reset.error) && <Alert>{errorMessage(measure.error ?? reset.error)}</Alert>}
        </div>
      )}
      <Dialog open={confirming} onClose={() => setConfirming(false)} title="Reset the build cache?">
        <p className="text-sm text-slate-700">
          Every cached layer and build context on this satellite is deleted ({bytes(c?.bytes)}). The next builds start cold and take longer. Builds cannot be running meanwhile.
        </p>
        {reset.error && <Alert>{errorMessage(reset.error)}</Alert>}
        <div className="mt-4 flex justify-end gap-2">
          <Button variant="secondary" onClick={() => setConfirming(false)}>
            Keep the cache
          </Button>
          <Button variant="danger" busy={reset.isPending} onClick={() => start("reset")}>
            Reset cache
          </Button>
        </div>
      </Dialog>
    </Card>
  );
}

export function DaemonLogCard({ id }: { id: string }) {
  const trpc = useTRPC();
  const [open, setOpen] = useState(false);
  // Live tail: the last 64 KiB re-read every 2 s while the log is shown.
  const logs = useQuery(trpc.satellite.logs.queryOptions({ id, kib: 64 }, { enabled: open, refetchInterval: open ? 2000 : false }));
  const pre = useRef<HTMLPreElement>(null);
  const text = logs.data?.available ? logs.data.text : "";
  useEffect(() => {
    const el = pre.current;
    // Follow the end unless the reader scrolled up.
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <Card
      title="Daemon log"
      description="The build daemon's own output on the satellite, for when a build fails strangely."
      actions={
        <Button variant="secondary" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
          {open ? "Hide log" : "Show log"}
        </Button>
      }
    >
      {!open ? null : logs.isLoading ? (
        <Spinner label="Loading the log…" />
      ) : logs.error || !logs.data ? (
        <ErrorState error={errorMessage(logs.error)} retry={() => void logs.refetch()} />
      ) : !logs.data.available ? (
        <p className="text-sm text-slate-600">{logs.data.note}</p>
      ) : (
        <>
          <p className="mb-2 text-xs text-slate-500">
            {logs.data.truncated ? "The last 64 KiB" : "The whole log"} · following live (every 2 s)
          </p>
          <pre ref={pre} tabIndex={0} className="max-h-96 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-900 p-3 font-mono text-xs text-slate-100" aria-label="Daemon log" data-daemon-log>
            {text || "(empty)"}
          </pre>
        </>
      )}
    </Card>
  );
}
