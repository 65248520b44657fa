import type { Cause, State } from "./table.ts";

/** A transition the table does not allow: a bug in the caller, never a lost race. */
export class IllegalTransitionError extends Error {
  override name = "IllegalTransitionError";
  constructor(
    readonly from: State,
    readonly to: State,
    readonly eventCause: Cause,
  ) {
    super(`illegal transition ${from} → ${to} (cause ${eventCause})`);
  }
}
