"use client";
// How a satellite state looks everywhere: one colour and one word per state; transitional
// states pulse so "something is happening" is visible at a glance.
import type { SatelliteState } from "@satellites/db/generated/enums";
import { Badge } from "./ui.tsx";

export type { SatelliteState };

const LOOK: Record<SatelliteState, { tone: Parameters<typeof Badge>[0]["tone"]; label: string; busy?: boolean }> = {
  creating: { tone: "sky", label: "Creating", busy: true },
  awake: { tone: "green", label: "Awake" },
  stopping: { tone: "amber", label: "Going to sleep", busy: true },
  asleep: { tone: "indigo", label: "Asleep" },
  starting: { tone: "amber", label: "Waking", busy: true },
  updating: { tone: "violet", label: "Updating", busy: true },
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

// Each transitional state its own hue (creating sky, waking amber, going to sleep orange,
// updating violet), so a timeline of short states can be told apart.
export const STATE_COLORS: Record<string, string> = {
  awake: "#10b981",
  asleep: "#6366f1",
  creating: "#0ea5e9",
  starting: "#f59e0b",
  stopping: "#f97316",
  updating: "#a855f7",
  deleting: "#ef4444",
  deleted: "#94a3b8",
  failed: "#dc2626",
};
