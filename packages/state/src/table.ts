// The satellite state machine as data (ARCHITECTURE.md, "Satellite states").
// Each edge names the causes allowed to take it, so e.g. a proxy request can wake a satellite
// but never put one to sleep. Edges marked reconcile-only exist so the reconciler can record
// what really happened to an instance (stopped or started outside the product, a crash).
import type { EventCause, SatelliteState } from "@satellites/db";

export type State = SatelliteState;
export type Cause = EventCause;

export const STATES = ["creating", "awake", "stopping", "asleep", "starting", "updating", "deleting", "deleted", "failed"] as const satisfies readonly State[];
export const CAUSES = ["launch", "idle", "request", "manual", "schedule", "reconcile", "limits", "delete", "failure", "memory"] as const satisfies readonly Cause[];

/** "memory" records OOM kills on a satellite (memory-kills.ts): it never changes a state. */
const ANY: readonly Cause[] = CAUSES.filter((c) => c !== "memory");

export const TRANSITIONS: Readonly<Record<State, Readonly<Partial<Record<State, readonly Cause[]>>>>> = {
  creating: { awake: ANY, failed: ["failure", "reconcile"], deleting: ["delete"] },
  awake: {
    stopping: ["idle", "manual", "schedule", "limits"],
    updating: ["limits", "manual"],
    deleting: ["delete"],
    asleep: ["reconcile"], // stopped outside the product
    failed: ["failure", "reconcile"], // instance gone
  },
  // Back to awake when a stream appears before the provider stop call (never cut a build).
  stopping: { asleep: ANY, awake: ["idle", "request", "reconcile", "manual"], failed: ["failure", "reconcile"] },
  asleep: {
    starting: ["request", "manual", "schedule", "limits", "reconcile"],
    updating: ["limits", "manual"],
    deleting: ["delete"],
    awake: ["reconcile"],
    failed: ["reconcile"],
  },
  starting: { awake: ANY, failed: ["failure", "reconcile"], asleep: ["reconcile"] },
  updating: { asleep: ANY, awake: ANY, failed: ["failure", "reconcile"] },
  deleting: { deleted: ANY, failed: ["failure", "reconcile"] },
  deleted: {},
  // Failed stays failed until a person (or a schedule) retries or deletes it; the reconciler
  // only returns a given-up size change, machine intact, to asleep (docs/lifecycle.md). A retry
  // of a satellite whose launch failed before it had a machine launches it again (creating).
  failed: { starting: ["manual", "request", "schedule"], creating: ["manual", "schedule"], deleting: ["delete"], asleep: ["reconcile"] },
};

/** States that are a transition in progress; leaving one records the transition's duration. */
export const TRANSITIONAL: ReadonlySet<State> = new Set(["creating", "stopping", "starting", "updating", "deleting"]);

export function isAllowed(from: State, to: State, cause: Cause): boolean {
  return TRANSITIONS[from][to]?.includes(cause) ?? false;
}
