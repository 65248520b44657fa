"use client";
// How a satellite state looks everywhere: one colour and one word per state; transitional
// states pulse so "something is happening" is visible at a glance.
import type { SatelliteState } from "@satellites/db/generated/enums";
import { Badge } from "./ui.tsx";

export type { SatelliteState };

const LOOK: Record<SatelliteState, { tone: Parameters<typeof Badge>[0]["tone"]; label: string; busy?: boolean }> = {
  creating: { tone: "amber", label: "Creating", busy: true },
  awake: { tone: "green", label: "Awake" },
  stopping: { tone: "amber", label: "Going to sleep", busy: true },
  asleep: { tone: "indigo", label: "Asleep" },
  starting: { tone: "amber", label: "Waking", busy: true },
  updating: { tone: "amber", label: "Updating", busy: true },
  deleting: { tone: "red", label: "Deleting", busy: true },
  deleted: { tone: "slate", label: "Deleted" },
  failed: { tone: "red", label: "Failed" },
};

export const TRANSITIONAL: ReadonlySet<SatelliteState> = new Set(["creating", "stopping", "starting", "updating", "deleting"]);

export function StateBadge({ state }: { state: SatelliteState }) {
  const l = LOOK[state];
  return (
    <Badge tone={l.tone}>
      <span aria-hidden="true" className={`size-1.5 rounded-full bg-current ${l.busy ? "animate-pulse" : ""}`} />
      <span data-state={state}>{l.label}</span>
    </Badge>
  );
}

export function stateLabel(state: SatelliteState): string {
  return LOOK[state].label;
}

export const STATE_COLORS: Record<string, string> = {
  awake: "#10b981",
  asleep: "#6366f1",
  creating: "#f59e0b",
  starting: "#f59e0b",
  stopping: "#fbbf24",
  updating: "#f59e0b",
  deleting: "#ef4444",
  deleted: "#94a3b8",
  failed: "#dc2626",
};
