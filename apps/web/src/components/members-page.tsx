"use client";
// The organization's members: invite someone (the link shown once), change roles, remove
// members, cancel invitations, leave. Removing and leaving ask first (tokens and certificates are
// revoked, which cannot be undone) and show their error in that dialog; the error of the last other
// action asked for shows at the top of the page.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { dateTime } from "@/lib/format.ts";
import { errorMessage, lastError, useTRPC } from "@/lib/trpc.tsx";
import { type Role, useOrg } from "./shell.tsx";
import { Alert, Badge, Button, Card, ConfirmDialog, CopyButton, CopyField, ErrorState, Field, Input, PageHeader, Select, Spinner } from "./ui.tsx";

const ROLE_TEXT: Record<Role, string> = {
  owner: "Owner — everything, including deleting the organization",
  admin: "Admin — satellites, limits, members and tokens",
  member: "Member — use, wake and sleep satellites",
};

/** The page's mutations, each refreshing the member queries when it succeeds. */
function useMemberActions(onRoleChanged: (text: string | null) => void) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: trpc.member.pathKey() });
  return {
    invite: useMutation(trpc.member.invite.mutationOptions({ onSuccess: invalidate })),
    cancel: useMutation(trpc.member.cancelInvitation.mutationOptions({ onSuccess: invalidate })),
    updateRole: useMutation(
      trpc.member.updateRole.mutationOptions({
        onMutate: () => onRoleChanged(null),
        onSuccess: invalidate,
      }),
    ),
    remove: useMutation(trpc.member.remove.mutationOptions({ onSuccess: invalidate })),
    leave: useMutation(trpc.member.leave.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) })),
  };
}
type MemberActions = ReturnType<typeof useMemberActions>;

export function MembersPage() {
  const { orgId, orgName, isAdmin } = useOrg();
  const [roleChanged, setRoleChanged] = useState<string | null>(null);
  const actions = useMemberActions(setRoleChanged);
  const { invite, cancel, updateRole, leave } = actions;
  const [leaving, setLeaving] = useState(false);
  const error = lastError(invite, cancel, updateRole);

  return (
    <>
      <PageHeader title="Members" description={`People in ${orgName} and what they may do.`} />
      <div className="space-y-6">
        {error && <Alert>{errorMessage(error)}</Alert>}
        {roleChanged && !updateRole.error && <Alert tone="green">{roleChanged}</Alert>}
        {isAdmin && <InviteCard invite={invite} />}
        <MembersCard actions={actions} onRoleChanged={setRoleChanged} />
        {isAdmin && <InvitationsCard cancel={cancel} />}
        <Card title="Leave organization">
          <p className="mb-3 text-sm text-slate-600">Your API tokens for {orgName} are revoked when you leave.</p>
          <Button variant="secondary" onClick={() => (leave.reset(), setLeaving(true))}>
            Leave {orgName}
          </Button>
        </Card>
        <ConfirmDialog open={leaving} onClose={() => setLeaving(false)} title={`Leave ${orgName}?`} confirm={`Leave ${orgName}`} keep="Stay" busy={leave.isPending} error={leave.error && errorMessage(leave.error)} onConfirm={() => leave.mutate({ orgId })}>
          You lose access to its satellites now. Your API tokens for {orgName} and the client certificates you issued are revoked (builds using them end), and invitations you sent are cancelled. To come back, an admin must invite you again.
        </ConfirmDialog>
      </div>
    </>
  );
}

function RoleOptions({ owner }: { owner: boolean }) {
  return (
    <>
      <option value="member">Member</option>
      <option value="admin">Admin</option>
      {owner && <option value="owner">Owner</option>}
    </>
  );
}

function InviteCard({ invite }: { invite: MemberActions["invite"] }) {
  const { orgId, role } = useOrg();
  const [email, setEmail] = useState("");
  const [inviteRole, setInviteRole] = useState<Role>("member");
  const [link, setLink] = useState<{ url: string; notMailed: string | null } | null>(null);
  const [already, setAlready] = useState<{ email: string; invitedAt: string; expiresAt: string } | null>(null);
  const submit = () => {
    setLink(null);
    setAlready(null);
    invite.mutate(
      { orgId, email, role: inviteRole },
      {
        onSuccess: (i) => {
          if (i.status === "already-invited") setAlready({ email: i.email, invitedAt: i.invitedAt, expiresAt: i.expiresAt });
          else if (i.link) setLink({ url: i.link, notMailed: i.notMailed });
          setEmail("");
        },
      },
    );
  };
  return (
    <Card title="Invite someone" description="We mail them a link (or keep it in the outbox). Whoever opens the link can join, so send it only to them; they can also accept after verifying this address.">
      <form
        className="flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="min-w-56 flex-1">
          <Field label="Email">{(p) => <Input id={p.id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />}</Field>
        </div>
        <div className="w-40">
          <Field label="Role">
            {(p) => (
              <Select id={p.id} value={inviteRole} onChange={(e) => setInviteRole(e.target.value as Role)}>
                <RoleOptions owner={role === "owner"} />
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
          <p className="text-sm text-emerald-900">
            {link.notMailed ? `Invitation created. ${link.notMailed}` : "Invitation created and mailed."} This link is shown only now; send it only to them:
          </p>
          <dl className="mt-2">
            <CopyField label="Invitation link" value={link.url} />
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
  );
}

function MembersCard({ actions, onRoleChanged }: { actions: MemberActions; onRoleChanged: (text: string) => void }) {
  const { orgId, role, isAdmin } = useOrg();
  const trpc = useTRPC();
  const members = useQuery(trpc.member.list.queryOptions({ orgId }));
  const { updateRole, remove } = actions;
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null);
  const changeRole = (memberId: string, to: Role) =>
    updateRole.mutate(
      { memberId, role: to },
      {
        onSuccess: (r) => {
          const who = members.data?.find((m) => m.id === r.id)?.name ?? "The member";
          onRoleChanged(`${who} is now ${r.role === "admin" ? "an admin" : `a ${r.role}`}. Their open pages follow within seconds.`);
        },
      },
    );
  return (
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
                    <Select id={`role-${m.id}`} className="w-32 py-1 text-xs" value={m.role} disabled={updateRole.isPending} onChange={(e) => changeRole(m.id, e.target.value as Role)}>
                      <RoleOptions owner={role === "owner"} />
                    </Select>
                    <Button variant="secondary" className="px-2 py-1 text-xs" onClick={() => (remove.reset(), setRemoving({ id: m.id, name: m.name }))} aria-label={`Remove ${m.name}`}>
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
      <ConfirmDialog
        open={removing !== null}
        onClose={() => setRemoving(null)}
        title={`Remove ${removing?.name ?? ""}?`}
        confirm={`Remove ${removing?.name ?? ""}`}
        busy={remove.isPending}
        error={remove.error && errorMessage(remove.error)}
        onConfirm={() => removing && remove.mutate({ memberId: removing.id }, { onSuccess: () => setRemoving(null) })}
      >
        They lose access to this organization&apos;s satellites now. Their API tokens for it and the client certificates they issued are revoked (builds using them end), and invitations they sent are cancelled.
      </ConfirmDialog>
      <ul className="mt-4 space-y-1 text-xs text-slate-500">
        {(Object.keys(ROLE_TEXT) as Role[]).map((r) => (
          <li key={r}>{ROLE_TEXT[r]}</li>
        ))}
      </ul>
    </Card>
  );
}

function InvitationsCard({ cancel }: { cancel: MemberActions["cancel"] }) {
  const { orgId } = useOrg();
  const trpc = useTRPC();
  const invitations = useQuery(trpc.member.invitations.queryOptions({ orgId }));
  return (
    <Card title="Pending invitations">
      {invitations.isLoading ? (
        <Spinner label="Loading invitations…" />
      ) : invitations.error ? (
        <ErrorState error={errorMessage(invitations.error)} />
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
                <Button variant="secondary" className="px-2 py-1 text-xs" busy={cancel.isPending && cancel.variables?.invitationId === i.id} onClick={() => cancel.mutate({ invitationId: i.id })} aria-label={`Cancel invitation for ${i.email}`}>
                  Cancel
                </Button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
