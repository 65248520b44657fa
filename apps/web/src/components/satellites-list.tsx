"use client";
// The organization's satellites with live state, a search, and the create dialog.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useDeferredValue, useState } from "react";
import { mib, relative, seconds, usd } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import { useLiveSatellites } from "./live.ts";
import { useOrg } from "./shell.tsx";
import { type SatelliteState, StateBadge, stateLabel } from "./state.tsx";
import { Alert, Button, Dialog, EmptyState, ErrorState, Field, Input, PageHeader, Select, Spinner, useNow } from "./ui.tsx";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";

const IDLE_CHOICES = [300, 900, 1800, 3600, 7200, 14400, 28800, 86400];

export function SatellitesList() {
  const { orgId, isAdmin } = useOrg();
  const trpc = useTRPC();
  const now = useNow(15_000);
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
  const counts = list.data?.pages[0]?.counts ?? null;

  return (
    <>
      <PageHeader
        title="Satellites"
        description="Build machines of this organization. They sleep when idle and wake when a build arrives."
        actions={
          isAdmin ? (
            <Button onClick={() => setCreating(true)}>Create satellite</Button>
          ) : (
            <p className="text-xs text-slate-500">Only admins and owners can create satellites.</p>
          )
        }
      />
      <p aria-live="polite" className="sr-only">
        {announce}
      </p>
      <div className="mb-4 flex flex-wrap items-center gap-3">
        <div className="w-full max-w-xs">
          <label htmlFor="sat-search" className="sr-only">
            Search satellites by name
          </label>
          <Input id="sat-search" type="search" placeholder="Search by name" value={search} onChange={(e) => setSearch(e.target.value)} />
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
          {live.status === "pending" ? "● Live" : live.status === "connecting" ? "Connecting…" : live.status === "error" ? "Live updates paused" : ""}
        </span>
      </div>

      {list.isLoading ? (
        <Spinner label="Loading satellites…" />
      ) : list.error ? (
        <ErrorState error={errorMessage(list.error)} retry={isRetryable(list.error) ? () => void list.refetch() : undefined} />
      ) : items.length === 0 ? (
        deferred ? (
          <EmptyState title="No satellite matches">Try another name.</EmptyState>
        ) : (
          <EmptyState title="No satellites yet" action={isAdmin ? <Button onClick={() => setCreating(true)}>Create your first satellite</Button> : undefined}>
            A satellite is a build machine with a persistent cache. Create one, then point the Earthly CLI at it.
          </EmptyState>
        )
      ) : (
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
          {list.hasNextPage && (
            <div className="border-t border-slate-100 p-3 text-center">
              <Button variant="secondary" busy={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
                Show more
              </Button>
            </div>
          )}
        </div>
      )}
      <CreateSatelliteDialog open={creating} onClose={() => setCreating(false)} />
    </>
  );
}

function CreateSatelliteDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { orgId } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const sizes = useQuery({ ...trpc.satellite.sizes.queryOptions(), staleTime: Infinity, enabled: open });
  const [name, setName] = useState("");
  const [size, setSize] = useState("medium");
  const [platform, setPlatform] = useState<"amd64" | "arm64">("amd64");
  const [idle, setIdle] = useState(1800);
  const create = useMutation(
    trpc.satellite.create.mutationOptions({
      onSuccess: async (s) => {
        await queryClient.invalidateQueries({ queryKey: trpc.satellite.list.pathKey() });
        onClose();
        setName("");
        router.push(`/satellites/${s.id}`);
      },
    }),
  );
  const nameError = tooLong("The name", name, FIELD_LIMITS.satelliteName.max) ?? (name && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) ? "Use lowercase letters, digits and dashes; start and end with a letter or digit" : null);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (nameError) return;
    create.mutate({ orgId, name, size: size as "medium", platform, idleTimeoutSeconds: idle });
  }

  return (
    <Dialog open={open} onClose={onClose} title="Create satellite">
      <form onSubmit={submit} className="space-y-5">
        {create.error && <Alert>{errorMessage(create.error)}</Alert>}
        <Field label="Name" hint={`Used by the Earthly CLI (--sat); lowercase letters, digits and dashes, up to ${FIELD_LIMITS.satelliteName.max}`} error={nameError}>
          {(p) => <Input id={p.id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus aria-invalid={p.invalid} aria-describedby={p.describedBy} placeholder="main" />}
        </Field>
        <fieldset>
          <legend className="text-sm font-medium text-slate-800">Size</legend>
          {sizes.isLoading && <Spinner label="Loading sizes…" />}
          <div className="mt-2 grid grid-cols-1 gap-2 sm:grid-cols-2">
            {sizes.data?.map((s) => (
              <label key={s.size} className={`flex cursor-pointer items-start gap-2 rounded-md p-3 text-sm ring-1 ${size === s.size ? "bg-indigo-50 ring-2 ring-indigo-600" : "ring-slate-200 hover:bg-slate-50"}`}>
                <input type="radio" name="size" value={s.size} checked={size === s.size} onChange={() => setSize(s.size)} className="mt-0.5" />
                <span>
                  <span className="block font-medium">{s.size}</span>
                  <span className="block text-xs text-slate-600">
                    {s.vcpu} vCPU · {mib(s.memoryMiB)} · {usd(s.hourlyUsd[platform])}/h awake
                  </span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend className="text-sm font-medium text-slate-800">Platform</legend>
          <div className="mt-2 flex gap-4 text-sm">
            {(["amd64", "arm64"] as const).map((p) => (
              <label key={p} className="flex items-center gap-2">
                <input type="radio" name="platform" value={p} checked={platform === p} onChange={() => setPlatform(p)} />
                {p} <span className="text-xs text-slate-500">{p === "amd64" ? "(hibernates: resumes with memory)" : "(stops: cold start on wake)"}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <Field label="Sleep after idle for" hint="No build for this long puts the satellite to sleep.">
          {(p) => (
            <Select id={p.id} value={idle} onChange={(e) => setIdle(Number(e.target.value))} aria-describedby={p.describedBy}>
              {IDLE_CHOICES.map((v) => (
                <option key={v} value={v}>
                  {seconds(v)}
                  {v === 1800 ? " (default)" : ""}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending} disabled={!name || Boolean(nameError)}>
            Create
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
