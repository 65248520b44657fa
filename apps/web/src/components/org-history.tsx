"use client";
// The organization's history page: every sleep and wake of its satellites.
import { EventsTable } from "./events-table.tsx";
import { StatsCards } from "./history.tsx";
import { useLiveSatellites } from "./live.ts";
import { useOrg } from "./shell.tsx";
import { PageHeader } from "./ui.tsx";

export function OrgHistory() {
  const { orgId, orgName } = useOrg();
  useLiveSatellites({ orgId });
  return (
    <>
      <PageHeader title="History" description={`Every sleep and wake of ${orgName}'s satellites, and what sleeping saved.`} />
      <div className="space-y-6">
        <StatsCards orgId={orgId} />
        <EventsTable orgId={orgId} showSatellite />
      </div>
    </>
  );
}
