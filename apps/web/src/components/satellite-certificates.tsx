"use client";
// A satellite's client certificates and the three client setups that use them (docs/clients.md):
// EarthBuild, docker buildx (remote driver) and buildctl speak mutual TLS and nothing else. The
// snippets come from @satellites/client-certs/connect, the same lines the tests run verbatim.
// Issuing shows the bundle once — CA, certificate, private key — and never again.
import { BUNDLE_FILES, clientSetups } from "@satellites/client-certs/connect";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { type FormEvent, useState } from "react";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";
import { dateTime, relative } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { AppRouter } from "@/server/routers/index.ts";
import { Alert, Badge, Button, Card, ConfirmDialog, Field, Input, Snippet, useNow } from "./ui.tsx";

/** A file the browser saves (the bundle lives only in this page's memory). */
function Download({ name, content }: { name: string; content: string }) {
  const href = `data:application/x-pem-file;charset=utf-8,${encodeURIComponent(content)}`;
  return (
    <a href={href} download={name} className="inline-flex items-center rounded border border-slate-300 px-2 py-1 font-mono text-xs text-indigo-700 hover:bg-slate-50">
      {name}
    </a>
  );
}

type Issued = inferRouterOutputs<AppRouter>["satellite"]["issueCertificate"];
type Certificate = inferRouterOutputs<AppRouter>["satellite"]["certificates"][number];

export function ClientCertificatesCard({ satelliteId, name, address, canManage }: { satelliteId: string; name: string; address: string; canManage: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const list = useQuery(trpc.satellite.certificates.queryOptions({ id: satelliteId }));
  const reread = () => qc.invalidateQueries({ queryKey: trpc.satellite.certificates.queryKey({ id: satelliteId }) });
  const issue = useMutation(trpc.satellite.issueCertificate.mutationOptions({ onSuccess: reread }));
  const revoke = useMutation(trpc.satellite.revokeCertificate.mutationOptions({ onSuccess: reread }));
  const [revoking, setRevoking] = useState<Certificate | null>(null);
  const setups = clientSetups({ address, satellite: name });

  return (
    <Card
      title="Connect with a client certificate"
      description="EarthBuild, docker buildx and buildctl reach this satellite with mutual TLS alone: the certificate names this satellite, and no other."
    >
      <div className="space-y-3">
        <Snippet label="1. Save the bundle" code={setups.files} />
        <Snippet label="EarthBuild" code={setups.earthbuild} />
        <Snippet label="docker buildx (remote driver)" code={setups.buildx} />
        <Snippet label="buildctl" code={setups.buildctl} />
      </div>
      {issue.data && <IssuedBundle issued={issue.data} />}
      {canManage && <IssueForm busy={issue.isPending} onIssue={(certName, days) => issue.mutate({ id: satelliteId, name: certName, expiresInDays: days })} />}
      {issue.error && (
        <div className="mt-2">
          <Alert>{errorMessage(issue.error)}</Alert>
        </div>
      )}
      <div className="mt-4">
        <h3 className="text-xs font-medium text-slate-500">Certificates</h3>
        {list.data && list.data.length === 0 && <p className="mt-1 text-sm text-slate-600">None issued yet.</p>}
        {list.error && <Alert>{errorMessage(list.error)}</Alert>}
        <ul className="mt-1 divide-y divide-slate-100 text-sm">
          {list.data?.map((c) => (
            <CertificateRow key={c.id} certificate={c} onRevoke={() => (revoke.reset(), setRevoking(c))} />
          ))}
        </ul>
      </div>
      <ConfirmDialog
        open={revoking !== null}
        onClose={() => setRevoking(null)}
        title={`Revoke the certificate “${revoking?.name ?? ""}”?`}
        confirm="Revoke certificate"
        busy={revoke.isPending}
        error={revoke.error && errorMessage(revoke.error)}
        onConfirm={() => revoking && revoke.mutate({ certificateId: revoking.id }, { onSuccess: () => setRevoking(null) })}
      >
        Clients using it are refused from now on, and builds open with it end. Issue another certificate to connect again.
      </ConfirmDialog>
    </Card>
  );
}

/** The bundle just issued, as three downloads: shown once, never again. */
function IssuedBundle({ issued }: { issued: Issued }) {
  return (
    <div className="mt-4 space-y-2">
      <Alert tone="amber" title="Save these files now: the private key is shown only once">
        This control plane keeps no copy of the key. Lose it and issue another certificate.
      </Alert>
      <div className="flex flex-wrap gap-2">
        <Download name={BUNDLE_FILES.ca} content={issued.bundle.caPem} />
        <Download name={BUNDLE_FILES.cert} content={issued.bundle.certPem} />
        <Download name={BUNDLE_FILES.key} content={issued.bundle.keyPem} />
      </div>
      <p className="text-xs text-slate-600">
        &ldquo;{issued.certificate.name}&rdquo; · serial <code className="font-mono">{issued.certificate.serial}</code> · expires {dateTime(issued.certificate.expiresAt)}
      </p>
    </div>
  );
}

function IssueForm({ busy, onIssue }: { busy: boolean; onIssue: (name: string, days: number) => void }) {
  const [certName, setCertName] = useState("");
  const [days, setDays] = useState("90");
  const nameError = tooLong("The name", certName, FIELD_LIMITS.tokenName.max);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (nameError) return;
    onIssue(certName.trim(), Number(days));
  }
  return (
    <form onSubmit={submit} className="mt-4 grid gap-3 sm:grid-cols-[1fr_8rem_auto] sm:items-end">
      <Field label="Name" hint="Who or what uses it, e.g. “CI runners”" error={nameError}>
        {(ids) => <Input id={ids.id} aria-describedby={ids.describedBy} aria-invalid={ids.invalid} value={certName} onChange={(e) => setCertName(e.target.value)} required />}
      </Field>
      <Field label="Valid for (days)" hint="1 to 365">
        {(ids) => <Input id={ids.id} aria-describedby={ids.describedBy} type="number" min={1} max={365} value={days} onChange={(e) => setDays(e.target.value)} required />}
      </Field>
      <Button type="submit" busy={busy}>
        Issue certificate
      </Button>
    </form>
  );
}

function CertificateRow({ certificate: c, onRevoke }: { certificate: Certificate; onRevoke: () => void }) {
  const now = useNow(60_000);
  return (
    <li className="flex flex-wrap items-center justify-between gap-2 py-2">
      <div className="min-w-0">
        <span className="font-medium text-slate-900">{c.name}</span>{" "}
        <Badge tone={c.status === "active" ? "green" : c.status === "expired" ? "amber" : "red"}>{c.status}</Badge>
        <span className="block truncate text-xs text-slate-500">
          serial <code className="font-mono">{c.serial}</code> · expires {dateTime(c.expiresAt)} · last used {relative(c.lastUsedAt, now)}
          {c.createdBy ? ` · by ${c.createdBy.name}` : ""}
        </span>
      </div>
      {c.canRevoke && (
        <Button variant="secondary" onClick={onRevoke} aria-label={`Revoke certificate ${c.name}`}>
          Revoke
        </Button>
      )}
    </li>
  );
}
