"use client";
// Live state: subscribes to `satellite.watch` (SSE) and folds each change into the cached
// queries, so lists and detail pages update without a reload or polling.
import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useRef } from "react";
import { useTRPC } from "@/lib/trpc.tsx";

export function useLiveSatellites(input: { orgId?: string; id?: string }, onChange?: (e: { id: string; to: string }) => void) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const onChangeRef = useRef(onChange);
  useEffect(() => {
    onChangeRef.current = onChange;
  }, [onChange]);
  // When the stream (re)starts, or when the server missed announcements itself (its LISTEN
  // connection came back), anything may have changed: re-read what is on screen, the history
  // included. On the stream's first event (snapshot or resync), not on SSE's "connected": that
  // comes before the server has subscribed, and a wake committed in between was on the page
  // (polled) but never in its events.
  const rereadAll = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.satellite.pathKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.history.pathKey() });
  };
  return useSubscription(
    trpc.satellite.watch.subscriptionOptions(input, {
      onData: (e) => {
        if (e.type === "resync" || e.type === "snapshot") {
          rereadAll();
          return;
        }
        // Other columns (upstream, failure reason, limits flags) travel with the row: re-read it.
        void queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id: e.id }) });
        void queryClient.invalidateQueries({ queryKey: trpc.satellite.list.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.history.pathKey() });
        onChangeRef.current?.({ id: e.id, to: e.to });
      },
    }),
  );
}
