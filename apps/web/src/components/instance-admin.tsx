"use client";
// The instance admin's page: quotas per organization, and the outbox of mail kept instead of
// sent when no SMTP server is configured.
import { SIZES } from "@satellites/catalog";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { dateTime } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { Alert, Button, Card, EmptyState, ErrorState, Field, Input, PageHeader, Select, Spinner } from "./ui.tsx";

type Quota = { satellites: number | null; vcpu: number | null; largestSize: string | null };

function QuotaForm({ orgId, quota }: { orgId: string; quota: Quota }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [satellites, setSatellites] = useState(quota.satellites?.toString() ?? "");
  const [vcpu, setVcpu] = useState(quota.vcpu?.toString() ?? "");
  const [largest, setLargest] = useState(quota.largestSize ?? "");
  const save = useMutation(trpc.admin.setQuota.mutationOptions({ onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.admin.orgs.queryKey() }) }));
  const num = (v: string) => (v.trim() === "" ? null : Number(v));
  return (
    <form
      className="flex flex-wrap items-end gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate({ orgId, satellites: num(satellites), vcpu: num(vcpu), largestSize: (largest || null) as (typeof SIZES)[number] | null });
      }}
    >
      <div className="w-32">
        <Field label="Satellites" hint="empty: no limit">{(p) => <Input id={p.id} type="number" min={0} value={satellites} onChange={(e) => setSatellites(e.target.value)} />}</Field>
      </div>
      <div className="w-32">
        <Field label="Total vCPUs" hint="empty: no limit">{(p) => <Input id={p.id} type="number" min={0} value={vcpu} onChange={(e) => setVcpu(e.target.value)} />}</Field>
      </div>
      <div className="w-36">
        <Field label="Largest size">
          {(p) => (
            <Select id={p.id} value={largest} onChange={(e) => setLargest(e.target.value)}>
              <option value="">any</option>
              {SIZES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </Select>
          )}
        </Field>
      </div>
      <Button type="submit" variant="secondary" busy={save.isPending}>
        Save quota
      </Button>
      {save.error && <Alert>{errorMessage(save.error)}</Alert>}
    </form>
  );
}

export function InstanceAdmin() {
  const trpc = useTRPC();
  const me = useQuery(trpc.admin.me.queryOptions());
  const orgs = useQuery({ ...trpc.admin.orgs.queryOptions(), enabled: me.data?.instanceAdmin === true });
  const outbox = useQuery({ ...trpc.admin.outbox.queryOptions({ limit: 50 }), enabled: me.data?.instanceAdmin === true });

  if (me.isLoading) return <Spinner label="Loading…" />;
  if (me.error) return <ErrorState error={errorMessage(me.error)} retry={() => void me.refetch()} />;
  if (!me.data?.instanceAdmin) return <Alert tone="amber">Only the instance admin (the first account) can open this page.</Alert>;
  return (
    <>
      <PageHeader title="Instance" description="Quotas per organization, and mail kept in the outbox." />
      <div className="space-y-6">
        <Card title="Quotas" description="Enforced when satellites are created or resized, from the dashboard, the API and the Earthly CLI.">
          {orgs.isLoading && <Spinner label="Loading organizations…" />}
          {orgs.error && <ErrorState error={errorMessage(orgs.error)} retry={() => void orgs.refetch()} />}
          <ul className="space-y-6">
            {orgs.data?.map((o) => (
              <li key={o.id}>
                <h3 className="text-sm font-semibold">
                  {o.name} <span className="font-normal text-slate-500">· uses {o.usage.satellites} satellites, {o.usage.vcpu} vCPUs</span>
                </h3>
                <div className="mt-2">
                  <QuotaForm orgId={o.id} quota={o.quota} />
                </div>
              </li>
            ))}
          </ul>
        </Card>
        <Card title="Outbox" description="With no SMTP_URL configured, mail is kept here instead of sent: pass the links on yourself.">
          {outbox.isLoading && <Spinner label="Loading the outbox…" />}
          {outbox.error && <ErrorState error={errorMessage(outbox.error)} retry={() => void outbox.refetch()} />}
          {outbox.data?.length === 0 && <EmptyState title="No mail kept" />}
          <ul className="divide-y divide-slate-100">
            {outbox.data?.map((m) => (
              <li key={m.id} className="py-3 text-sm">
                <p>
                  <strong>{m.subject}</strong> → {m.to} <span className="text-slate-500">· {dateTime(m.createdAt)}</span>
                </p>
                <pre className="mt-1 whitespace-pre-wrap break-all text-xs text-slate-700">{m.text}</pre>
              </li>
            ))}
          </ul>
        </Card>
      </div>
    </>
  );
}
