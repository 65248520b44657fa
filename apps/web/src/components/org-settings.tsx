"use client";
// The organization's settings: its id and proxy address, its quota, renaming it, creating
// another organization, and deleting it (owner only).
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { useOrg } from "./shell.tsx";
import { Alert, Button, Card, ConfirmDialog, CopyField, Field, Input, PageHeader } from "./ui.tsx";

export function SettingsPage() {
  const { role } = useOrg();
  return (
    <>
      <PageHeader title="Settings" description="The organization, and where builds connect." />
      <div className="space-y-6">
        <OrganizationCard />
        <CreateOrgCard />
        {role === "owner" && <DeleteOrgCard />}
      </div>
    </>
  );
}

/** Below a form: the error of its mutation, if any. */
function MutationError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div className="mt-3">
      <Alert>{errorMessage(error)}</Alert>
    </div>
  );
}

function OrganizationCard() {
  const { orgId, orgName, isAdmin } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const org = useQuery(trpc.org.get.queryOptions({ orgId }));
  const [name, setName] = useState(orgName);
  const rename = useMutation(trpc.org.update.mutationOptions({ onSuccess: () => router.refresh() }));
  return (
    <Card title="Organization">
      {org.data && (
        <>
          <dl className="mb-4 grid gap-3 sm:grid-cols-2">
            <CopyField label="Organization id (satellite_org)" value={org.data.id} />
            <CopyField label="Proxy address" value={org.data.proxyAddress} />
          </dl>
          <p className="mb-4 text-sm text-slate-600" data-testid="quota">
            Quota (set by the instance admin): {org.data.usage.satellites} of {org.data.quota.satellites ?? "unlimited"} satellites, {org.data.usage.vcpu} of {org.data.quota.vcpu ?? "unlimited"} vCPUs, largest size {org.data.quota.largestSize ?? "any"}.
          </p>
        </>
      )}
      <form
        className="flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          rename.mutate({ orgId, name });
        }}
      >
        <div className="min-w-56 flex-1">
          <Field label="Name" error={tooLong("The name", name, FIELD_LIMITS.orgName.max)}>
            {(p) => <Input id={p.id} value={name} onChange={(e) => setName(e.target.value)} disabled={!isAdmin} required minLength={FIELD_LIMITS.orgName.min} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
          </Field>
        </div>
        {isAdmin && (
          <Button type="submit" variant="secondary" busy={rename.isPending} disabled={name.trim() === orgName || Boolean(tooLong("", name, FIELD_LIMITS.orgName.max))}>
            Rename
          </Button>
        )}
      </form>
      <MutationError error={rename.error} />
    </Card>
  );
}

function CreateOrgCard() {
  const trpc = useTRPC();
  const router = useRouter();
  const [newOrg, setNewOrg] = useState("");
  const create = useMutation(trpc.org.create.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  return (
    <Card title="Create another organization" description="For another team; you become its owner.">
      <form
        className="flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ name: newOrg });
        }}
      >
        <div className="min-w-56 flex-1">
          <Field label="Organization name" error={tooLong("The name", newOrg, FIELD_LIMITS.orgName.max)}>
            {(p) => <Input id={p.id} value={newOrg} onChange={(e) => setNewOrg(e.target.value)} required minLength={FIELD_LIMITS.orgName.min} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
          </Field>
        </div>
        <Button type="submit" variant="secondary" busy={create.isPending} disabled={Boolean(tooLong("", newOrg, FIELD_LIMITS.orgName.max))}>
          Create organization
        </Button>
      </form>
      <MutationError error={create.error} />
    </Card>
  );
}

function DeleteOrgCard() {
  const { orgId, orgName } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const [confirming, setConfirming] = useState(false);
  const del = useMutation(trpc.org.delete.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  return (
    <Card title="Delete organization" description="Only possible once all of its satellites are deleted.">
      <Button variant="danger" onClick={() => setConfirming(true)}>
        Delete {orgName}
      </Button>
      <ConfirmDialog
        open={confirming}
        onClose={() => setConfirming(false)}
        title={`Delete ${orgName}?`}
        confirm="Delete organization"
        busy={del.isPending}
        error={del.error && errorMessage(del.error)}
        onConfirm={() => del.mutate({ orgId })}
      >
        Members, invitations, tokens and history are deleted with it.
      </ConfirmDialog>
    </Card>
  );
}
