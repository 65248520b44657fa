"use client";
// Organization-level pages: history, API tokens, members and invitations, settings.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { dateTime, relative } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import { EventsTable, StatsCards } from "./history.tsx";
import { useLiveSatellites } from "./live.ts";
import { type Role, useOrg } from "./shell.tsx";
import { Alert, Badge, Button, Card, CopyButton, CopyField, Dialog, EmptyState, ErrorState, Field, Input, PageHeader, Select, Spinner, useNow } from "./ui.tsx";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";

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

export function TokensPage() {
  const { orgId, orgName } = useOrg();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow(30_000);
  const tokens = useQuery(trpc.token.list.queryOptions({ orgId }));
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("90");
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: trpc.token.list.pathKey() });
  const create = useMutation(
    trpc.token.create.mutationOptions({
      onSuccess: (t) => {
        setCreated({ name: t.name, token: t.token });
        setName("");
        invalidate();
      },
    }),
  );
  const revoke = useMutation(trpc.token.revoke.mutationOptions({ onSuccess: () => (setRevoking(null), invalidate()) }));

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ orgId, name, expiresInDays: expiry === "never" ? null : Number(expiry) });
  }

  return (
    <>
      <PageHeader
        title="API tokens"
        description={`Tokens let scripts, CI and the Earthly CLI act for ${orgName}: send one as "Authorization: Bearer …" to the API, or as satellite_token to the proxy. A token has its creator's role.`}
      />
      <div className="space-y-6">
        <Card title="Create a token">
          <form onSubmit={submit} className="flex flex-wrap items-end gap-4">
            <div className="min-w-56 flex-1">
              <Field label="Token name" hint={`What uses it, e.g. “GitHub Actions”; up to ${FIELD_LIMITS.tokenName.max} characters`} error={tooLong("The name", name, FIELD_LIMITS.tokenName.max)}>
                {(p) => <Input id={p.id} value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
              </Field>
            </div>
            <div className="w-40">
              <Field label="Expires">
                {(p) => (
                  <Select id={p.id} value={expiry} onChange={(e) => setExpiry(e.target.value)}>
                    <option value="7">in 7 days</option>
                    <option value="30">in 30 days</option>
                    <option value="90">in 90 days</option>
                    <option value="365">in 1 year</option>
                    <option value="never">never</option>
                  </Select>
                )}
              </Field>
            </div>
            <Button type="submit" busy={create.isPending} disabled={!name.trim() || Boolean(tooLong("", name, FIELD_LIMITS.tokenName.max))}>
              Create token
            </Button>
          </form>
          {create.error && (
            <div className="mt-3">
              <Alert>{errorMessage(create.error)}</Alert>
            </div>
          )}
          {created && (
            <div className="mt-4 rounded-md bg-emerald-50 p-4 ring-1 ring-emerald-200" role="status">
              <p className="text-sm font-semibold text-emerald-900">Token “{created.name}” created. Copy it now: it is not shown again.</p>
              <dl className="mt-2">
                <CopyField label="New token" value={created.token} />
              </dl>
              <Button variant="ghost" className="mt-2 text-xs" onClick={() => setCreated(null)}>
                I have copied it
              </Button>
            </div>
          )}
        </Card>

        <Card title="Tokens">
          {tokens.isLoading ? (
            <Spinner label="Loading tokens…" />
          ) : tokens.error ? (
            <ErrorState error={errorMessage(tokens.error)} retry={isRetryable(tokens.error) ? () => void tokens.refetch() : undefined} />
          ) : tokens.data!.length === 0 ? (
            <EmptyState title="No tokens yet">Create one above for your CI or the Earthly CLI.</EmptyState>
          ) : (
            <div className="overflow-x-auto">
              <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="API tokens">
                <thead className="text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
                  <tr>
                    {/* Name, status and the revoke button stay on a phone; the rest gives way. */}
                    <th scope="col" className="py-2 pr-4">Name</th>
                    <th scope="col" className="hidden py-2 pr-4 sm:table-cell">Token</th>
                    <th scope="col" className="hidden py-2 pr-4 lg:table-cell">Created by</th>
                    <th scope="col" className="hidden py-2 pr-4 md:table-cell">Last used</th>
                    <th scope="col" className="hidden py-2 pr-4 lg:table-cell">Expires</th>
                    <th scope="col" className="py-2 pr-4">Status</th>
                    <th scope="col" className="py-2"><span className="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {tokens.data!.map((t) => (
                    <tr key={t.id} data-token={t.name}>
                      <td className="py-2 pr-4 font-medium">
                        <span className="block max-w-[40vw] break-all lg:max-w-xs">{t.name}</span>
                      </td>
                      <td className="hidden py-2 pr-4 font-mono text-xs whitespace-nowrap sm:table-cell">{t.prefix}…</td>
                      <td className="hidden py-2 pr-4 lg:table-cell">{t.createdBy?.name ?? "(removed)"}</td>
                      <td className="hidden py-2 pr-4 whitespace-nowrap md:table-cell">{relative(t.lastUsedAt, now)}</td>
                      <td className="hidden py-2 pr-4 lg:table-cell">{t.expiresAt ? dateTime(t.expiresAt) : "never"}</td>
                      <td className="py-2 pr-4">
                        <Badge tone={t.status === "active" ? "green" : t.status === "expired" ? "amber" : "slate"}>{t.status}</Badge>
                      </td>
                      <td className="py-2 text-right">
                        {t.canRevoke && (
                          <Button variant="secondary" className="px-2 py-1 text-xs" onClick={() => setRevoking({ id: t.id, name: t.name })} aria-label={`Revoke token ${t.name}`}>
                            Revoke
                          </Button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      </div>
      <Dialog open={revoking !== null} onClose={() => setRevoking(null)} title={`Revoke “${revoking?.name ?? ""}”?`}>
        <p className="text-sm text-slate-600">Anything using this token — the API and builds through the proxy — is refused from now on.</p>
        {revoke.error && (
          <div className="mt-3">
            <Alert>{errorMessage(revoke.error)}</Alert>
          </div>
        )}
        <div className="mt-5 flex justify-end gap-2">
          <Button variant="secondary" onClick={() => setRevoking(null)}>
            Cancel
          </Button>
          <Button variant="danger" busy={revoke.isPending} onClick={() => revoking && revoke.mutate({ id: revoking.id })}>
            Revoke token
          </Button>
        </div>
      </Dialog>
    </>
  );
}

const ROLE_TEXT: Record<Role, string> = {
  owner: "Owner — everything, including deleting the organization",
  admin: "Admin — satellites, limits, members and tokens",
  member: "Member — use, wake and sleep satellites",
};

export function MembersPage() {
  const { orgId, orgName, role, isAdmin } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.member.list.queryOptions({ orgId }));
  const invitations = useQuery({ ...trpc.member.invitations.queryOptions({ orgId }), enabled: isAdmin });
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: trpc.member.pathKey() });
  const [email, setEmail] = useState("");
  const [inviteRole, setInviteRole] = useState<Role>("member");
  const [link, setLink] = useState<string | null>(null);
  const [already, setAlready] = useState<{ email: string; invitedAt: string; expiresAt: string } | null>(null);
  const invite = useMutation(
    trpc.member.invite.mutationOptions({
      onSuccess: (i) => {
        if (i.status === "already-invited") setAlready({ email: i.email, invitedAt: i.invitedAt, expiresAt: i.expiresAt });
        else setLink(i.link);
        setEmail("");
        invalidate();
      },
    }),
  );
  const cancel = useMutation(trpc.member.cancelInvitation.mutationOptions({ onSuccess: invalidate }));
  const [roleChanged, setRoleChanged] = useState<string | null>(null);
  const updateRole = useMutation(
    trpc.member.updateRole.mutationOptions({
      onMutate: () => setRoleChanged(null),
      onSuccess: (r) => {
        const who = members.data?.find((m) => m.id === r.id)?.name ?? "The member";
        setRoleChanged(`${who} is now ${r.role === "admin" ? "an admin" : `a ${r.role}`}. Their open pages follow within seconds.`);
        invalidate();
      },
    }),
  );
  const remove = useMutation(trpc.member.remove.mutationOptions({ onSuccess: invalidate }));
  const leave = useMutation(trpc.member.leave.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  const error = invite.error ?? cancel.error ?? updateRole.error ?? remove.error ?? leave.error;

  return (
    <>
      <PageHeader title="Members" description={`People in ${orgName} and what they may do.`} />
      <div className="space-y-6">
        {error && <Alert>{errorMessage(error)}</Alert>}
        {roleChanged && !updateRole.error && <Alert tone="green">{roleChanged}</Alert>}
        {isAdmin && (
          <Card title="Invite someone" description="We mail them a link (or keep it in the outbox). Whoever opens the link can join, so send it only to them; they can also accept after verifying this address.">
            <form
              className="flex flex-wrap items-end gap-4"
              onSubmit={(e) => {
                e.preventDefault();
                setLink(null);
                setAlready(null);
                invite.mutate({ orgId, email, role: inviteRole });
              }}
            >
              <div className="min-w-56 flex-1">
                <Field label="Email">{(p) => <Input id={p.id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />}</Field>
              </div>
              <div className="w-40">
                <Field label="Role">
                  {(p) => (
                    <Select id={p.id} value={inviteRole} onChange={(e) => setInviteRole(e.target.value as Role)}>
                      <option value="member">Member</option>
                      <option value="admin">Admin</option>
                      {role === "owner" && <option value="owner">Owner</option>}
                    </Select>
                  )}
                </Field>
              </div>
              <Button type="submit" busy={invite.isPending}>
                Invite
              </Button>
            </form>
            {link && (
              <div className="mt-4 rounded-md bg-emerald-50 p-4 ring-1 ring-emerald-200" role="status">
                <p className="text-sm text-emerald-900">Invitation created and mailed. This link is shown only now; send it only to them:</p>
                <dl className="mt-2">
                  <CopyField label="Invitation link" value={link} />
                </dl>
              </div>
            )}
            {already && (
              <div className="mt-4" role="status">
                <Alert tone="amber">
                  {already.email} already has a pending invitation (sent {dateTime(already.invitedAt)}, valid until {dateTime(already.expiresAt)}); its link still works. To send a new link, cancel that invitation below and invite again.
                </Alert>
              </div>
            )}
          </Card>
        )}

        <Card title="Members">
          {members.isLoading ? (
            <Spinner label="Loading members…" />
          ) : members.error ? (
            <ErrorState error={errorMessage(members.error)} />
          ) : (
            <ul className="divide-y divide-slate-100">
              {members.data!.map((m) => (
                <li key={m.id} className="flex flex-wrap items-center justify-between gap-3 py-3">
                  <div className="min-w-0">
                    <p className="text-sm font-medium text-slate-900">
                      {m.name} {m.isYou && <span className="text-xs font-normal text-slate-500">(you)</span>}
                    </p>
                    <p className="text-xs text-slate-500">
                      {m.email} · joined {dateTime(m.joinedAt)}
                    </p>
                  </div>
                  <div className="flex items-center gap-2">
                    {isAdmin && !m.isYou && (role === "owner" || m.role !== "owner") ? (
                      <>
                        <label className="sr-only" htmlFor={`role-${m.id}`}>
                          Role of {m.name}
                        </label>
                        <Select id={`role-${m.id}`} className="w-32 py-1 text-xs" value={m.role} disabled={updateRole.isPending} onChange={(e) => updateRole.mutate({ memberId: m.id, role: e.target.value as Role })}>
                          <option value="member">Member</option>
                          <option value="admin">Admin</option>
                          {role === "owner" && <option value="owner">Owner</option>}
                        </Select>
                        <Button variant="secondary" className="px-2 py-1 text-xs" busy={remove.isPending && remove.variables?.memberId === m.id} onClick={() => remove.mutate({ memberId: m.id })} aria-label={`Remove ${m.name}`}>
                          Remove
                        </Button>
                      </>
                    ) : (
                      <Badge tone={m.role === "owner" ? "indigo" : m.role === "admin" ? "sky" : "slate"}>{m.role}</Badge>
                    )}
                  </div>
                </li>
              ))}
            </ul>
          )}
          <ul className="mt-4 space-y-1 text-xs text-slate-500">
            {(Object.keys(ROLE_TEXT) as Role[]).map((r) => (
              <li key={r}>{ROLE_TEXT[r]}</li>
            ))}
          </ul>
        </Card>

        {isAdmin && (
          <Card title="Pending invitations">
            {invitations.isLoading ? (
              <Spinner label="Loading invitations…" />
            ) : !invitations.data?.length ? (
              <p className="text-sm text-slate-500">No pending invitations.</p>
            ) : (
              <ul className="divide-y divide-slate-100">
                {invitations.data.map((i) => (
                  <li key={i.id} className="flex flex-wrap items-center justify-between gap-3 py-2 text-sm">
                    <span>
                      {i.email} as {i.role} <span className="text-xs text-slate-500">· invited by {i.invitedBy}, expires {dateTime(i.expiresAt)}</span>
                    </span>
                    <span className="flex gap-2">
                      <CopyButton value={`${typeof window === "undefined" ? "" : window.location.origin}/invitations/${i.id}`} label={`Copy invitation link for ${i.email}`} />
                      <Button variant="secondary" className="px-2 py-1 text-xs" onClick={() => cancel.mutate({ invitationId: i.id })} aria-label={`Cancel invitation for ${i.email}`}>
                        Cancel
                      </Button>
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </Card>
        )}

        <Card title="Leave organization">
          <p className="mb-3 text-sm text-slate-600">Your API tokens for {orgName} are revoked when you leave.</p>
          <Button variant="secondary" busy={leave.isPending} onClick={() => leave.mutate({ orgId })}>
            Leave {orgName}
          </Button>
        </Card>
      </div>
    </>
  );
}

export function SettingsPage() {
  const { orgId, orgName, role, isAdmin } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const org = useQuery(trpc.org.get.queryOptions({ orgId }));
  const [name, setName] = useState(orgName);
  const [newOrg, setNewOrg] = useState("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const refresh = () => router.refresh();
  const rename = useMutation(trpc.org.update.mutationOptions({ onSuccess: refresh }));
  const create = useMutation(trpc.org.create.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  const del = useMutation(trpc.org.delete.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));

  return (
    <>
      <PageHeader title="Settings" description="The organization, and where builds connect." />
      <div className="space-y-6">
        <Card title="Organization">
          {org.data && (
            <dl className="mb-4 grid gap-3 sm:grid-cols-2">
              <CopyField label="Organization id (satellite_org)" value={org.data.id} />
              <CopyField label="Proxy address" value={org.data.proxyAddress} />
            </dl>
          )}
          {org.data && (
            <p className="mb-4 text-sm text-slate-600" data-testid="quota">
              Quota (set by the instance admin): {org.data.usage.satellites} of {org.data.quota.satellites ?? "unlimited"} satellites, {org.data.usage.vcpu} of {org.data.quota.vcpu ?? "unlimited"} vCPUs, largest size {org.data.quota.largestSize ?? "any"}.
            </p>
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
          {rename.error && <div className="mt-3"><Alert>{errorMessage(rename.error)}</Alert></div>}
        </Card>

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
          {create.error && <div className="mt-3"><Alert>{errorMessage(create.error)}</Alert></div>}
        </Card>

        {role === "owner" && (
          <Card title="Delete organization" description="Only possible once all of its satellites are deleted.">
            <Button variant="danger" onClick={() => setConfirmDelete(true)}>
              Delete {orgName}
            </Button>
            <Dialog open={confirmDelete} onClose={() => setConfirmDelete(false)} title={`Delete ${orgName}?`}>
              <p className="text-sm text-slate-600">Members, invitations, tokens and history are deleted with it.</p>
              {del.error && <div className="mt-3"><Alert>{errorMessage(del.error)}</Alert></div>}
              <div className="mt-5 flex justify-end gap-2">
                <Button variant="secondary" onClick={() => setConfirmDelete(false)}>
                  Cancel
                </Button>
                <Button variant="danger" busy={del.isPending} onClick={() => del.mutate({ orgId })}>
                  Delete organization
                </Button>
              </div>
            </Dialog>
          </Card>
        )}
      </div>
    </>
  );
}
