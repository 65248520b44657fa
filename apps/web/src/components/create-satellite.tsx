"use client";
// The create-satellite dialog: name, size (with its price on the chosen platform), platform and
// idle timeout; on success it opens the new satellite's page.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { type FormEvent, useState } from "react";
import { FIELD_LIMITS, tooLong } from "@/lib/fields.ts";
import { mib, seconds, usd } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import { useOrg } from "./shell.tsx";
import { Alert, Button, Dialog, Field, Input, Select, Spinner } from "./ui.tsx";

const IDLE_CHOICES = [300, 900, 1800, 3600, 7200, 14400, 28800, 86400];

export function CreateSatelliteDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { orgId } = useOrg();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const sizes = useQuery({ ...trpc.satellite.sizes.queryOptions(), staleTime: Infinity, enabled: open });
  const [name, setName] = useState("");
  const [size, setSize] = useState("medium");
  const [platform, setPlatform] = useState<"amd64" | "arm64">("amd64");
  const [idle, setIdle] = useState(1800);
  const create = useMutation(
    trpc.satellite.create.mutationOptions({
      onSuccess: (s) => {
        // The new satellite's page opens at once: the list's refetch (for when the user comes
        // back) is not waited for, so a slow one cannot hold the navigation.
        void queryClient.invalidateQueries({ queryKey: trpc.satellite.list.pathKey() });
        onClose();
        setName("");
        router.push(`/satellites/${s.id}`);
      },
    }),
  );
  const nameError = tooLong("The name", name, FIELD_LIMITS.satelliteName.max) ?? (name && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) ? "Use lowercase letters, digits and dashes; start and end with a letter or digit" : null);

  /** Closed, the dialog forgets the last attempt's error: reopened, it is a new attempt. */
  function close() {
    create.reset();
    onClose();
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    if (nameError) return;
    create.mutate({ orgId, name, size: size as "medium", platform, idleTimeoutSeconds: idle });
  }

  return (
    <Dialog open={open} onClose={close} title="Create satellite">
      <form onSubmit={submit} className="space-y-5">
        {create.error && <Alert>{errorMessage(create.error)}</Alert>}
        <Field label="Name" hint={`Used by the Earthly CLI (--sat); lowercase letters, digits and dashes, up to ${FIELD_LIMITS.satelliteName.max}`} error={nameError}>
          {(p) => <Input id={p.id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus aria-invalid={p.invalid} aria-describedby={p.describedBy} placeholder="main" />}
        </Field>
        <fieldset>
          <legend className="text-sm font-medium text-slate-800">Size</legend>
          {sizes.isLoading && <Spinner label="Loading sizes…" />}
          <div className="mt-2 grid grid-cols-1 gap-2 sm:grid-cols-2">
            {sizes.data?.map((s) => (
              <label key={s.size} className={`flex cursor-pointer items-start gap-2 rounded-md p-3 text-sm ring-1 ${size === s.size ? "bg-indigo-50 ring-2 ring-indigo-600" : "ring-slate-200 hover:bg-slate-50"}`}>
                <input type="radio" name="size" value={s.size} checked={size === s.size} onChange={() => setSize(s.size)} className="mt-0.5" />
                <span>
                  <span className="block font-medium">{s.size}</span>
                  <span className="block text-xs text-slate-600">
                    {s.vcpu} vCPU · {mib(s.memoryMiB)} · {usd(s.hourlyUsd[platform])}/h awake
                  </span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend className="text-sm font-medium text-slate-800">Platform</legend>
          <div className="mt-2 flex gap-4 text-sm">
            {(["amd64", "arm64"] as const).map((p) => (
              <label key={p} className="flex items-center gap-2">
                <input type="radio" name="platform" value={p} checked={platform === p} onChange={() => setPlatform(p)} />
                {p} <span className="text-xs text-slate-500">{p === "amd64" ? "(hibernates: resumes with memory)" : "(stops: cold start on wake)"}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <Field label="Sleep after idle for" hint="No build for this long puts the satellite to sleep.">
          {(p) => (
            <Select id={p.id} value={idle} onChange={(e) => setIdle(Number(e.target.value))} aria-describedby={p.describedBy}>
              {IDLE_CHOICES.map((v) => (
                <option key={v} value={v}>
                  {seconds(v)}
                  {v === 1800 ? " (default)" : ""}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending} disabled={!name || Boolean(nameError)}>
            Create
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
