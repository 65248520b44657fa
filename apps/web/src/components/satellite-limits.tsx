"use client";
// A satellite's limits (CPU, memory, swap, disk, OOM score, idle timeout): whether they are
// applied, and a form admins edit them in, checked against the same ranges the API enforces.
import { LIMIT_RANGES } from "@satellites/catalog/limits";
import { SIZE_SPECS, type SizeName } from "@satellites/catalog/sizes";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { seconds } from "@/lib/format.ts";
import { errorMessage, useTRPC } from "@/lib/trpc.tsx";
import type { SatelliteData } from "./satellite-data.ts";
import { Alert, Badge, Button, Card, Field, Input } from "./ui.tsx";

const LIMIT_FIELDS = [
  { key: "cpuPercent", label: "CPU", unit: "% of the machine" },
  { key: "memoryMiB", label: "Memory", unit: "MiB" },
  { key: "swapMiB", label: "Swap", unit: "MiB" },
  { key: "diskGiB", label: "Disk for cache", unit: "GiB" },
  { key: "oomScoreAdj", label: "OOM score adjustment", unit: "for the build daemon; lower is killed later" },
  { key: "idleTimeoutSeconds", label: "Sleep after idle", unit: "seconds" },
] as const;

type LimitField = (typeof LIMIT_FIELDS)[number];
type Values = Record<string, string>;

function rangeOf(key: LimitField["key"], size: string): { min: number; max: number } {
  if (key === "memoryMiB") return { min: 256, max: SIZE_SPECS[size as SizeName]?.memoryMiB ?? 0 };
  return LIMIT_RANGES[key];
}

/** Each edited field's complaint, if any: a whole number within its range. */
function validate(draft: Values, size: string): Values {
  const errors: Values = {};
  for (const f of LIMIT_FIELDS) {
    if (!(f.key in draft)) continue;
    const raw = draft[f.key];
    const n = Number(raw);
    const r = rangeOf(f.key, size);
    if (raw === undefined || raw === "" || !Number.isInteger(n)) errors[f.key] = "Enter a whole number";
    else if (n < r.min || n > r.max) errors[f.key] = `Between ${r.min} and ${r.max}`;
  }
  return errors;
}

/**
 * The form's state: edits live in a draft over the saved values, so nothing re-syncs when the row
 * changes. Only the fields edited here are sent: a limit another admin changed meanwhile is kept.
 */
function useLimitsForm(s: SatelliteData) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Values>({});
  const [saved, setSaved] = useState(false);
  const values: Values = Object.fromEntries(LIMIT_FIELDS.map((f) => [f.key, draft[f.key] ?? String(s.limits[f.key])]));
  const save = useMutation(
    trpc.satellite.setLimits.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id: s.id }) });
        setDraft({});
        setSaved(true);
      },
    }),
  );
  const edited = LIMIT_FIELDS.filter((f) => f.key in draft && draft[f.key] !== String(s.limits[f.key]));
  const errors = validate(draft, s.size);
  const valid = Object.keys(errors).length === 0;
  return {
    values,
    errors,
    valid,
    save,
    saved,
    changed: edited.length > 0,
    set: (key: string, value: string) => setDraft((d) => ({ ...d, [key]: value })),
    /** The saved limits applied again (a save of no change), once what refused them is fixed. */
    retry: () => save.mutate({ id: s.id, limits: {} }),
    submit(e: FormEvent) {
      e.preventDefault();
      if (!valid || edited.length === 0) return;
      setSaved(false);
      save.mutate({ id: s.id, limits: Object.fromEntries(edited.map((f) => [f.key, Number(draft[f.key])])) });
    },
  };
}

export function LimitsCard({ satellite: s, canEdit }: { satellite: SatelliteData; canEdit: boolean }) {
  const form = useLimitsForm(s);
  return (
    <Card
      title="Limits"
      description="Keep builds from starving the build daemon: CPU is capped below 100 % so health checks keep running, and the OOM killer picks builds first."
      actions={<LimitsStatus satellite={s} />}
    >
      <LimitsNotices satellite={s} onRetry={canEdit ? form.retry : undefined} />
      <form onSubmit={form.submit} className="space-y-4">
        <fieldset disabled={!canEdit} className="grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-3">
          <legend className="sr-only">Limits</legend>
          {LIMIT_FIELDS.map((f) => (
            <LimitInput key={f.key} field={f} size={s.size} value={form.values[f.key] ?? ""} error={form.errors[f.key]} onChange={(v) => form.set(f.key, v)} />
          ))}
        </fieldset>
        {form.save.error && <Alert>{errorMessage(form.save.error)}</Alert>}
        {form.saved && !form.save.error && !form.changed && (
          <Alert tone="green">{s.limitsPending ? (s.provider === "ec2" ? "Saved. The new limits apply at the next wake." : "Saved. Applying…") : `Saved. ${inForce(s)}.`}</Alert>
        )}
        {canEdit ? (
          <Button type="submit" busy={form.save.isPending} disabled={!form.changed || !form.valid}>
            Save limits
          </Button>
        ) : (
          <p className="text-xs text-slate-500">Only admins and owners can change limits.</p>
        )}
      </form>
    </Card>
  );
}

/** What of the saved (and no longer pending) limits is in force, in the card's words. */
function inForce(s: SatelliteData): string {
  if (!s.limitsEnforced) return "Not enforced on this host";
  const unapplied = [!s.diskLimitEnforced && "disk", !s.oomScoreEnforced && "OOM score"].filter(Boolean);
  return unapplied.length ? `Applied, except ${unapplied.join(" and ")}` : "Applied";
}

/**
 * Whether the saved limits are in force. "Applied" is said only of all of them: beside a notice
 * that one is not applied (LimitsNotices), a bare "Applied" would contradict it.
 */
function LimitsStatus({ satellite: s }: { satellite: SatelliteData }) {
  if (s.limitsFailure) return <Badge tone="red">Not applied</Badge>;
  if (!s.limitsPending) {
    const words = inForce(s);
    return <Badge tone={words === "Applied" ? "green" : "amber"}>{words}</Badge>;
  }
  return (
    <Badge tone="amber">
      {s.provider === "ec2" ? "Pending: applies at next wake" : s.diskLimitEnforced ? "Pending: being applied (a disk limit change takes effect at the next wake)" : "Pending: being applied"}
    </Badge>
  );
}

/** What this installation cannot apply, and when EC2 applies what it can. */
function LimitsNotices({ satellite: s, onRetry }: { satellite: SatelliteData; onRetry?: () => void }) {
  return (
    <>
      {s.limitsFailure && (
        <div className="mb-4">
          <Alert title="These limits could not be applied">
            {s.limitsFailure}. They stay saved, and the satellite runs with the limits it had. If it says the jobs process may not do this, ask your operator (the deployment guide lists the permissions it needs), then try again.
          </Alert>
          {onRetry && (
            <div className="mt-2">
              <Button variant="secondary" onClick={onRetry}>
                Try again
              </Button>
            </div>
          )}
        </div>
      )}
      {!s.limitsEnforced && (
        <div className="mb-4">
          <Alert tone="amber" title="Limits not enforced">
            This host cannot apply CPU and memory limits to local satellites (no writable cgroups). The values are saved and shown, but builds are not constrained.
          </Alert>
        </div>
      )}
      {s.provider === "ec2" && s.state === "awake" && <p className="mb-3 text-xs text-slate-600">EC2 can only change these on a stopped machine: new values apply at the next wake.</p>}
      {!s.oomScoreEnforced && (
        <p className="mb-3 text-xs text-slate-600" data-limit-not-applied="oomScoreAdj">
          The OOM score adjustment is saved but not applied: this host&apos;s jobs process may not lower a process&apos;s OOM score (it lacks CAP_SYS_RESOURCE), so the build daemon keeps the score it inherited and is as likely as its build steps to be killed when memory runs out. Use 0 or more, or run the jobs process with that capability.
        </p>
      )}
      {!s.diskLimitEnforced && (
        <p className="mb-3 text-xs text-slate-600">
          The disk limit is saved but not applied: this installation&apos;s local satellites run a program that is not given it ({"{diskGiB}"} or {"{diskMB}"} in LOCAL_SATELLITE_COMMAND).
        </p>
      )}
    </>
  );
}

function LimitInput({ field: f, size, value, error, onChange }: { field: LimitField; size: string; value: string; error: string | undefined; onChange: (value: string) => void }) {
  const r = rangeOf(f.key, size);
  const inWords = f.key === "idleTimeoutSeconds" && value ? ` (${seconds(Number(value) || 0)})` : "";
  return (
    <Field label={f.label} hint={`${f.unit}; ${r.min} – ${r.max}${inWords}`} error={error}>
      {(p) => (
        <Input
          id={p.id}
          name={f.key}
          type="number"
          inputMode="numeric"
          min={r.min}
          max={r.max}
          step={1}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={p.invalid}
          aria-describedby={p.describedBy}
        />
      )}
    </Field>
  );
}
