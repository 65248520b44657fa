// State changes are announced with Postgres NOTIFY inside the transition's transaction, so
// a listener hears of a change exactly when it is committed, and never of a lost race.
import { listenChannel, type ListenOptions } from "@satellites/db/listen";

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

export interface StateListener {
  close(): Promise<void>;
}

/**
 * Calls `onChange` for every committed state change. Reconnects with backoff; `onReconnect`
 * tells the caller that announcements may have been missed (drop caches, re-read).
 */
export function listenStateChanges(
  databaseUrl: string,
  onChange: (change: StateChange) => void,
  opts: ListenOptions = {},
): Promise<StateListener> {
  return listenChannel(databaseUrl, STATE_CHANNEL, (payload) => onChange(stateChangeOf(payload)), opts);
}

/** A state announcement's payload, as `transition` and `transitionMany` send it. */
export function stateChangeOf(payload: string): StateChange {
  return JSON.parse(payload) as StateChange;
}
