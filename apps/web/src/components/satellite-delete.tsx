"use client";
// Deleting a satellite, behind a confirmation (an awake one only when the admin says so).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { refusalInWords, useTRPC } from "@/lib/trpc.tsx";
import type { SatelliteData } from "./satellite-data.ts";
import { Button, Card, ConfirmDialog } from "./ui.tsx";

export function DangerZone({ satellite: s }: { satellite: SatelliteData }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [force, setForce] = useState(false);
  const del = useMutation(
    trpc.satellite.delete.mutationOptions({
      onSuccess: () => {
        // Leave first: re-reading this satellite could race its deletion into a 404.
        setOpen(false);
        router.push("/satellites");
        void queryClient.invalidateQueries({ queryKey: trpc.satellite.list.pathKey() });
      },
    }),
  );
  return (
    <Card title="Delete satellite" description="Terminates the machine and its build cache. History stays available on the History page.">
      <Button variant="danger" onClick={() => setOpen(true)} disabled={s.state === "deleting"}>
        Delete satellite
      </Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title="Delete this satellite?"
        confirm="Delete"
        busy={del.isPending}
        disabled={s.state === "awake" && !force}
        error={del.error && refusalInWords(del.error, "Delete")}
        onConfirm={() => del.mutate({ id: s.id, force })}
      >
        <p>The machine and its cache are destroyed. This cannot be undone.</p>
        {s.state === "awake" && (
          <label className="mt-3 flex items-center gap-2">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} />
            It is awake: delete anyway, interrupting running builds
          </label>
        )}
      </ConfirmDialog>
    </Card>
  );
}
