"use client";
// For a signed-in person without an organization: create one, or accept an invitation.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { authClient } from "@/lib/auth-client.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { AuthCard } from "./auth-forms.tsx";
import { Alert, Button, Field, Input, Spinner } from "./ui.tsx";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";

/** `refusal`: why this account may not create an organization yet (said up front, with the way out). */
export function Onboarding({ refusal, email, initialName }: { refusal: string | null; email: string; initialName: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const invitations = useQuery(trpc.member.myInvitations.queryOptions());
  const create = useMutation(trpc.org.create.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  const accept = useMutation(trpc.member.accept.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  const [name, setName] = useState(initialName);
  const nameError = tooLong("The name", name, FIELD_LIMITS.orgName.max);

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name });
  }

  return (
    <AuthCard title="Set up your organization" subtitle="Satellites belong to an organization. Create one, or join one you were invited to.">
      {invitations.isLoading && <Spinner label="Looking for invitations…" />}
      {invitations.data && !invitations.data.verified && invitations.data.waiting > 0 && (
        <div className="mb-6">
          <Alert tone="amber">An invitation waits for your address. Verify it with the link we mailed you, or open the invitation link you were sent.</Alert>
        </div>
      )}
      {invitations.data && invitations.data.items.length > 0 && (
        <div className="mb-6 space-y-2">
          <h2 className="text-sm font-semibold">Invitations</h2>
          <ul className="space-y-2">
            {invitations.data.items.map((i) => (
              <li key={i.id} className="flex items-center justify-between gap-2 rounded-md px-3 py-2 ring-1 ring-slate-200">
                <span className="text-sm">
                  <strong>{i.orgName}</strong> as {i.role}
                </span>
                <Button busy={accept.isPending && accept.variables?.invitationId === i.id} onClick={() => accept.mutate({ invitationId: i.id })}>
                  Join
                </Button>
              </li>
            ))}
          </ul>
          {accept.error && <Alert>{errorMessage(accept.error)}</Alert>}
        </div>
      )}
      {refusal && (
        <div className="mb-6 space-y-3">
          <Alert tone="amber" title="You cannot create an organization yet">
            {refusal}.
          </Alert>
          <ResendVerification email={email} back="/onboarding" />
        </div>
      )}
      <form onSubmit={submit} className="space-y-4">
        {create.error && <Alert>{errorMessage(create.error)}</Alert>}
        <Field label="Organization name" error={nameError}>
          {(p) => <Input id={p.id} value={name} onChange={(e) => setName(e.target.value)} required minLength={FIELD_LIMITS.orgName.min} aria-invalid={p.invalid} aria-describedby={p.describedBy} />}
        </Field>
        <Button type="submit" className="w-full" busy={create.isPending} disabled={Boolean(nameError)}>
          Create organization
        </Button>
      </form>
    </AuthCard>
  );
}

/** better-auth's own resend; the link brings the person back to `back` once verified. */
function ResendVerification({ email, back }: { email: string; back: string }) {
  const [state, setState] = useState<"idle" | "busy" | "sent" | string>("idle");
  return (
    <div>
      <Button
        variant="secondary"
        busy={state === "busy"}
        disabled={state === "sent"}
        onClick={async () => {
          setState("busy");
          const { error } = await authClient.sendVerificationEmail({ email, callbackURL: back });
          setState(error ? (error.message ?? "Could not send the mail") : "sent");
        }}
      >
        {state === "sent" ? "Verification mail sent" : "Send the verification mail again"}
      </Button>
      {state !== "idle" && state !== "busy" && state !== "sent" && <div className="mt-2"><Alert>{state}</Alert></div>}
    </div>
  );
}

export function InvitationView({ id, token }: { id: string; token: string | null }) {
  const trpc = useTRPC();
  const router = useRouter();
  const inv = useQuery(trpc.member.invitation.queryOptions({ invitationId: id, token }));
  const accept = useMutation(trpc.member.accept.mutationOptions({ onSuccess: () => (router.push("/satellites"), router.refresh()) }));
  const reject = useMutation(trpc.member.reject.mutationOptions({ onSuccess: () => router.push("/satellites") }));
  const [switching, setSwitching] = useState(false);
  // Back to this invitation, link secret and all, once signed in as the right account.
  const switchAccount = async () => {
    setSwitching(true);
    await authClient.signOut();
    router.push(`/sign-in?next=${encodeURIComponent(`/invitations/${encodeURIComponent(id)}${token ? `?token=${token}` : ""}`)}`);
    router.refresh();
  };

  if (inv.isLoading) return <AuthCard title="Invitation"><Spinner label="Loading invitation…" /></AuthCard>;
  if (inv.error || !inv.data) return <AuthCard title="Invitation not found"><p className="text-sm text-slate-600">The link is wrong, or the invitation was sent to another email address than the one you signed in with.</p></AuthCard>;
  const i = inv.data;
  return (
    <AuthCard title={`Join ${i.orgName}`} subtitle={`${i.invitedBy} invited ${i.email} to join as ${i.role}.`}>
      {i.status !== "pending" ? (
        <Alert tone="amber">This invitation is {i.status}.</Alert>
      ) : !i.forYou ? (
        <Alert tone="amber">This invitation is for {i.email}. Sign in with that address to accept it.</Alert>
      ) : i.needsVerification ? (
        <div className="space-y-3">
          <Alert tone="amber">Verify {i.email} first: open the link in the verification mail we sent, then come back here. Or open the invitation link you were sent.</Alert>
          <ResendVerification email={i.email} back={`/invitations/${id}`} />
        </div>
      ) : (
        <div className="space-y-3">
          {i.signedInAs.toLowerCase() === i.email.toLowerCase() ? (
            <p className="text-sm text-slate-600">You are signed in as {i.signedInAs}.</p>
          ) : (
            <div className="space-y-2">
              <Alert tone="amber">
                You are signed in as {i.signedInAs}, not {i.email}: accepting adds {i.signedInAs} to {i.orgName}. If that is not the account you meant, sign out and sign in with the right one.
              </Alert>
              <Button variant="secondary" busy={switching} onClick={switchAccount}>
                Sign out and use another account
              </Button>
            </div>
          )}
          <div className="flex gap-2">
            <Button busy={accept.isPending} onClick={() => accept.mutate({ invitationId: id, token })}>
              Accept and join
            </Button>
            <Button variant="secondary" busy={reject.isPending} onClick={() => reject.mutate({ invitationId: id, token })}>
              Decline
            </Button>
          </div>
        </div>
      )}
      {(accept.error || reject.error) && <div className="mt-3"><Alert>{errorMessage(accept.error ?? reject.error)}</Alert></div>}
    </AuthCard>
  );
}
