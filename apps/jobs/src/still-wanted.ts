// A job's late copy (its lock lost while Redis was away; its twin finished the work and the
// satellite moved on) must not act on the machine: the provider asks this before it stops one.
import type { Satellite } from "@satellites/db";
import type { State } from "@satellites/state";
import type { JobsContext } from "./context.ts";

/** Whether the satellite is still in `state` at the version the job read. */
export function stillIn(ctx: Pick<JobsContext, "db">, sat: Pick<Satellite, "id" | "version">, state: State): () => Promise<boolean> {
  return async () => (await ctx.db.satellite.count({ where: { id: sat.id, state, version: sat.version } })) === 1;
}
