"use client";
// Changing a satellite's size or platform (admins; the machine must be asleep, or be put to sleep).
import { SIZE_SPECS } from "@satellites/catalog/sizes";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { mib } from "@/lib/format.ts";
import { refusalInWords, useTRPC } from "@/lib/trpc.tsx";
import type { SatelliteData } from "./satellite-data.ts";
import { Alert, Button, Card, Field, Select } from "./ui.tsx";

export function ResizeCard({ satellite: s }: { satellite: SatelliteData }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [size, setSize] = useState<string>(s.size);
  const [platform, setPlatform] = useState<string>(s.platform);
  const [force, setForce] = useState(false);
  const update = useMutation(trpc.satellite.update.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.satellite.get.queryKey({ id: s.id }) }) }));
  const changed = size !== s.size || platform !== s.platform;
  return (
    <Card title="Size and platform" description="Changing them needs the satellite asleep: the machine is stopped, changed, and wakes on the next build.">
      <form
        className="flex flex-wrap items-end gap-4"
        onSubmit={(e) => {
          e.preventDefault();
          update.mutate({ id: s.id, size: size as "medium", platform: platform as "amd64", force });
        }}
      >
        <div className="w-64">
          <Field label="Size">
            {(p) => (
              <Select id={p.id} value={size} onChange={(e) => setSize(e.target.value)}>
                {Object.entries(SIZE_SPECS).map(([k, v]) => (
                  <option key={k} value={k}>
                    {k} ({v.vcpu} vCPU, {mib(v.memoryMiB)})
                  </option>
                ))}
              </Select>
            )}
          </Field>
        </div>
        <div className="w-32">
          <Field label="Platform">
            {(p) => (
              <Select id={p.id} value={platform} onChange={(e) => setPlatform(e.target.value)}>
                <option value="amd64">amd64</option>
                <option value="arm64">arm64</option>
              </Select>
            )}
          </Field>
        </div>
        {s.state === "awake" && (
          <label className="flex items-center gap-2 pb-2 text-sm">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            Put it to sleep first
          </label>
        )}
        <Button type="submit" variant="secondary" busy={update.isPending} disabled={!changed || (s.state === "awake" && !force)}>
          Change size
        </Button>
      </form>
      {changed && s.state === "awake" && !force && <p className="mt-3 text-xs text-slate-600">It is awake: tick “Put it to sleep first” to change it now (a running build keeps it awake and cancels the change).</p>}
      {platform !== s.platform && <p className="mt-3 text-xs text-slate-500">A new platform needs a new machine: its build cache starts empty.</p>}
      {update.error && (
        <div className="mt-3">
          <Alert>{refusalInWords(update.error, "Change size")}</Alert>
        </div>
      )}
    </Card>
  );
}
