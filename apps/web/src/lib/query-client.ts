// The browser's TanStack Query client: its defaults, and invalidations that are never lost.
import { type Query, QueryClient } from "@tanstack/react-query";
import { isTRPCClientError } from "@trpc/client";

export function makeQueryClient(): QueryClient {
  const qc = new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        // Authorization answers do not change on retry; anything else gets two more tries.
        retry: (count, err) => !(isTRPCClientError(err) && ["NOT_FOUND", "FORBIDDEN", "UNAUTHORIZED", "BAD_REQUEST"].includes(err.data?.code ?? "")) && count < 2,
        refetchOnWindowFocus: false,
      },
    },
  });
  rereadLateInvalidations(qc);
  return qc;
}

/**
 * TanStack Query joins an invalidation to a first load still under way (a query with no data
 * yet) instead of starting another, and that load may have read the database before the change
 * it is told about: the page would show the old state until some later change. Such a query
 * reads once more when its load ends.
 */
function rereadLateInvalidations(qc: QueryClient): void {
  // Weak: a query dropped from the cache is forgotten with it (one made again is a new object).
  const owed = new WeakSet<Query>();
  qc.getQueryCache().subscribe((e) => {
    if (e.type !== "updated") return;
    const q = e.query;
    if (e.action.type === "invalidate" && q.state.fetchStatus === "fetching" && q.state.data === undefined) owed.add(q);
    else if ((e.action.type === "success" || e.action.type === "error") && owed.delete(q)) {
      void qc.invalidateQueries({ queryKey: q.queryKey, exact: true });
    }
  });
}
