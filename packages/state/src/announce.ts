// State changes are announced with Postgres NOTIFY inside the transition's transaction, so
// a listener (StateWatcher) hears of a change exactly when it is committed, and never of a lost
// race.
import type { ListenOptions } from "@satellites/db/listen";

export type { ListenOptions };
import type { Cause, State } from "./table.ts";

export const STATE_CHANNEL = "satellite_state";

export interface StateChange {
  id: string;
  orgId: string;
  from: State | null;
  to: State;
  version: number;
  cause: Cause;
  at: string;
  /**
   * The satellite's address after the change, as committed (announcements from `transition`):
   * a waiter for `awake` can route from the announcement without reading the row again.
   */
  upstream?: string | null;
}


/** A state announcement's payload, as `transition` and `transitionMany` send it. */
export function stateChangeOf(payload: string): StateChange {
  return JSON.parse(payload) as StateChange;
}
