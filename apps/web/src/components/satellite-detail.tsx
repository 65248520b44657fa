"use client";
// One satellite: live state with wake/sleep, how to connect, figures, limits, size, history.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { dateTime, duration, mib, relative, seconds, usd } from "@/lib/format.ts";
import { errorMessage, lastError, useTRPC } from "@/lib/trpc.tsx";
import { BuildsTable } from "./builds.tsx";
import { EventsTable } from "./events-table.tsx";
import { StatsCards, Timeline } from "./history.tsx";
import { useLiveSatellites } from "./live.ts";
import { DaemonLogCard } from "./daemon-log.tsx";
import { CacheCard } from "./satellite-cache.tsx";
import { ClientCertificatesCard } from "./satellite-certificates.tsx";
import { ConnectCard } from "./satellite-connect.tsx";
import type { SatelliteData } from "./satellite-data.ts";
import { DangerZone } from "./satellite-delete.tsx";
import { LimitsCard } from "./satellite-limits.tsx";
import { ResizeCard } from "./satellite-resize.tsx";
import { ScheduleCard } from "./satellite-schedule.tsx";
import { StateBadge, stateLabel, TRANSITIONAL } from "./state.tsx";
import { Alert, Button, Card, ErrorState, PageHeader, Spinner, useNow } from "./ui.tsx";

export function SatelliteDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const now = useNow(1000);
  // Limits being applied are not a state change (no announcement): poll until they are.
  const sat = useQuery(trpc.satellite.get.queryOptions({ id }, { refetchInterval: (q) => (q.state.data?.limitsPending && q.state.data.provider !== "ec2" ? 2000 : false) }));
  const [announce, setAnnounce] = useState("");
  useLiveSatellites({ id }, (e) => setAnnounce(`Satellite is now ${stateLabel(e.to as never).toLowerCase()}`));
  const actions = useWakeSleep(id);

  if (sat.isLoading) return <Spinner label="Loading satellite…" />;
  if (sat.error || !sat.data) return <ErrorState error={errorMessage(sat.error)} retry={() => void sat.refetch()} />;
  const s = sat.data;
  const gone = s.state === "deleted" || s.state === "deleting";
  const admin = s.role !== "member";

  return (
    <>
      <nav aria-label="Breadcrumb" className="mb-2 text-sm text-slate-500 wrap-anywhere">
        <Link href="/satellites" className="hover:underline">
          Satellites
        </Link>{" "}
        / <span aria-current="page">{s.name}</span>
      </nav>
      <SatelliteHeader satellite={s} now={now} actions={actions} />
      <p aria-live="polite" className="sr-only">
        {announce}
      </p>
      <div className="space-y-6">
        <SatelliteNotices satellite={s} actionError={lastError(actions.wake, actions.sleep)} />
        <StatsCards satelliteId={id} />
        {!gone && (
          <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
            <OverviewCard satellite={s} now={now} />
            <ConnectCard name={s.name} orgId={s.connection.orgId} orgSlug={s.connection.orgSlug} address={s.connection.address} earthly={s.connection.earthly} />
          </div>
        )}
        <BuildsTable satelliteId={id} title="Builds" limit={10} />
        {!gone && (
          <div className="grid gap-6 lg:grid-cols-2">
            <CacheCard id={id} state={s.state} canReset={admin} />
            <DaemonLogCard id={id} />
          </div>
        )}
        {!gone && <ClientCertificatesCard satelliteId={id} name={s.name} address={s.connection.address} canManage={admin} />}
        <Timeline satelliteId={id} />
        {!gone && <LimitsCard satellite={s} canEdit={admin} />}
        {!gone && <ScheduleCard satellite={s} />}
        {!gone && admin && <ResizeCard satellite={s} />}
        <EventsTable satelliteId={id} />
        {!gone && admin && <DangerZone satellite={s} />}
      </div>
    </>
  );
}

/** The wake and sleep buttons' mutations; either re-reads the satellite when accepted. */
function useWakeSleep(id: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id }) });
  return {
    wake: useMutation(trpc.satellite.wake.mutationOptions({ onSuccess: refresh })),
    sleep: useMutation(trpc.satellite.sleep.mutationOptions({ onSuccess: refresh })),
  };
}

/** Name and state, how long it has been in it (live while it changes), and the action it allows. */
function SatelliteHeader({ satellite: s, now, actions: { wake, sleep } }: { satellite: SatelliteData; now: number; actions: ReturnType<typeof useWakeSleep> }) {
  const elapsed = now - new Date(s.stateChangedAt).getTime();
  return (
    <PageHeader
      title={
        <span className="flex flex-wrap items-center gap-3">
          {s.name} <StateBadge state={s.state} />
        </span>
      }
      description={
        TRANSITIONAL.has(s.state) ? (
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
            <Button busy={wake.isPending} onClick={() => wake.mutate({ id: s.id })}>
              {s.state === "failed" ? "Retry wake" : "Wake"}
            </Button>
          )}
          {s.state === "awake" && (
            <Button variant="secondary" busy={sleep.isPending} onClick={() => sleep.mutate({ id: s.id })}>
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
  );
}

/** Why the last action failed, and what the satellite's state means for the user right now. */
function SatelliteNotices({ satellite: s, actionError }: { satellite: SatelliteData; actionError: unknown }) {
  return (
    <>
      {actionError ? <Alert>{errorMessage(actionError)}</Alert> : null}
      {(s.state === "deleted" || s.state === "deleting") && (
        <Alert tone="amber" title={s.state === "deleted" ? "This satellite was deleted" : "This satellite is being deleted"}>
          Its machine and cache are {s.state === "deleted" ? "gone" : "being destroyed"}; its history stays below.
        </Alert>
      )}
      {s.state === "failed" && <Alert title="The last transition failed">{s.failureReason ?? "No reason was recorded."}</Alert>}
      {s.wakeRequested && s.state === "stopping" && <Alert tone="sky">A build arrived while going to sleep; the satellite wakes again as soon as it is asleep.</Alert>}
    </>
  );
}

function OverviewCard({ satellite: s, now }: { satellite: SatelliteData; now: number }) {
  return (
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
