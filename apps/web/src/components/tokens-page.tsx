"use client";
// The organization's API tokens: create one (shown once), list them, revoke one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";
import { dateTime, relative } from "@/lib/format.ts";
import { errorMessage, isRetryable, useTRPC } from "@/lib/trpc.tsx";
import { useOrg } from "./shell.tsx";
import { Alert, Badge, Button, Card, ConfirmDialog, CopyField, EmptyState, ErrorState, Field, Input, PageHeader, Select, Spinner, useNow } from "./ui.tsx";

interface TokenRef {
  id: string;
  name: string;
}

export function TokensPage() {
  const { orgId, orgName } = useOrg();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [revoking, setRevoking] = useState<TokenRef | null>(null);
  const invalidate = () => void queryClient.invalidateQueries({ queryKey: trpc.token.list.pathKey() });
  return (
    <>
      <PageHeader
        title="API tokens"
        description={`Tokens let scripts, CI and the Earthly CLI act for ${orgName}: send one as "Authorization: Bearer …" to the API, or as satellite_token to the proxy. A token has its creator's role.`}
      />
      <div className="space-y-6">
        <CreateTokenCard orgId={orgId} onCreated={invalidate} />
        <Card title="Tokens">
          <TokensTable orgId={orgId} onRevoke={setRevoking} />
        </Card>
      </div>
      <RevokeTokenDialog token={revoking} onClose={() => setRevoking(null)} onRevoked={() => (setRevoking(null), invalidate())} />
    </>
  );
}

function CreateTokenCard({ orgId, onCreated }: { orgId: string; onCreated: () => void }) {
  const trpc = useTRPC();
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("90");
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const create = useMutation(
    trpc.token.create.mutationOptions({
      onSuccess: (t) => {
        setCreated({ name: t.name, token: t.token });
        setName("");
        onCreated();
      },
    }),
  );

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ orgId, name, expiresInDays: expiry === "never" ? null : Number(expiry) });
  }

  return (
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
  );
}

function TokensTable({ orgId, onRevoke }: { orgId: string; onRevoke: (t: TokenRef) => void }) {
  const trpc = useTRPC();
  const now = useNow(30_000);
  const tokens = useQuery(trpc.token.list.queryOptions({ orgId }));
  if (tokens.isLoading) return <Spinner label="Loading tokens…" />;
  if (tokens.error) return <ErrorState error={errorMessage(tokens.error)} retry={isRetryable(tokens.error) ? () => void tokens.refetch() : undefined} />;
  if (tokens.data!.length === 0) return <EmptyState title="No tokens yet">Create one above for your CI or the Earthly CLI.</EmptyState>;
  return (
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
                  <Button variant="secondary" className="px-2 py-1 text-xs" onClick={() => onRevoke({ id: t.id, name: t.name })} aria-label={`Revoke token ${t.name}`}>
                    Revoke
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RevokeTokenDialog({ token, onClose, onRevoked }: { token: TokenRef | null; onClose: () => void; onRevoked: () => void }) {
  const trpc = useTRPC();
  const revoke = useMutation(trpc.token.revoke.mutationOptions({ onSuccess: onRevoked }));
  return (
    <ConfirmDialog open={token !== null} onClose={onClose} title={`Revoke “${token?.name ?? ""}”?`} confirm="Revoke token" busy={revoke.isPending} error={revoke.error && errorMessage(revoke.error)} onConfirm={() => token && revoke.mutate({ id: token.id })}>
      Anything using this token — the API and builds through the proxy — is refused from now on.
    </ConfirmDialog>
  );
}
