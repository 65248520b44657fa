"use client";
// The organization's audit log (admins and owners): who changed what, when, from where.
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { dateTime } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { useOrg } from "./shell.tsx";
import { Alert, Button, Card, EmptyState, ErrorState, Field, PageHeader, Select, Spinner } from "./ui.tsx";

const DOMAINS = [
  ["", "Everything"],
  ["satellite", "Satellites"],
  ["certificate", "Client certificates"],
  ["token", "API tokens"],
  ["member", "Members and roles"],
  ["invitation", "Invitations"],
  ["org", "Organization settings"],
] as const;

/** { cpuPercent: { from: 95, to: 50 } } → "cpuPercent 95 → 50"; other values as JSON. */
function describe(detail: unknown): string {
  if (!detail || typeof detail !== "object") return "";
  return Object.entries(detail as Record<string, unknown>)
    .map(([k, v]) => (v && typeof v === "object" && "from" in v && "to" in v ? `${k} ${JSON.stringify((v as { from: unknown }).from)} → ${JSON.stringify((v as { to: unknown }).to)}` : `${k}: ${JSON.stringify(v)}`))
    .join(" · ");
}

export function AuditLog() {
  const { orgId, isAdmin } = useOrg();
  const trpc = useTRPC();
  const [action, setAction] = useState("");
  const q = useInfiniteQuery({
    ...trpc.audit.list.infiniteQueryOptions({ orgId, limit: 50, ...(action ? { action } : {}) }, { getNextPageParam: (p) => p.nextCursor }),
    enabled: isAdmin,
  });
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <PageHeader title="Audit log" description="Every change to satellites, tokens, members, roles, invitations and settings: who, when, from which address." />
      {!isAdmin ? (
        <Alert tone="amber">Only admins and owners can read the audit log.</Alert>
      ) : (
        <Card>
          <div className="mb-4 w-64">
            <Field label="Show">
              {(p) => (
                <Select id={p.id} value={action} onChange={(e) => setAction(e.target.value)}>
                  {DOMAINS.map(([v, l]) => (
                    <option key={v} value={v}>
                      {l}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
          </div>
          {q.isLoading ? (
            <Spinner label="Loading the audit log…" />
          ) : q.error ? (
            <ErrorState error={errorMessage(q.error)} retry={() => void q.refetch()} />
          ) : items.length === 0 ? (
            <EmptyState title="Nothing recorded yet" />
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-sm">
                <thead className="text-xs text-slate-500">
                  <tr>
                    <th scope="col" className="py-2 pr-4">When</th>
                    <th scope="col" className="py-2 pr-4">Who</th>
                    <th scope="col" className="py-2 pr-4">What</th>
                    <th scope="col" className="py-2 pr-4">Details</th>
                    <th scope="col" className="py-2">From</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {items.map((i) => (
                    <tr key={i.id} data-action={i.action}>
                      <td className="py-2 pr-4 whitespace-nowrap">{dateTime(i.at)}</td>
                      <td className="py-2 pr-4">{i.actorLabel}</td>
                      <td className="py-2 pr-4 font-mono text-xs">{i.action}</td>
                      <td className="py-2 pr-4 break-all text-slate-700">{describe(i.detail)}</td>
                      <td className="py-2 font-mono text-xs">{i.ip ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {q.hasNextPage && (
                <Button variant="secondary" className="mt-4" busy={q.isFetchingNextPage} onClick={() => void q.fetchNextPage()}>
                  Older entries
                </Button>
              )}
            </div>
          )}
        </Card>
      )}
    </>
  );
}
