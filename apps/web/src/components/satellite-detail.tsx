"use client";
// One satellite: live state with wake/sleep, how to connect, figures, limits, size, history.
import { LIMIT_RANGES } from "@satellites/catalog/limits";
import { type EarthlyConnection, earthlySnippet } from "@/lib/earthly-snippet.ts";
import { SIZE_SPECS, type SizeName } from "@satellites/catalog/sizes";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import type { inferRouterOutputs } from "@trpc/server";
import { type FormEvent, useState } from "react";
import type { AppRouter } from "@/server/routers/index.ts";
import { dateTime, duration, mib, relative, seconds, usd } from "@/lib/format.ts";
import { errorMessage, refusalInWords, useTRPC } from "@/lib/trpc.tsx";
import { BuildsTable } from "./builds.tsx";
import { EventsTable, StatsCards, Timeline } from "./history.tsx";
import { CacheCard, DaemonLogCard } from "./satellite-cache.tsx";
import { ClientCertificatesCard } from "./satellite-certificates.tsx";
import { useLiveSatellites } from "./live.ts";
import { ScheduleCard } from "./satellite-schedule.tsx";
import { StateBadge, stateLabel, TRANSITIONAL } from "./state.tsx";
import { Alert, Badge, Button, Card, CopyButton, CopyField, Dialog, ErrorState, Field, Input, PageHeader, Select, Spinner, useNow } from "./ui.tsx";

export function SatelliteDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow(1000);
  // Limits being applied are not a state change (no announcement): poll until they are.
  const sat = useQuery(trpc.satellite.get.queryOptions({ id }, { refetchInterval: (q) => (q.state.data?.limitsPending && q.state.data.provider !== "ec2" ? 2000 : false) }));
  const [announce, setAnnounce] = useState("");
  useLiveSatellites({ id }, (e) => setAnnounce(`Satellite is now ${stateLabel(e.to as never).toLowerCase()}`));
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id }) });
  const wake = useMutation(trpc.satellite.wake.mutationOptions({ onSuccess: refresh }));
  const sleep = useMutation(trpc.satellite.sleep.mutationOptions({ onSuccess: refresh }));

  if (sat.isLoading) return <Spinner label="Loading satellite…" />;
  if (sat.error || !sat.data) return <ErrorState error={errorMessage(sat.error)} retry={() => void sat.refetch()} />;
  const s = sat.data;
  const busy = TRANSITIONAL.has(s.state);
  const elapsed = now - new Date(s.stateChangedAt).getTime();
  const actionError = wake.error ?? sleep.error;
  const gone = s.state === "deleted" || s.state === "deleting";

  return (
    <>
      <nav aria-label="Breadcrumb" className="mb-2 text-sm text-slate-500 wrap-anywhere">
        <Link href="/satellites" className="hover:underline">
          Satellites
        </Link>{" "}
        / <span aria-current="page">{s.name}</span>
      </nav>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-3">
            {s.name} <StateBadge state={s.state} />
          </span>
        }
        description={
          busy ? (
            <span role="status" className="inline-flex items-center gap-2">
              <Spinner /> {stateLabel(s.state)} for {duration(elapsed)}…
            </span>
          ) : (
            <>
              {stateLabel(s.state)} since {relative(s.stateChangedAt, now)}
              {s.state === "awake" && <> · sleeps after {seconds(s.limits.idleTimeoutSeconds)} without builds</>}
            </>
          )
        }
        actions={
          <>
            {(s.state === "asleep" || s.state === "failed") && (
              <Button busy={wake.isPending} onClick={() => wake.mutate({ id })}>
                {s.state === "failed" ? "Retry wake" : "Wake"}
              </Button>
            )}
            {s.state === "awake" && (
              <Button variant="secondary" busy={sleep.isPending} onClick={() => sleep.mutate({ id })}>
                Sleep now
              </Button>
            )}
            {(s.state === "starting" || s.state === "stopping" || s.state === "creating") && (
              <Button variant="secondary" disabled>
                {stateLabel(s.state)}…
              </Button>
            )}
          </>
        }
      />
      <p aria-live="polite" className="sr-only">
        {announce}
      </p>
      <div className="space-y-6">
        {actionError && <Alert>{errorMessage(actionError)}</Alert>}
        {gone && (
          <Alert tone="amber" title={s.state === "deleted" ? "This satellite was deleted" : "This satellite is being deleted"}>
            Its machine and cache are {s.state === "deleted" ? "gone" : "being destroyed"}; its history stays below.
          </Alert>
        )}
        {s.state === "failed" && (
          <Alert title="The last transition failed">{s.failureReason ?? "No reason was recorded."}</Alert>
        )}
        {s.wakeRequested && s.state === "stopping" && <Alert tone="sky">A build arrived while going to sleep; the satellite wakes again as soon as it is asleep.</Alert>}

        <StatsCards satelliteId={id} />

        {!gone && <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
          <Card title="Overview">
            <dl className="grid grid-cols-2 gap-x-4 gap-y-3 text-sm">
              <Item label="Size">
                {s.size} · {s.specs.vcpu} vCPU · {mib(s.specs.memoryMiB)}
              </Item>
              <Item label="Platform">{s.platform}</Item>
              <Item label="Instance type">{s.provider === "ec2" ? s.specs.instanceType : `${s.specs.instanceType} (local process)`}</Item>
              <Item label="Price while awake">{usd(s.specs.hourlyUsd)}/h</Item>
              <Item label="Sleep mode">{s.hibernate ? "Hibernate (memory kept)" : "Stop"}</Item>
              <Item label="Provider">{s.provider}</Item>
              <Item label="Last used">{relative(s.lastActivityAt, now)}</Item>
              <Item label="Created">{dateTime(s.createdAt)}</Item>
              {s.internal && (
                <Item label="Internal address">
                  {s.internal.upstream ? <code className="font-mono text-xs">{s.internal.upstream}</code> : <span className="text-slate-500">none while not awake</span>}
                  <span className="block text-xs text-slate-500">admins only: the proxy&apos;s mutual-TLS hop, not reachable by clients</span>
                </Item>
              )}
              <Item label="Satellite id">
                <code className="break-all font-mono text-xs">{s.id}</code>
              </Item>
            </dl>
          </Card>
          <ConnectCard name={s.name} orgId={s.connection.orgId} orgSlug={s.connection.orgSlug} address={s.connection.address} earthly={s.connection.earthly} />
        </div>}

        <BuildsTable satelliteId={id} title="Builds" limit={10} />
        {!gone && (
          <div className="grid gap-6 lg:grid-cols-2">
            <CacheCard id={id} state={s.state} canReset={s.role !== "member"} />
            <DaemonLogCard id={id} />
          </div>
        )}
        {!gone && <ClientCertificatesCard satelliteId={id} name={s.name} address={s.connection.address} canManage={s.role !== "member"} />}
        <Timeline satelliteId={id} />
        {!gone && <LimitsCard satellite={s} canEdit={s.role !== "member"} />}
        {!gone && <ScheduleCard satellite={s} />}
        {!gone && s.role !== "member" && <ResizeCard satellite={s} />}
        <EventsTable satelliteId={id} />
        {!gone && s.role !== "member" && <DangerZone satellite={s} />}
      </div>
    </>
  );
}

function Item({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium text-slate-500">{label}</dt>
      <dd className="mt-0.5 text-slate-900">{children}</dd>
    </div>
  );
}

function ConnectCard({ name, orgId, orgSlug, address, earthly: e }: { name: string; orgId: string; orgSlug: string; address: string; earthly: EarthlyConnection }) {
  const earthly = earthlySnippet(name, orgSlug, e);
  const grpcurl = `grpcurl ${e.tls ? "" : "-plaintext "}\\\n  -H 'satellite_name: ${name}' \\\n  -H 'satellite_org: ${orgId}' \\\n  -H "satellite_token: $SATELLITES_TOKEN" \\\n  ${address} grpc.health.v1.Health/Check`;
  return (
    <Card title="Connect" description="Builds reach this satellite through the gRPC proxy; a request wakes it if it is asleep.">
      <dl className="space-y-3">
        <CopyField label="Proxy address" value={address} />
        <CopyField label="Organization id (satellite_org)" value={orgId} />
        <CopyField label="Organization name (EARTHLY_ORG)" value={orgSlug} />
        <CopyField label="Satellite name (satellite_name)" value={name} />
        <div>
          <dt className="text-xs font-medium text-slate-500">Token (satellite_token, EARTHLY_TOKEN)</dt>
          <dd className="mt-1 text-sm text-slate-700">
            An organization API token.{" "}
            <Link href="/tokens" className="font-medium text-indigo-700 hover:underline">
              Create one on the API tokens page
            </Link>
            .
          </dd>
        </div>
      </dl>
      <details className="mt-4 text-sm">
        <summary className="cursor-pointer font-medium text-slate-800">Earthly CLI and grpcurl</summary>
        <p className="mt-2 text-xs text-slate-600">
          The Earthly CLI logs in with the API token, finds the satellite through this install&apos;s Earthly API and wakes it if needed; any gRPC client can instead send the token as metadata.
        </p>
        <div className="mt-2 space-y-2">
          <Snippet label="Earthly CLI (v0.8)" code={earthly} />
          <Snippet label="grpcurl (health check through the proxy)" code={grpcurl} />
        </div>
      </details>
    </Card>
  );
}

function Snippet({ label, code }: { label: string; code: string }) {
  return (
    <div>
      <div className="flex items-center justify-between">
        <span className="text-xs font-medium text-slate-500">{label}</span>
        <CopyButton value={code} label={`Copy ${label}`} />
      </div>
      <pre tabIndex={0} className="mt-1 overflow-x-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100">{code}</pre>
    </div>
  );
}

type SatelliteData = inferRouterOutputs<AppRouter>["satellite"]["get"];

const LIMIT_FIELDS = [
  { key: "cpuPercent", label: "CPU", unit: "% of the machine" },
  { key: "memoryMiB", label: "Memory", unit: "MiB" },
  { key: "swapMiB", label: "Swap", unit: "MiB" },
  { key: "diskGiB", label: "Disk for cache", unit: "GiB" },
  { key: "oomScoreAdj", label: "OOM score adjustment", unit: "for the build daemon; lower is killed later" },
  { key: "idleTimeoutSeconds", label: "Sleep after idle", unit: "seconds" },
] as const;

function rangeOf(key: (typeof LIMIT_FIELDS)[number]["key"], size: string): { min: number; max: number } {
  if (key === "memoryMiB") return { min: 256, max: SIZE_SPECS[size as SizeName]?.memoryMiB ?? 0 };
  return LIMIT_RANGES[key];
}

function LimitsCard({ satellite: s, canEdit }: { satellite: SatelliteData; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Edits live in a draft over the saved values: nothing to re-sync when the row changes.
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  const values: Record<string, string> = Object.fromEntries(LIMIT_FIELDS.map((f) => [f.key, draft[f.key] ?? String(s.limits[f.key])]));
  const setValues = (update: (v: Record<string, string>) => Record<string, string>) => setDraft((d) => update({ ...values, ...d }));
  const save = useMutation(
    trpc.satellite.setLimits.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id: s.id }) });
        setDraft({});
        setSaved(true);
      },
    }),
  );
  const errors: Record<string, string> = {};
  for (const f of LIMIT_FIELDS) {
    const raw = values[f.key];
    const n = Number(raw);
    const r = rangeOf(f.key, s.size);
    if (raw === undefined || raw === "" || !Number.isInteger(n)) errors[f.key] = "Enter a whole number";
    else if (n < r.min || n > r.max) errors[f.key] = `Between ${r.min} and ${r.max}`;
  }
  const changed = LIMIT_FIELDS.some((f) => values[f.key] !== String(s.limits[f.key]));

  function submit(e: FormEvent) {
    e.preventDefault();
    if (Object.keys(errors).length) return;
    setSaved(false);
    save.mutate({ id: s.id, limits: Object.fromEntries(LIMIT_FIELDS.map((f) => [f.key, Number(values[f.key])])) });
  }

  const needsStop = s.provider === "ec2" && s.state === "awake";
  return (
    <Card
      title="Limits"
      description="Keep builds from starving the build daemon: CPU is capped below 100 % so health checks keep running, and the OOM killer picks builds first."
      actions={
        s.limitsPending ? (
          <Badge tone="amber">
            {s.provider === "ec2" ? "Pending: applies at next wake" : s.diskLimitEnforced ? "Pending: being applied (a disk limit change takes effect at the next wake)" : "Pending: being applied"}
          </Badge>
        ) : (
          <Badge tone="green">Applied</Badge>
        )
      }
    >
      {!s.limitsEnforced && (
        <div className="mb-4">
          <Alert tone="amber" title="Limits not enforced">
            This host cannot apply CPU and memory limits to local satellites (no writable cgroups). The values are saved and shown, but builds are not constrained.
          </Alert>
        </div>
      )}
      {needsStop && <p className="mb-3 text-xs text-slate-600">EC2 can only change these on a stopped machine: new values apply at the next wake.</p>}
      {!s.diskLimitEnforced && (
        <p className="mb-3 text-xs text-slate-600">
          The disk limit is saved but not applied: this installation&apos;s local satellites run a program that is not given it ({"{diskGiB}"} or {"{diskMB}"} in LOCAL_SATELLITE_COMMAND).
        </p>
      )}
      <form onSubmit={submit} className="space-y-4">
        <fieldset disabled={!canEdit} className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
          <legend className="sr-only">Limits</legend>
          {LIMIT_FIELDS.map((f) => {
            const r = rangeOf(f.key, s.size);
            return (
              <Field key={f.key} label={f.label} hint={`${f.unit}; ${r.min} – ${r.max}${f.key === "idleTimeoutSeconds" && values[f.key] ? ` (${seconds(Number(values[f.key]) || 0)})` : ""}`} error={errors[f.key]}>
                {(p) => (
                  <Input
                    id={p.id}
                    name={f.key}
                    type="number"
                    inputMode="numeric"
                    min={r.min}
                    max={r.max}
                    step={1}
                    value={values[f.key] ?? ""}
                    onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))}
                    aria-invalid={p.invalid}
                    aria-describedby={p.describedBy}
                  />
                )}
              </Field>
            );
          })}
        </fieldset>
        {save.error && <Alert>{errorMessage(save.error)}</Alert>}
        {saved && !save.error && !changed && (
          <Alert tone="green">{s.limitsPending ? (s.provider === "ec2" ? "Saved. The new limits apply at the next wake." : "Saved. Applying…") : "Saved and applied."}</Alert>
        )}
        {canEdit ? (
          <Button type="submit" busy={save.isPending} disabled={!changed || Object.keys(errors).length > 0}>
            Save limits
          </Button>
        ) : (
          <p className="text-xs text-slate-500">Only admins and owners can change limits.</p>
        )}
      </form>
    </Card>
  );
}

function ResizeCard({ satellite: s }: { satellite: SatelliteData }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [size, setSize] = useState<string>(s.size);
  const [platform, setPlatform] = useState<string>(s.platform);
  const [force, setForce] = useState(false);
  const update = useMutation(trpc.satellite.update.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id: s.id }) }) }));
  const changed = size !== s.size || platform !== s.platform;
  return (
    <Card title="Size and platform" description="Changing them needs the satellite asleep: the machine is stopped, changed, and wakes on the next build.">
      <form
        className="flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          update.mutate({ id: s.id, size: size as "medium", platform: platform as "amd64", force });
        }}
      >
        <div className="w-64">
          <Field label="Size">
            {(p) => (
              <Select id={p.id} value={size} onChange={(e) => setSize(e.target.value)}>
                {Object.entries(SIZE_SPECS).map(([k, v]) => (
                  <option key={k} value={k}>
                    {k} ({v.vcpu} vCPU, {mib(v.memoryMiB)})
                  </option>
                ))}
              </Select>
            )}
          </Field>
        </div>
        <div className="w-32">
          <Field label="Platform">
            {(p) => (
              <Select id={p.id} value={platform} onChange={(e) => setPlatform(e.target.value)}>
                <option value="amd64">amd64</option>
                <option value="arm64">arm64</option>
              </Select>
            )}
          </Field>
        </div>
        {s.state === "awake" && (
          <label className="flex items-center gap-2 pb-2 text-sm">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            Put it to sleep first
          </label>
        )}
        <Button type="submit" variant="secondary" busy={update.isPending} disabled={!changed || (s.state === "awake" && !force)}>
          Change size
        </Button>
      </form>
      {changed && s.state === "awake" && !force && <p className="mt-3 text-xs text-slate-600">It is awake: tick “Put it to sleep first” to change it now (a running build keeps it awake and cancels the change).</p>}
      {platform !== s.platform && <p className="mt-3 text-xs text-slate-500">A new platform needs a new machine: its build cache starts empty.</p>}
      {update.error && (
        <div className="mt-3">
          <Alert>{refusalInWords(update.error, "Change size")}</Alert>
        </div>
      )}
    </Card>
  );
}

function DangerZone({ satellite: s }: { satellite: SatelliteData }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [force, setForce] = useState(false);
  const del = useMutation(
    trpc.satellite.delete.mutationOptions({
      onSuccess: () => {
        // Leave first: re-reading this satellite could race its deletion into a 404.
        setOpen(false);
        router.push("/satellites");
        void queryClient.invalidateQueries({ queryKey: trpc.satellite.list.pathKey() });
      },
    }),
  );
  return (
    <Card title="Delete satellite" description="Terminates the machine and its build cache. History stays available on the History page.">
      <Button variant="danger" onClick={() => setOpen(true)} disabled={s.state === "deleting"}>
        Delete satellite
      </Button>
      <Dialog open={open} onClose={() => setOpen(false)} title="Delete this satellite?">
        <p className="text-sm text-slate-600">The machine and its cache are destroyed. This cannot be undone.</p>
        {s.state === "awake" && (
          <label className="mt-3 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            It is awake: delete anyway, interrupting running builds
          </label>
        )}
        {del.error && (
          <div className="mt-3">
            <Alert>{refusalInWords(del.error, "Delete")}</Alert>
          </div>
        )}
        <div className="mt-5 flex justify-end gap-2">
          <Button variant="secondary" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button variant="danger" busy={del.isPending} disabled={s.state === "awake" && !force} onClick={() => del.mutate({ id: s.id, force })}>
            Delete
          </Button>
        </div>
      </Dialog>
    </Card>
  );
}
