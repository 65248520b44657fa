"use client";
// A satellite's build daemon's own log, live-tailed while it is shown.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { Button, Card, ErrorState, Spinner } from "./ui.tsx";

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
