"use client";
// The browser's tRPC client: queries and mutations batched over HTTP, `watch` over SSE
// (EventSource sends the session cookie, so the same auth applies), TanStack Query for caching.
import { QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, isTRPCClientError, splitLink } from "@trpc/client";
import { TRPC_MAX_BATCH } from "@/server/request-limits.ts";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { useState, type ReactNode } from "react";
import type { AppRouter } from "@/server/routers/index.ts";
import { makeQueryClient } from "./query-client.ts";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === "subscription",
          true: httpSubscriptionLink({ url: "/api/trpc" }),
          false: httpBatchLink({ url: "/api/trpc", maxItems: TRPC_MAX_BATCH }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/** Answers that another try cannot change: a "Try again" button would be useless. */
export function isRetryable(err: unknown): boolean {
  return !(isTRPCClientError(err) && ["BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "PRECONDITION_FAILED", "PAYLOAD_TOO_LARGE", "UNPROCESSABLE_CONTENT"].includes(err.data?.code ?? ""));
}

/**
 * A refusal because the satellite is awake, in the page's words: the API's message names its
 * `force` parameter, which means nothing to someone clicking a button (`action` is the button).
 */
export function refusalInWords(err: unknown, action: string): string {
  const awake = isTRPCClientError(err) && err.data?.code === "PRECONDITION_FAILED" && /awake/i.test(err.message) && /force/i.test(err.message);
  return awake ? `The satellite is awake now: put it to sleep first, or tick the box above and press “${action}” again.` : errorMessage(err);
}

/**
 * The error of the action the user asked for last, if it failed: an older action's failure is
 * not news once a newer one was asked for (it succeeded, or has its own error).
 */
export function lastError<E>(...actions: { error: E | null; submittedAt: number }[]): E | null {
  const last = actions.reduce<{ error: E | null; submittedAt: number } | null>((a, m) => (m.submittedAt > (a?.submittedAt ?? 0) ? m : a), null);
  return last?.error ?? null;
}

/** The message to show a person for a failed call. */
export function errorMessage(err: unknown): string {
  if (isTRPCClientError(err)) return err.message;
  if (err instanceof Error) return err.message;
  return "Something went wrong";
}
